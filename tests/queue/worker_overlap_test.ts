/**
 * A worker with 8 slots or more keeps two round trips on their way, each for
 * half its slots, so the backend's time overlaps the handlers'. These cases
 * hold it to its limits: never more running than its slots, never more than two
 * round trips, and one at a time below 8 slots.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue } from "../../src/queue/mod.ts";
import type { FailRequest, FailResult, TakeRequest, TakeResult } from "../../src/queue/backend.ts";
import { quietWorker, sleep, waitFor } from "./_helpers.ts";
import {
  assertDrainRunsLateStep,
  chainStep,
  lateReportScenario,
  SlowReports,
  soonAfterFirstStep,
} from "./_slow_reports.ts";

/** A MemoryBackend whose take() can be observed and held back. */
class WatchedBackend extends MemoryBackend {
  inFlight = 0;
  mostInFlight = 0;
  /** Called with each request; a reply waits for the promise it answers. */
  hold: (request: TakeRequest) => Promise<void> = () => Promise.resolve();

  override async take(request: TakeRequest): Promise<TakeResult> {
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    try {
      const result = await super.take(request);
      await this.hold(request);
      return result;
    } finally {
      this.inFlight--;
    }
  }
}

Deno.test("a worker with 8 slots keeps two round trips on their way and never runs more than 8 jobs", async () => {
  const backend = new WatchedBackend();
  // Every reply is a little late, as over HTTP, so round trips overlap if the worker lets them.
  backend.hold = () => sleep(2);
  const queue = new Queue({ backend });
  let running = 0;
  let most = 0;
  const job = defineJob({
    name: "work",
    schema: v.number(),
    async handle() {
      running++;
      most = Math.max(most, running);
      await sleep(1);
      running--;
    },
  });
  await queue.dispatchMany(job, Array.from({ length: 200 }, (_, n) => n));
  const summary = await quietWorker(queue, { jobs: [job], concurrency: 8 }).drain();
  assert.equal(summary.completed, 200);
  assert.equal(backend.mostInFlight, 2);
  assert.ok(most <= 8, `at most 8 jobs ran at once, saw ${most}`);
});

Deno.test("a busy worker's reports reserve the slots they free on the same round trip: 400 instant jobs at 8 slots take about 100, two at once", async () => {
  const backend = new WatchedBackend();
  backend.hold = () => sleep(2);
  let takes = 0;
  let carryingBoth = 0;
  const take = backend.take.bind(backend);
  backend.take = (request) => {
    takes++;
    if (request.complete.length > 0 && request.reserve > 0) carryingBoth++;
    return take(request);
  };
  const queue = new Queue({ backend });
  const job = defineJob({ name: "work", schema: v.number(), handle() {} });
  await queue.dispatchMany(job, Array.from({ length: 400 }, (_, n) => n));
  const summary = await quietWorker(queue, { jobs: [job], concurrency: 8 }).drain();
  assert.equal(summary.completed, 400);
  // Half the slots per round trip: 100 at best. A report and a reservation of their
  // own for the same half would make it nearer 140.
  assert.ok(takes <= 110, `${takes} round trips`);
  assert.ok(carryingBoth >= 90, `${carryingBoth} of ${takes} carried reports and reserved`);
  assert.equal(backend.mostInFlight, 2);
});

Deno.test("a worker with fewer than 8 slots keeps one round trip on its way", async () => {
  const backend = new WatchedBackend();
  backend.hold = () => sleep(2);
  const queue = new Queue({ backend });
  const job = defineJob({ name: "work", schema: v.number(), handle: () => sleep(1) });
  await queue.dispatchMany(job, Array.from({ length: 50 }, (_, n) => n));
  const summary = await quietWorker(queue, { jobs: [job], concurrency: 4 }).drain();
  assert.equal(summary.completed, 50);
  assert.equal(backend.mostInFlight, 1);
});

Deno.test("drain() does not end while the next step of a chain, made by a report that landed after the last reservation looked, is due", async () => {
  await assertDrainRunsLateStep(new MemoryBackend());
});

