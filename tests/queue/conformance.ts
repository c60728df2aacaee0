/**
 * The behaviour every queue backend must have, written once and run against
 * MemoryBackend and RedisBackend (through the real HTTP gateway).
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import {
  defineJob,
  Queue,
  rateLimited,
  systemClock,
  withoutOverlapping,
} from "../../src/queue/mod.ts";
import {
  JobTimeoutError,
  JobValidationError,
  PayloadTooLargeError,
  WorkerStoppedError,
} from "../../src/public_errors.ts";
import type { QueueBackend, TakeRequest } from "../../src/queue/backend_mod.ts";
import { FakeClock, quietWorker, waitFor } from "./_helpers.ts";
import { FakeClock as ManualClock } from "../scheduler/_fake_clock.ts";

/** Creates a fresh, empty backend for one case. */
export type BackendFactory = () => QueueBackend | Promise<QueueBackend>;

interface Setup {
  backend: QueueBackend;
  clock: FakeClock;
  queue: Queue;
  /** Whether the queue keeps one order (a partitioned queue keeps it per partition). */
  ordered: boolean;
}

/**
 * Cases a partitioned queue answers otherwise, by design (docs/QUEUES.md,
 * "Partitions"): order across the whole queue and retention counts hold per
 * partition. They run as ignored steps there; tests/queue/partitions_*_test.ts
 * check what a partitioned queue does instead.
 */
const ONE_PARTITION = new Set([
  "a worker takes higher priority bands first and keeps FIFO order within a band",
  "the failed store keeps at most retain.failed.count jobs, dropping the oldest with all their data",
]);

/** How the suite runs. */
export interface ConformanceOptions {
  /** The backend partitions the suite's queues: cases in `ONE_PARTITION` are ignored. */
  partitioned?: boolean;
}

type Case = [name: string, fn: (setup: Setup, make: BackendFactory) => Promise<void>];

const payloadSchema = v.object({ n: v.number() });

function recorder(name = "record", extra: { maxRetries?: number; maxStalls?: number } = {}) {
  const seen: number[] = [];
  const job = defineJob({
    name,
    schema: payloadSchema,
    handle: (payload) => void seen.push(payload.n),
    ...extra,
  });
  return { job, seen };
}

