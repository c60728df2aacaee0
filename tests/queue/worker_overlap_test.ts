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
import type { TakeRequest, TakeResult } from "../../src/queue/backend.ts";
import { quietWorker, sleep, waitFor } from "./_helpers.ts";
import { SlowReports, soonAfterFirstStep, stubbornAndChain } from "./_slow_reports.ts";

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
  const slow = new SlowReports(new MemoryBackend());
  slow.reportDelay = 100;
  const queue = new Queue({ backend: slow.backend });
  const ran: string[] = [];
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  const jobs = await stubbornAndChain(queue, gate, ran);
  const opened = soonAfterFirstStep(ran).then(() => {
    // The slots free while the report is on its way: the reservation sent then looks
    // before the report makes "second" due, and its reply comes back after it.
    slow.holdReplies = true;
    open();
  });
  const summary = await quietWorker(queue, { jobs, concurrency: 8 }).drain();
  await opened;
  assert.deepEqual(ran, ["first", "second"]);
  assert.equal(summary.completed, 2);
  assert.equal((await queue.counts()).ready, 0);
});

Deno.test("a started worker runs the next step of a chain, made by a report that landed after its reservation looked, without waiting for its next poll", async () => {
  const slow = new SlowReports(new MemoryBackend());
  slow.reportDelay = 100;
  const queue = new Queue({ backend: slow.backend });
  const ran: string[] = [];
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  const jobs = await stubbornAndChain(queue, gate, ran);
  // Polls that find nothing wait 2 s and more: "second" must not wait for one.
  const worker = quietWorker(queue, { jobs, concurrency: 8, minPollInterval: 2_000 });
  await worker.start();
  try {
    await soonAfterFirstStep(ran);
    slow.holdReplies = true;
    open();
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
  const step = defineJob({
    name: "step",
    schema: v.string(),
    async handle(name) {
      if (name === "first") await sleep(10);
      ran.push(name);
    },
  });
  await queue.chain([[step, "first"], [step, "second"]]);
  const summary = await quietWorker(queue, { jobs: [step], concurrency: 8 }).drain({ maxJobs: 2 });
  assert.deepEqual(ran, ["first", "second"]);
  assert.equal(summary.stoppedBy, "maxJobs");
  assert.equal((await queue.counts()).ready, 0);
});