Deno.test("a started worker runs the next step of a chain, made by a report that landed after its reservation looked, without waiting for its next poll", async () => {
  const { queue, jobs, ran, freeSlots } = await lateReportScenario(new MemoryBackend());
  // Polls that find nothing wait 2 s and more: "second" must not wait for one.
  const worker = quietWorker(queue, { jobs, concurrency: 8, minPollInterval: 2_000 });
  await worker.start();
  try {
    await soonAfterFirstStep(ran);
    freeSlots();
    await waitFor(() => ran.length === 2, 1_000);
  } finally {
    await worker.stop();
  }
  assert.deepEqual(ran, ["first", "second"]);
});

Deno.test("drain({ maxJobs }) runs a chain's next step when the report that made it failed once and landed, with no slot of the budget left to it, after the last reservation looked", async () => {
  const slow = new SlowReports(new MemoryBackend());
  slow.reportDelay = 5;
  slow.failNextReport = true;
  slow.holdReplies = true;
  const queue = new Queue({ backend: slow.backend });
  const ran: string[] = [];
  const step = chainStep(ran);
  await queue.chain([[step, "first"], [step, "second"]]);
  const summary = await quietWorker(queue, { jobs: [step], concurrency: 8 }).drain({ maxJobs: 2 });
  assert.deepEqual(ran, ["first", "second"]);
  assert.equal(summary.stoppedBy, "maxJobs");
  assert.equal((await queue.counts()).ready, 0);
});

/**
 * A MemoryBackend whose replies come late by a random 0-3 ms, where up to
 * `failures` takes fail before they reach it (reports, unless `failReports`
 * is unset, and reservations with `failReservations`), and that records the
 * most jobs it had leased at once whose handlers had not returned
 * (`returned()`): those hold a slot each.
 */
class Unsteady extends MemoryBackend {
  mostHeld = 0;
  failures = 4;
  failReports = true;
  failReservations = false;
  /** The chance that a take that may fail does. */
  failChance = 0.1;
  /** When set, the reservation sent alone (no report with it) of this number fails. */
  failReservationAt: number | undefined;
  #alone = 0;
  #held = new Set<string>();
  #random: () => number;

  constructor(random: () => number) {
    super();
    this.#random = random;
  }

  /** Called by a handler as it returns: its job no longer holds a slot. */
  returned(id: string): void {
    this.#held.delete(id);
  }