const cases: Case[] = [
  [
    "dispatch() refuses a payload failing the schema, listing every failing path, and enqueues nothing",
    async ({ queue }) => {
      const job = defineJob({
        name: "signup",
        schema: v.object({
          email: v.pipe(v.string(), v.email()),
          age: v.number(),
          tags: v.array(v.string()),
        }),
        handle() {},
      });
      const error = await queue.dispatch(job, { email: "nope", age: "x", tags: ["ok", 3] } as never)
        .then(() => null, (e) => e);
      assert.ok(error instanceof JobValidationError);
      assert.equal(error.code, "QUEUE_INVALID_PAYLOAD");
      assert.deepEqual(error.issues.map((issue) => issue.path).sort(), ["age", "email", "tags.1"]);
      assert.deepEqual(await queue.counts("default"), {
        ready: 0,
        delayed: 0,
        active: 0,
        failed: 0,
        completed: 0,
        paused: false,
      });
    },
  ],
  [
    "dispatch() refuses payloads JSON cannot carry: dates, functions, bigints, NaN, cycles",
    async ({ queue }) => {
      const job = defineJob({ name: "any", schema: v.any(), handle() {} });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const hostile: [unknown, string][] = [
        [{ when: new Date() }, "when"],
        [{ fn: () => 1 }, "fn"],
        [{ big: 10n }, "big"],
        [{ list: [1, NaN] }, "list.1"],
        [cyclic, "self"],
        [new Map(), ""],
        [undefined, ""],
      ];
      for (const [payload, path] of hostile) {
        const error = await queue.dispatch(job, payload).then(() => null, (e) => e);
        assert.ok(error instanceof JobValidationError, `accepted ${String(payload)}`);
        assert.equal(error.issues[0].path, path);
      }
      assert.equal((await queue.counts()).ready, 0);
    },
  ],
  [
    "dispatch() and dispatchMany() refuse a payload over maxPayloadBytes (default 1 MiB) with a typed error, enqueueing nothing",
    async ({ backend, queue }) => {
      const job = defineJob({ name: "blob", schema: v.object({ text: v.string() }), handle() {} });
      const huge = { text: "x".repeat(12_000_000) }; // 12 MB
      const error = await queue.dispatch(job, huge).then(() => null, (e) => e);
      assert.ok(error instanceof PayloadTooLargeError, `got ${error}`);
      assert.equal(error.code, "QUEUE_PAYLOAD_TOO_LARGE");
      assert.equal(error.limit, 1_048_576);
      assert.equal(error.bytes, 12_000_011);
      assert.equal(error.job, "blob");
      const fresh = await queue.dispatchMany(job, [{ text: "ok" }, huge]).then(
        () => null,
        (e) => e,
      );
      assert.ok(fresh instanceof PayloadTooLargeError);
      assert.equal(fresh.index, 1);
      assert.equal((await queue.counts()).ready, 0, "nothing of the refused batch is kept");

      // A custom limit counts UTF-8 bytes of the payload's JSON: "é" is two bytes.
      const small = new Queue({ backend, maxPayloadBytes: 100 });
      const exact = { text: "é".repeat(44) + "x" }; // {"text":"…"} is 11 + 88 + 1 = 100 bytes
      assert.equal((await small.dispatch(job, exact)).created, true);
      const over = await small.dispatch(job, { text: "é".repeat(45) }).then(
        () => null,
        (e) => e,
      );
      assert.ok(over instanceof PayloadTooLargeError);
      assert.deepEqual([over.bytes, over.limit], [101, 100]);
      assert.equal((await queue.counts()).ready, 1);
      assert.throws(() => new Queue({ backend, maxPayloadBytes: 0 }), RangeError);
    },
  ],
  [
    "a worker takes higher priority bands first and keeps FIFO order within a band",
    async ({ queue }) => {
      const { job, seen } = recorder();
      await queue.dispatch(job, { n: 1 }, { priority: "low" });
      await queue.dispatch(job, { n: 2 });
      await queue.dispatch(job, { n: 3 }, { priority: "high" });
      await queue.dispatch(job, { n: 4 });
      await queue.dispatch(job, { n: 5 }, { priority: "high" });
      await quietWorker(queue, { jobs: [job], concurrency: 1 }).drain();
      assert.deepEqual(seen, [3, 5, 2, 4, 1]);
    },
  ],
  [
    "dispatch() with a delay or a time keeps the job out of ready until it is due",
    async ({ queue, clock }) => {
      const { job, seen } = recorder();
      await queue.dispatch(job, { n: 1 }, { delay: 60_000 });
      await queue.dispatch(job, { n: 2 }, { at: new Date(clock.time + 30_000) });
      assert.deepEqual(await queue.counts(), {
        ready: 0,
        delayed: 2,
        active: 0,
        failed: 0,
        completed: 0,
        paused: false,
      });
      const worker = quietWorker(queue, { jobs: [job] });
      assert.equal((await worker.drain()).processed, 0);
      clock.advance(30_000);
      assert.equal((await worker.drain()).completed, 1);
      clock.advance(30_000);
      assert.equal((await worker.drain()).completed, 1);
      assert.deepEqual(seen, [2, 1]);
    },
  ],
  ["a replayed dispatch with the same jobId enqueues nothing new", async ({ queue }) => {
    const { job, seen } = recorder();
    const first = await queue.dispatch(job, { n: 1 }, { jobId: "order-7" });
    const again = await queue.dispatch(job, { n: 1 }, { jobId: "order-7" });
    assert.deepEqual(first, { id: "order-7", created: true });
    assert.deepEqual(again, { id: "order-7", created: false });
    assert.equal((await queue.counts()).ready, 1);
    await quietWorker(queue, { jobs: [job] }).drain();
    assert.deepEqual(seen, [1]);
  }],
  [
    "uniqueKey returns the pending job's id instead of enqueueing, and frees up on completion",
    async ({ queue }) => {
      const { job, seen } = recorder();
      const first = await queue.dispatch(job, { n: 1 }, { uniqueKey: "user-9" });
      const second = await queue.dispatch(job, { n: 2 }, { uniqueKey: "user-9", delay: 5 });
      assert.equal(second.id, first.id);
      assert.equal(second.created, false);
      await quietWorker(queue, { jobs: [job] }).drain();
      const third = await queue.dispatch(job, { n: 3 }, { uniqueKey: "user-9" });
      assert.equal(third.created, true);
      assert.notEqual(third.id, first.id);
      await quietWorker(queue, { jobs: [job] }).drain();
      assert.deepEqual(seen, [1, 3]);
    },
  ],
  [
    "dispatchMany() enqueues thousands in order across batches, and nothing if one payload is invalid",
    async ({ queue, ordered }) => {
      const { job, seen } = recorder();
      const payloads = Array.from({ length: 2_500 }, (_, n) => ({ n }));
      const bad = [
        ...payloads.slice(0, 1_500),
        { n: "x" as unknown as number },
        ...payloads.slice(1_500),
      ];
      const error = await queue.dispatchMany(job, bad).then(() => null, (e) => e);
      assert.ok(error instanceof JobValidationError);
      assert.deepEqual(error.issues.map((issue) => issue.path), ["1500.n"]);
      assert.equal((await queue.counts()).ready, 0);
      const results = await queue.dispatchMany(job, payloads, { jobId: (p) => `bulk-${p.n}` });
      assert.equal(results.length, 2_500);
      assert.deepEqual(results[2_499], { id: "bulk-2499", created: true });
      const replay = await queue.dispatchMany(job, payloads.slice(0, 10), {
        jobId: (p) => `bulk-${p.n}`,
      });
      assert.ok(replay.every((result) => !result.created));
      assert.equal((await queue.counts()).ready, 2_500);
      await quietWorker(queue, { jobs: [job], concurrency: 50 }).drain();
      assert.equal(seen.length, 2_500);
      if (ordered) assert.deepEqual(seen.slice(0, 5), [0, 1, 2, 3, 4]);
      assert.equal((await queue.counts()).completed, 2_500);
    },
  ],
  [
    "a failing job is retried after its backoff, with the attempt number in ctx",
    async ({ queue, clock }) => {
      const attempts: number[] = [];
      const job = defineJob({
        name: "flaky",
        schema: v.null(),
        maxRetries: 3,
        backoff: { type: "exponential", delay: 1_000 },
        handle(_payload, ctx) {
          attempts.push(ctx.attempt);
          if (ctx.attempt < 3) throw new Error(`boom ${ctx.attempt}`);
        },
      });
      await queue.dispatch(job, null);
      const worker = quietWorker(queue, { jobs: [job] });
      const retryAts: number[] = [];
      worker.on("retrying", (event) => retryAts.push(event.retryAt - clock.time));
      assert.equal((await worker.drain()).retried, 1);
      assert.equal((await queue.counts()).delayed, 1);
      clock.advance(999);
      assert.equal((await worker.drain()).processed, 0);
      clock.advance(1);
      assert.equal((await worker.drain()).retried, 1);
      clock.advance(2_000);
      assert.equal((await worker.drain()).completed, 1);
      assert.deepEqual(attempts, [1, 2, 3]);
      assert.deepEqual(retryAts, [1_000, 2_000]);
    },
  ],
  [
    "after maxRetries a job is dead-lettered with every attempt's error and stack",
    async ({ queue }) => {
      const job = defineJob({
        name: "doomed",
        schema: v.object({ n: v.number() }),
        maxRetries: 2,
        backoff: { type: "fixed", delay: 0 },
        handle(_payload, ctx) {
          throw new TypeError(`attempt ${ctx.attempt} failed`);
        },
      });
      const { id } = await queue.dispatch(job, { n: 1 });
      const worker = quietWorker(queue, { jobs: [job] });
      const failed: string[] = [];
      worker.on("failed", (event) => failed.push(event.job.id));
      const summary = await worker.drain();
      assert.equal(summary.retried, 2);
      assert.equal(summary.failed, 1);
      assert.deepEqual(failed, [id]);
      const [dead] = await queue.failed.list();
      assert.equal(dead.id, id);
      assert.deepEqual(dead.payload, { n: 1 });
      assert.equal(dead.attempts, 3);
      assert.deepEqual(dead.errors.map((e) => e.message), [
        "attempt 1 failed",
        "attempt 2 failed",
        "attempt 3 failed",
      ]);
      assert.ok(dead.errors.every((e) => e.name === "TypeError" && e.stack?.includes("attempt")));
      assert.deepEqual(await queue.counts(), {
        ready: 0,
        delayed: 0,
        active: 0,
        failed: 1,
        completed: 0,
        paused: false,
      });
    },
  ],
  [
    "unknown job names and payloads that no longer validate go to the failed store; the worker carries on",
    async ({ queue }) => {
      const oldShape = defineJob({
        name: "resize",
        schema: v.object({ url: v.string() }),
        handle() {},
      });
      const newShape = defineJob({
        name: "resize",
        schema: v.object({ src: v.string() }),
        handle() {},
      });
      const retired = defineJob({ name: "retired", schema: v.null(), handle() {} });
      const { job: ok, seen } = recorder();
      await queue.dispatch(oldShape, { url: "a.png" });
      await queue.dispatch(retired, null);
      await queue.dispatch(ok, { n: 1 });
      const summary = await quietWorker(queue, { jobs: [newShape, ok] }).drain();
      assert.equal(summary.completed, 1);
      assert.equal(summary.failed, 2);
      assert.deepEqual(seen, [1]);
      const reasons = (await queue.failed.list()).map((job) => `${job.name}: ${job.errors[0].name}`)
        .sort();
      assert.deepEqual(reasons, ["resize: JobValidationError", "retired: UnknownJobError"]);
    },
  ],
  ["a timeout aborts ctx.signal and fails the attempt with a timeout error", async ({ queue }) => {
    let aborted: unknown;
    const job = defineJob({
      name: "slow",
      schema: v.null(),
      timeout: 30,
      maxRetries: 0,
      async handle(_payload, ctx) {
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
        aborted = ctx.signal.reason;
      },
    });
    await queue.dispatch(job, null);
    const summary = await quietWorker(queue, { jobs: [job] }).drain();
    assert.equal(summary.failed, 1);
    assert.ok(aborted instanceof JobTimeoutError);
    const [dead] = await queue.failed.list();
    assert.equal(dead.errors[0].name, "JobTimeoutError");
    assert.match(dead.errors[0].message, /timed out after 30 ms/);
  }],
  [
    "failed.retry() and retryAll() requeue with a fresh budget; forget() and flush() delete",
    async ({ queue }) => {
      let fail = true;
      const job = defineJob({
        name: "sometimes",
        schema: v.number(),
        maxRetries: 0,
        handle() {
          if (fail) throw new Error("no");
        },
      });
      const ids = [];
      for (let n = 0; n < 5; n++) ids.push((await queue.dispatch(job, n)).id);
      const worker = quietWorker(queue, { jobs: [job] });
      await worker.drain();
      assert.equal((await queue.failed.list()).length, 5);
      assert.deepEqual((await queue.failed.list({ limit: 2, offset: 1 })).length, 2);
      fail = false;
      assert.equal(await queue.failed.retry(ids[0]), true);
      assert.equal(await queue.failed.retry(ids[0]), false);
      assert.equal(await queue.failed.forget(ids[1]), true);
      assert.equal(await queue.failed.forget(ids[1]), false);
      assert.equal(await queue.failed.retryAll("default"), 3);
      assert.equal((await worker.drain()).completed, 4);
      fail = true;
      await queue.dispatch(job, 9);
      await worker.drain();
      assert.equal(await queue.failed.flush(), 1);
      assert.deepEqual(await queue.counts(), {
        ready: 0,
        delayed: 0,
        active: 0,
        failed: 0,
        completed: 4,
        paused: false,
      });
    },
  ],
  [
    "concurrent retry() and forget() of one failed job: exactly one of them wins",
    async ({ queue }) => {
      const job = defineJob({
        name: "bad",
        schema: v.number(),
        maxRetries: 0,
        handle() {
          throw new Error("no");
        },
      });
      const ids = [];
      for (let n = 0; n < 10; n++) ids.push((await queue.dispatch(job, n)).id);
      await quietWorker(queue, { jobs: [job] }).drain();
      const outcomes = await Promise.all(
        ids.map((id) =>
          Promise.all([queue.failed.retry(id, "default"), queue.failed.forget(id, "default")])
        ),
      );
      const retried = outcomes.filter(([r]) => r).length;
      for (const [r, f] of outcomes) assert.equal(r !== f, true);
      const counts = await queue.counts();
      assert.equal(counts.failed, 0);
      assert.equal(counts.ready, retried);
    },
  ],
  ["a worker never runs more than its concurrency at once", async ({ queue }) => {
    let running = 0;
    let peak = 0;
    let started = 0;
    // A barrier instead of a sleep: each handler holds its slot until three run at once
    // (or the last jobs have started), so the worker is always tempted past its limit.
    let waiting: (() => void)[] = [];
    const job = defineJob({
      name: "busy",
      schema: v.number(),
      async handle() {
        peak = Math.max(peak, ++running);
        started++;
        const gate = new Promise<void>((resolve) => waiting.push(resolve));
        if (running >= 3 || started === 20) {
          for (const open of waiting) open();
          waiting = [];
        }
        await gate;
        running--;
      },
    });
    await queue.dispatchMany(job, Array.from({ length: 20 }, (_, n) => n));
    const summary = await quietWorker(queue, { jobs: [job], concurrency: 3 }).drain();
    assert.equal(summary.completed, 20);
    assert.equal(peak, 3);
  }],
  ["a worker takes its queues in the listed order", async ({ queue, ordered }) => {
    const order: string[] = [];
    const mail = defineJob({
      name: "mail",
      queue: "mail",
      schema: v.string(),
      handle: (p) => void order.push(p),
    });
    const other = defineJob({
      name: "other",
      schema: v.string(),
      handle: (p) => void order.push(p),
    });
    await queue.dispatch(other, "d1");
    await queue.dispatch(mail, "m1");
    await queue.dispatch(other, "d2");
    await queue.dispatch(mail, "m2");
    await quietWorker(queue, { jobs: [mail, other], queues: ["mail", "default"] }).drain();
    // A partitioned queue keeps its own order per partition only.
    const within = (jobs: string[]) => (ordered ? jobs : [...jobs].sort());
    assert.deepEqual([...within(order.slice(0, 2)), ...within(order.slice(2))], [
      "m1",
      "m2",
      "d1",
      "d2",
    ]);
  }],
  [
    "an expired lease serves the job again as a stall, costing no retry, and the stale token can do nothing",
    async ({ backend, queue, clock }) => {
      const { job, seen } = recorder("record", { maxRetries: 0 });
      const { id } = await queue.dispatch(job, { n: 1 });
      const stale = await backend.take({
        queue: "default",
        now: clock.time,
        complete: [],
        reserve: 1,
        sweep: true, // every partition of a partitioned queue
        leaseDuration: 60_000,
        token: "t-stale",
      });
      assert.deepEqual(stale.jobs.map((j) => j.id), [id]);
      assert.equal((await queue.counts()).active, 1);
      assert.equal((await quietWorker(queue, { jobs: [job] }).drain()).processed, 0);
      await endLease(backend, id, "t-stale");
      const worker = quietWorker(queue, { jobs: [job] });
      const stalled: unknown[] = [];
      worker.on("stalled", (event) => stalled.push(event));
      const ran: { attempts: number; stalls: number; errors: number }[] = [];
      worker.on("completed", ({ job }) => {
        ran.push({ attempts: job.attempts, stalls: job.stalls, errors: job.errors.length });
      });
      const summary = await worker.drain();
      assert.equal(summary.completed, 1);
      assert.equal(summary.failed, 0);
      assert.deepEqual(stalled, [{ jobId: id, queue: "default", failed: false }]);
      assert.deepEqual(ran, [{ attempts: 2, stalls: 1, errors: 0 }]);
      assert.deepEqual(seen, [1]);
      const late = await backend.take({
        queue: "default",
        now: clock.time,
        complete: [{ id, token: "t-stale" }],
        reserve: 0,
        leaseDuration: 1_000,
        token: "t-late",
      });
      assert.deepEqual(late.lost, [id]);
      assert.equal(
        await backend.fail({
          queue: "default",
          id,
          token: "t-stale",
          now: clock.time,
          outcome: "dead",
          runAt: 0,
        }),
        "lost",
      );
      assert.deepEqual(await queue.counts(), {
        ready: 0,
        delayed: 0,
        active: 0,
        failed: 0,
        completed: 1,
        paused: false,
      });
    },
  ],
  [
    "a job that stalls more than maxStalls times goes to the failed store as stalled too many times",
    async ({ backend, queue, clock }) => {
      // Plenty of retries: stalls must not spend them, and only stalls count here.
      const { job } = recorder("record", { maxRetries: 5 });
      const { id } = await queue.dispatch(job, { n: 1 });
      const take = (token: string) =>
        backend.take({
          queue: "default",
          now: clock.time,
          complete: [],
          reserve: 1,
          sweep: true, // every partition of a partitioned queue
          leaseDuration: 60_000,
          token,
        });
      assert.equal((await take("a")).jobs.length, 1);
      await endLease(backend, id, "a");
      const second = await take("b"); // stall 1 of the default 1 allowed: served again
      assert.deepEqual(second.stalled, [id]);
      assert.deepEqual(second.stalledOut, []);
      assert.equal(second.jobs[0]?.stalls, 1);
      assert.deepEqual(second.jobs[0]?.errors, []);
      await endLease(backend, id, "b");
      const last = await take("c"); // stall 2: more than 1
      assert.deepEqual(last.stalled, [id]);
      assert.deepEqual(last.stalledOut, [id]);
      assert.equal(last.jobs.length, 0);
      const [dead] = await queue.failed.list();
      assert.equal(dead.id, id);
      assert.equal(dead.stalls, 2);
      assert.deepEqual(dead.errors.map((e) => e.name), ["JobStalledError"]);
      assert.equal(
        dead.errors[0].message,
        "The job stalled too many times: its lease expired 2 times before it finished (maxStalls 1)",
      );
      assert.equal((await queue.counts()).failed, 1);
    },
  ],
  [
    "maxStalls comes from the job when it sets one, else from the worker",
    async ({ backend, queue, clock }) => {
      const strict = defineJob({ name: "strict", schema: v.number(), maxStalls: 0, handle() {} });
      const lenient = defineJob({ name: "lenient", schema: v.number(), handle() {} });
      const a = await queue.dispatch(strict, 1);
      const b = await queue.dispatch(lenient, 2);
      const stalledOut: string[] = [];
      for (let round = 0; round < 4; round++) {
        const taken = await backend.take({
          queue: "default",
          now: clock.time,
          complete: [],
          reserve: 2,
          sweep: true, // every partition of a partitioned queue
          leaseDuration: 60_000,
          token: `r${round}`,
          maxStalls: 2, // the worker's setting
        });
        stalledOut.push(...taken.stalledOut);
        for (const job of taken.jobs) await endLease(backend, job.id, `r${round}`);
      }
      // strict went at its first stall; lenient survived two and went at its third.
      assert.deepEqual(stalledOut, [a.id, b.id]);
      const dead = await queue.failed.list();
      assert.deepEqual(
        dead.map((job) => [job.name, job.stalls]).sort(),
        [["lenient", 3], ["strict", 1]],
      );
    },
  ],
  [
    "a replayed enqueue or fail answers what the first call answered; another caller's duplicate does not",
    async ({ backend, clock }) => {
      const newJob = (id: string, dispatchToken: string) => ({
        id,
        name: "record",
        queue: "default",
        payload: '{"n":1}',
        priority: "normal" as const,
        maxRetries: 3,
        createdAt: clock.time,
        runAt: clock.time,
        uniqueKey: id, // its own id: the same partition on a partitioned queue
        dispatchToken,
      });
      const batch = [newJob("a", "call-1"), newJob("b", "call-1"), newJob("a", "call-1")];
      const first = await backend.enqueue("default", batch, clock.time);
      const replay = await backend.enqueue("default", batch, clock.time);
      const other = await backend.enqueue("default", [newJob("a", "call-2")], clock.time);
      const expected = [{ id: "a", created: true }, { id: "b", created: true }, {
        id: "a",
        created: false,
      }];
      assert.deepEqual(first, expected);
      assert.deepEqual(replay, expected);
      assert.deepEqual(other, [{ id: "a", created: false }]);
      assert.equal((await backend.counts("default")).ready, 2);

      const taken = await backend.take({
        queue: "default",
        now: clock.time,
        complete: [],
        reserve: 2,
        sweep: true, // every partition of a partitioned queue
        leaseDuration: 60_000,
        token: "lease",
      });
      assert.equal(taken.jobs.length, 2);
      const fail = (id: string, outcome: "retry" | "dead", token = "lease") =>
        backend.fail({ queue: "default", id, token, now: clock.time, outcome, runAt: clock.time });
      assert.equal(await fail("a", "retry"), "retried");
      assert.equal(await fail("a", "retry"), "retried");
      assert.equal(await fail("b", "dead"), "failed");
      assert.equal(await fail("b", "dead"), "failed");
      assert.equal(await fail("a", "retry", "someone-else"), "lost");
      assert.deepEqual(await backend.counts("default"), {
        ready: 1,
        delayed: 0,
        active: 0,
        failed: 1,
        completed: 0,
        paused: false,
      });
    },
  ],
  [
    "ctx.progress() is stored on the job, and queue.job() reads state, attempts and progress",
    async ({ backend, queue }) => {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const job = defineJob({
        name: "report",
        schema: v.object({ n: v.number() }),
        async handle(_payload, ctx) {
          ctx.progress(10);
          ctx.progress(40); // replaces 10 if that write is still in flight
          await gate;
        },
      });
      const { id } = await queue.dispatch(job, { n: 7 });
      const ready = await queue.job(id);
      assert.equal(ready?.state, "waiting");
      assert.equal(ready?.progress, null);
      assert.deepEqual(ready?.payload, { n: 7 });
      const worker = quietWorker(queue, { jobs: [job] });
      const heard: number[] = [];
      worker.on("progress", (event) => heard.push(event.value));
      const draining = worker.drain();
      await waitFor(async () => (await queue.job(id, "default"))?.progress === 40);
      const running = await queue.job(id, "default");
      assert.equal(running?.state, "active");
      assert.equal(running?.attempts, 1);
      assert.equal(running?.stalls, 0);
      assert.equal(
        await backend.progress("default", { id, token: "not-the-lease" }, 99),
        false,
      );
      assert.equal((await queue.job(id))?.progress, 40);
      open();
      assert.equal((await draining).completed, 1);
      assert.deepEqual(heard, [10, 40]);
      const done = await queue.job(id);
      assert.equal(done?.state, "completed"); // kept (retention), with its last progress
      assert.equal(done?.progress, 40);
    },
  ],
  [
    "a handler that ignores its timeout is failed at the timeout, while it keeps its slot until it returns",
    async ({ backend }) => {
      const extended: string[] = [];
      const pending: Promise<unknown>[] = [];
      const spied = spyOnExtend(backend, (args, done) => {
        extended.push(...args[1].map((lease) => lease.id));
        pending.push(done);
      });
      const clock = new ManualClock(1_700_000_000_000);
      const queue = new Queue({ backend: spied, clock });
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const started: number[] = [];
      let hungRunning = false;
      const job = defineJob({
        name: "stubborn",
        schema: v.number(),
        timeout: 100,
        maxRetries: 0,
        async handle(n) {
          started.push(n);
          if (n !== 1) return;
          hungRunning = true;
          await gate; // ignores ctx.signal
          hungRunning = false;
        },
      });
      const { id } = await queue.dispatch(job, 1);
      const worker = quietWorker(queue, { jobs: [job], concurrency: 1, leaseDuration: 30_000 });
      const atFailure: unknown[] = [];
      const stalled: string[] = [];
      worker.on("stalled", (event) => stalled.push(event.jobId));
      let recorded!: () => void;
      const failureRecorded = new Promise<void>((resolve) => (recorded = resolve));
      worker.on("failed", async ({ job: failed }) => {
        atFailure.push({
          job: failed.payload,
          hungRunning,
          started: [...started],
          counts: await queue.counts(),
        });
        recorded();
      });
      const draining = worker.drain();
      await waitFor(() => started.length === 1);
      await queue.dispatch(job, 2); // after job 1 started, whatever order the queue keeps
      await clock.advance(100); // the timeout
      await failureRecorded;
      // A full renewal period with the hung handler still running: a worker that still
      // renewed the failed job's lease would try here (and be told it is lost: a stall).
      await clock.advance(10_000);
      await Promise.all(pending);
      assert.deepEqual(extended, [], "the failed job's lease is not renewed");
      open();
      const summary = await draining;
      assert.deepEqual(atFailure, [{
        job: 1,
        hungRunning: true,
        started: [1], // job 2 waits for the slot
        counts: { ready: 1, delayed: 0, active: 0, failed: 1, completed: 0, paused: false },
      }]);
      assert.equal(summary.failed, 1);
      assert.equal(summary.completed, 1);
      assert.deepEqual(started, [1, 2]);
      assert.deepEqual(stalled, []);
      const [dead] = await queue.failed.list();
      assert.equal(dead.id, id);
      assert.equal(dead.errors[0].name, "JobTimeoutError");
    },
  ],
  [
    "the failed store keeps at most retain.failed.count jobs, dropping the oldest with all their data",
    async ({ backend }) => {
      // A clock that ticks on every read gives each failure its own time, so "oldest" is
      // well defined (failures in the same millisecond have no order between them).
      let tick = Date.now();
      const queue = new Queue({
        backend,
        clock: { ...systemClock, now: () => tick++ },
        retain: { failed: { count: 3, age: 0 } },
      });
      const job = defineJob({
        name: "j",
        schema: v.number(),
        maxRetries: 0,
        handle() {
          throw new Error("no");
        },
      });
      const results = await queue.dispatchMany(job, [1, 2, 3, 4, 5]);
      assert.equal((await quietWorker(queue, { jobs: [job], concurrency: 1 }).drain()).failed, 5);
      assert.deepEqual((await queue.failed.list()).map((failed) => failed.payload), [5, 4, 3]);
      assert.equal((await queue.counts()).failed, 3);
      assert.equal(await queue.job(results[0].id), null);
      assert.equal(await queue.job(results[1].id), null);
      assert.equal((await queue.job(results[2].id))?.state, "failed");
      assert.equal(await queue.failed.retry(results[0].id), false);
    },
  ],
  [
    "a long job renews its lease, so no other worker takes it meanwhile",
    async ({ backend }) => {
      // Renewals follow the queue's clock; the lease itself is ended by hand, so
      // nothing here depends on how fast real time passes.
      const renewals: { tokens: string[]; done: Promise<string[]> }[] = [];
      const spied = spyOnExtend(backend, (args, done) => {
        renewals.push({ tokens: args[1].map((lease) => lease.token), done });
      });
      const clock = new ManualClock(1_700_000_000_000);
      const queue = new Queue({ backend: spied, clock });
      let runs = 0;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const job = defineJob({
        name: "long",
        schema: v.null(),
        async handle() {
          runs++;
          await gate;
        },
      });
      const { id } = await queue.dispatch(job, null);
      const worker = quietWorker(queue, { jobs: [job], leaseDuration: 30_000 });
      const draining = worker.drain();
      await waitFor(() => runs === 1);
      await clock.advance(10_000); // a third of the lease: the first renewal
      await waitFor(() => renewals.length === 1);
      const [first] = renewals;
      assert.deepEqual(await first.done, []);
      // The lease runs out now, as it would have without renewals...
      await endLease(backend, id, first.tokens[0]);
      await clock.advance(10_000); // ...and the next renewal takes it back in time.
      await waitFor(() => renewals.length === 2);
      assert.deepEqual(await renewals[1].done, []);
      assert.deepEqual(renewals[1].tokens, first.tokens, "renewed under the same token");

      const thief = await backend.take({
        queue: "default",
        now: clock.now(),
        complete: [],
        reserve: 1,
        sweep: true, // every partition of a partitioned queue
        leaseDuration: 30_000,
        token: "thief",
      });
      assert.deepEqual([thief.jobs, thief.stalled], [[], []]);
      open();
      assert.equal((await draining).completed, 1);
      assert.equal(runs, 1);
    },
  ],
  [
    "stop() waits for running jobs within the grace period, then aborts and hands the rest back",
    async ({ backend }) => {
      const clock = new ManualClock(1_700_000_000_000);
      const queue = new Queue({ backend, clock });
      const finished: number[] = [];
      const gates = new Map<number, () => void>();
      let abortedReason: unknown;
      const job = defineJob({
        name: "work",
        schema: v.number(),
        maxRetries: 0,
        async handle(n, ctx) {
          await new Promise<void>((resolve) => {
            gates.set(n, resolve);
            ctx.signal.addEventListener("abort", () => {
              abortedReason = ctx.signal.reason;
              resolve();
            });
          });
          if (!ctx.signal.aborted) finished.push(n);
        },
      });
      await queue.dispatch(job, 1);
      await queue.dispatch(job, 2);
      const worker = quietWorker(queue, { jobs: [job], concurrency: 2, gracePeriod: 100 });
      await worker.start();
      await waitFor(() => gates.size === 2);
      const stopping = worker.stop();
      // stop() is waiting out its grace period (the one timer 100 ms ahead) when job 1 ends.
      await waitFor(() => clock.timers.some((timer) => timer.at === clock.now() + 100));
      gates.get(1)!();
      await waitFor(() => finished.length === 1);
      await clock.advance(100); // the grace period ends with job 2 still running
      await stopping;
      assert.deepEqual(finished, [1]);
      assert.ok(abortedReason instanceof WorkerStoppedError, `got ${abortedReason}`);
      const counts = await queue.counts();
      assert.deepEqual(counts, {
        ready: 1,
        delayed: 0,
        active: 0,
        failed: 0,
        completed: 1,
        paused: false,
      });
    },
  ],
  [
    "a started worker picks up jobs dispatched later and reports completions as events",
    async ({ backend, clock }) => {
      // Dispatches see the worker idle: it has already polled and found nothing.
      let emptyPolls = 0;
      const watched = new Proxy(backend, {
        get(target, property) {
          const value = Reflect.get(target, property, target);
          if (typeof value !== "function") return value;
          if (property !== "take") return value.bind(target);
          return async (request: TakeRequest) => {
            const result = await target.take(request);
            if (result.jobs.length === 0) emptyPolls++;
            return result;
          };
        },
      });
      const queue = new Queue({ backend: watched, clock });
      const { job } = recorder();
      const worker = quietWorker(queue, { jobs: [job], concurrency: 4, maxPollInterval: 50 });
      const done: number[] = [];
      const all = new Promise<void>((resolve) => {
        worker.on("completed", (event) => {
          done.push((event.job.payload as { n: number }).n);
          if (done.length === 3) resolve();
        });
      });
      await worker.start();
      await waitFor(() => emptyPolls > 0);
      await queue.dispatchMany(job, [{ n: 1 }, { n: 2 }, { n: 3 }]);
      await all;
      await worker.stop();
      assert.deepEqual(done.sort(), [1, 2, 3]);
    },
  ],
  [
    "drain({ maxTime }) returns at maxTime plus its grace period, abandoning a handler that ignores its signal after a timeout",
    async ({ backend }) => {
      const clock = new ManualClock(1_700_000_000_000);
      const queue = new Queue({ backend, clock });
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const started: number[] = [];
      const job = defineJob({
        name: "stubborn",
        schema: v.number(),
        timeout: 100,
        maxRetries: 1,
        backoff: { type: "fixed", delay: 0 },
        async handle(n) {
          started.push(n);
          if (n === 1) await gate; // ignores ctx.signal
        },
      });
      const { id } = await queue.dispatch(job, 1);
      const worker = quietWorker(queue, { jobs: [job], concurrency: 1 });
      const retried: string[] = [];
      worker.on("retrying", (event) => retried.push(event.job.id));
      let returned = false;
      const draining = worker.drain({ maxTime: 1_000, gracePeriod: 200 });
      void draining.finally(() => (returned = true));
      await waitFor(() => started.length === 1);
      await clock.advance(100); // the timeout: the attempt fails and is retried at once
      await waitFor(() => retried.length === 1);
      await clock.advance(900); // maxTime: no more reserving
      await clock.advance(199);
      assert.equal(returned, false, "drain() returned before its grace period ended");
      await clock.advance(1); // the grace period ends
      const summary = await draining;
      assert.equal(summary.stoppedBy, "maxTime");
      assert.deepEqual(summary.abandoned, [{ id, queue: "default", name: "stubborn" }]);
      assert.equal(summary.retried, 1);
      assert.equal(summary.duration, 1_200);
      assert.deepEqual(await queue.counts(), {
        ready: 1,
        delayed: 0,
        active: 0,
        failed: 0,
        completed: 0,
        paused: false,
      });
      // The stubborn handler still holds its slot until it returns; then the retry runs.
      open();
      const next = await worker.drain();
      assert.equal(next.completed, 1);
      assert.deepEqual(next.abandoned, []);
      assert.deepEqual(started, [1, 1]);
    },
  ],
  [
    "a job abandoned by drain() keeps its lease until it expires: not handed back, no longer renewed",
    async ({ backend }) => {
      let extendCalls = 0;
      const spied = new Proxy(backend, {
        get(target, property) {
          const value = Reflect.get(target, property, target);
          if (typeof value !== "function") return value;
          if (property === "extend") {
            return (...args: Parameters<QueueBackend["extend"]>) => {
              extendCalls++;
              return target.extend(...args);
            };
          }
          return value.bind(target);
        },
      });
      const clock = new ManualClock(1_700_000_000_000);
      const queue = new Queue({ backend: spied, clock });
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let aborted: unknown;
      const job = defineJob({
        name: "endless",
        schema: v.null(),
        async handle(_payload, ctx) {
          ctx.signal.addEventListener("abort", () => (aborted = ctx.signal.reason));
          await gate; // ignores ctx.signal
        },
      });
      const { id } = await queue.dispatch(job, null);
      const worker = quietWorker(queue, { jobs: [job], leaseDuration: 300 });
      const draining = worker.drain({ maxTime: 500, gracePeriod: 100 });
      await waitFor(async () => (await queue.job(id))?.state === "active");
      await clock.advance(500);
      await clock.advance(100);
      const summary = await draining;
      assert.deepEqual(summary.abandoned, [{ id, queue: "default", name: "endless" }]);
      assert.equal(summary.released, 0);
      assert.ok(aborted instanceof Error, "the abandoned handler's signal is aborted");
      assert.equal((await queue.job(id))?.state, "active", "left to its lease, not handed back");
      assert.ok(extendCalls > 0, "the lease was renewed while the job ran");
      const renewed = extendCalls;
      await clock.advance(3_000); // ten lease renewal periods
      assert.equal(extendCalls, renewed, "an abandoned job's lease is no longer renewed");
      // So the lease runs out, and the job is served again as a stall.
      await waitFor(async () => {
        const taken = await backend.take({
          queue: "default",
          now: clock.now(),
          complete: [],
          reserve: 1,
          sweep: true, // every partition of a partitioned queue
          leaseDuration: 60_000,
          token: "next",
        });
        return taken.stalled.includes(id) && taken.jobs[0]?.id === id;
      });
      open();
    },
  ],
  ["drain() stops at maxJobs and reports a summary", async ({ queue }) => {
    const { job } = recorder();
    await queue.dispatchMany(job, Array.from({ length: 10 }, (_, n) => ({ n })));
    const worker = quietWorker(queue, { jobs: [job], concurrency: 3 });
    const first = await worker.drain({ maxJobs: 4 });
    assert.equal(first.processed, 4);
    assert.equal(first.completed, 4);
    assert.equal(first.stoppedBy, "maxJobs");
    const rest = await worker.drain({ maxJobs: 100 });
    assert.equal(rest.completed, 6);
    assert.equal(rest.stoppedBy, "empty");
    const none = await worker.drain({ maxTime: 0 });
    assert.equal(none.stoppedBy, "maxTime");
  }],
  [
    "middleware wraps handlers in order, and ctx.release() puts a job back without a failure",
    async ({ queue, clock }) => {
      const trace: string[] = [];
      let released = false;
      const job = defineJob({
        name: "m",
        schema: v.null(),
        maxRetries: 0,
        handle: () => void trace.push("handler"),
      });
      await queue.dispatch(job, null);
      const worker = quietWorker(queue, { jobs: [job] });
      worker.use(async (_ctx, next) => {
        trace.push("outer in");
        await next();
        trace.push("outer out");
      });
      worker.use(async (ctx, next) => {
        if (!released) {
          released = true;
          ctx.release(5_000);
          return;
        }
        trace.push("inner");
        await next();
      });
      const first = await worker.drain();
      assert.equal(first.released, 1);
      assert.deepEqual(await queue.counts(), {
        ready: 0,
        delayed: 1,
        active: 0,
        failed: 0,
        completed: 0,
        paused: false,
      });
      clock.advance(5_000);
      assert.equal((await worker.drain()).completed, 1);
      assert.deepEqual(trace, [
        "outer in",
        "outer out",
        "outer in",
        "inner",
        "handler",
        "outer out",
      ]);
    },
  ],
  [
    "rateLimited() releases jobs over the limit until the window slides",
    async ({ queue, clock }) => {
      const { job, seen } = recorder("limited", { maxRetries: 0 });
      await queue.dispatchMany(job, [{ n: 1 }, { n: 2 }, { n: 3 }]);
      const worker = quietWorker(queue, { jobs: [job] });
      worker.use(rateLimited({ key: "partner", max: 2, per: 1_000 }));
      const first = await worker.drain();
      assert.equal(first.completed, 2);
      assert.equal(first.released, 1);
      clock.advance(1_000);
      assert.equal((await worker.drain()).completed, 1);
      assert.deepEqual(seen.sort(), [1, 2, 3]);
    },
  ],
  ["withoutOverlapping() never runs two jobs with one key at once", async ({ queue, clock }) => {
    let running = 0;
    let peak = 0;
    let completed = 0;
    let turnedAway = 0;
    // How many jobs the lock has turned away by the time the n-th holder may finish:
    // three jobs are reserved together, so the first holder waits for the other two to
    // be turned away (they really tried while it held the lock), the second for one more.
    const turnedAwayBefore = [2, 3, 3];
    const job = defineJob({
      name: "sync",
      schema: v.number(),
      async handle() {
        peak = Math.max(peak, ++running);
        const expected = turnedAwayBefore[completed];
        // An overlap ends the wait at once, so the assertion below reports it.
        await waitFor(() => turnedAway >= expected || running > 1);
        running--;
        completed++;
      },
    });
    await queue.dispatchMany(job, [1, 2, 3]);
    const worker = quietWorker(queue, { jobs: [job], concurrency: 3 });
    worker.use(async (ctx, next) => {
      const release = ctx.release;
      ctx.release = (delay) => {
        turnedAway++;
        release(delay);
      };
      return await next();
    });
    worker.use(withoutOverlapping("account-1", { releaseAfter: 100 }));
    for (let round = 0; round < 5 && completed < 3; round++) {
      await worker.drain();
      clock.advance(100);
    }
    assert.equal(completed, 3);
    assert.equal(peak, 1);
    assert.equal(turnedAway, 3);
  }],
];