  override async take(request: TakeRequest): Promise<TakeResult> {
    if (request.complete.length === 0 && ++this.#alone === this.failReservationAt) {
      throw new Error("connection refused");
    }
    const mayFail = request.complete.length > 0 ? this.failReports : this.failReservations;
    if (mayFail && this.failures > 0 && this.#random() < this.failChance) {
      this.failures--;
      throw new Error("connection refused");
    }
    const result = await super.take(request);
    for (const job of result.jobs) this.#held.add(job.id);
    this.mostHeld = Math.max(this.mostHeld, this.#held.size);
    await sleep(Math.floor(this.#random() * 4));
    return result;
  }

  override async fail(request: FailRequest): Promise<FailResult> {
    // A job handed back before it started holds no slot once back in the queue.
    this.#held.delete(request.id);
    return await super.fail(request);
  }
}

/** A seeded pseudo-random source (mulberry32), so a failing run can be replayed. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A job whose handler takes 0-3 ms, and how many of it ran, and ran at once. */
function countedJob(random: () => number, backend: Unsteady) {
  const seen = { running: 0, most: 0, ran: 0 };
  const job = defineJob({
    name: "work",
    schema: v.number(),
    async handle(_n, ctx) {
      seen.running++;
      seen.ran++;
      seen.most = Math.max(seen.most, seen.running);
      await sleep(Math.floor(random() * 4));
      seen.running--;
      backend.returned(ctx.jobId);
    },
  });
  return { job, seen };
}

for (const seed of [1, 2, 3]) {
  Deno.test(`with late replies and failing reports (seed ${seed}), 8 slots never hold more than 8 jobs (leased and not returned) and drain({ maxJobs }) starts exactly that many`, async () => {
    const random = seeded(seed);
    const backend = new Unsteady(random);
    // Some 36 takes carry reports in these 120 jobs: at 0.25 each, one fails all but surely.
    backend.failChance = 0.25;
    const queue = new Queue({ backend });
    const { job, seen } = countedJob(random, backend);
    await queue.dispatchMany(job, Array.from({ length: 120 }, (_, n) => n));
    const worker = quietWorker(queue, { jobs: [job], concurrency: 8 });
    const first = await worker.drain({ maxJobs: 50 });
    assert.equal(first.processed, 50);
    assert.equal(seen.ran, 50);
    assert.equal((await queue.counts()).ready, 70);
    const rest = await worker.drain();
    assert.equal(rest.processed, 70);
    assert.ok(backend.failures < 4, "some reports failed");
    assert.ok(seen.most <= 8, `at most 8 ran at once, saw ${seen.most}`);
    assert.ok(backend.mostHeld <= 8, `at most 8 held at once, saw ${backend.mostHeld}`);
    const counts = await queue.counts();
    assert.deepEqual([counts.ready, counts.active, seen.ran], [0, 0, 120]);
  });

  Deno.test(`drain() that meets a failing reservation (seed ${seed}) rejects, leaving no job leased and none lost`, async () => {
    const random = seeded(seed);
    const backend = new Unsteady(random);
    backend.failReports = false;
    // Most reservations ride on reports; of those sent alone (15 or more in 400 jobs),
    // one past the first two fails.
    backend.failReservationAt = 2 + seed;
    const queue = new Queue({ backend });
    const { job, seen } = countedJob(random, backend);
    await queue.dispatchMany(job, Array.from({ length: 400 }, (_, n) => n));
    const worker = quietWorker(queue, { jobs: [job], concurrency: 8 });
    await assert.rejects(worker.drain(), /connection refused/);
    const counts = await queue.counts();
    assert.ok(seen.most <= 8, `at most 8 ran at once, saw ${seen.most}`);
    assert.equal(counts.active, 0, "no job left leased");
    assert.equal(counts.ready + seen.ran, 400, "every job not run is back in the queue");
  });

  Deno.test(`stop() with two round trips on their way and failing takes (seed ${seed}) hands back every job reserved and not started`, async () => {
    const random = seeded(seed);
    const backend = new Unsteady(random);
    backend.failReservations = true;
    const queue = new Queue({ backend });
    const { job, seen } = countedJob(random, backend);
    await queue.dispatchMany(job, Array.from({ length: 400 }, (_, n) => n));
    const worker = quietWorker(queue, { jobs: [job], concurrency: 8, maxPollInterval: 20 });
    await worker.start();
    await waitFor(() => seen.ran >= 40 + seed * 10, 10_000);
    await worker.stop();
    const ranBeforeStop = seen.ran;
    const counts = await queue.counts();
    assert.ok(seen.most <= 8, `at most 8 ran at once, saw ${seen.most}`);
    assert.ok(backend.mostHeld <= 8, `at most 8 held at once, saw ${backend.mostHeld}`);
    assert.equal(counts.active, 0, "no job left leased");
    assert.equal(counts.ready + ranBeforeStop, 400, "every job not run is back in the queue");
  });
}

Deno.test("drain() with 8 slots on two queues serves the second only once the first has nothing due", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const started: string[] = [];
  const first = defineJob({
    name: "first",
    queue: "a",
    schema: v.number(),
    handle: () => void started.push("a"),
  });
  const second = defineJob({
    name: "second",
    queue: "b",
    schema: v.number(),
    handle: () => void started.push("b"),
  });
  await queue.dispatchMany(first, Array.from({ length: 20 }, (_, n) => n));
  await queue.dispatchMany(second, Array.from({ length: 20 }, (_, n) => n));
  const worker = quietWorker(queue, { jobs: [first, second], queues: ["a", "b"], concurrency: 8 });
  const summary = await worker.drain();
  assert.equal(summary.completed, 40);
  assert.deepEqual(started, [...Array(20).fill("a"), ...Array(20).fill("b")]);
});