/**
 * Ends a lease now, as its running out would: a lease extended by 0 ms. Leases
 * are timed on the backend's clock (Redis's own, for RedisBackend), which a
 * test cannot move, so this is how a case makes one expire without waiting.
 */
async function endLease(backend: QueueBackend, id: string, token: string): Promise<void> {
  assert.deepEqual(await backend.extend("default", [{ id, token }], 0, 0), []);
}

/**
 * The backend, with `seen` called on every `extend` (its arguments and its
 * pending answer): how a case watches lease renewals without timing them.
 */
function spyOnExtend(
  backend: QueueBackend,
  seen: (args: Parameters<QueueBackend["extend"]>, done: Promise<string[]>) => void,
): QueueBackend {
  return new Proxy(backend, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (property !== "extend") return value.bind(target);
      return (...args: Parameters<QueueBackend["extend"]>) => {
        const done = target.extend(...args);
        seen(args, done);
        return done;
      };
    },
  });
}

/**
 * Runs every conformance case as a step of `t`, each on a fresh backend.
 *
 * @param t The test context.
 * @param make Creates an empty backend.
 * @param options Whether the backend partitions its queues.
 */
export async function runConformance(
  t: Deno.TestContext,
  make: BackendFactory,
  options: ConformanceOptions = {},
): Promise<void> {
  const ordered = options.partitioned !== true;
  for (const [name, fn] of cases) {
    await t.step({
      name,
      ignore: !ordered && ONE_PARTITION.has(name),
      fn: async () => {
        const backend = await make();
        const clock = new FakeClock();
        await fn({ backend, clock, queue: new Queue({ backend, clock }), ordered }, make);
      },
    });
  }
}
