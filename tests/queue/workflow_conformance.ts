/**
 * Chains and batches (issue 16), written once and run against MemoryBackend
 * and RedisBackend (through the real HTTP gateway, with a twin backend object
 * standing for a second process).
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { type BatchContext, type ChainContext, defineJob, Queue } from "../../src/queue/mod.ts";
import { JobCancelledError } from "../../src/public_errors.ts";
import type { QueueBackend } from "../../src/queue/backend_mod.ts";
import { FakeClock, quietWorker, sleep, waitFor } from "./_helpers.ts";
import { hostileCases } from "./workflow_hostile_cases.ts";
import { retryCases } from "./workflow_retry_cases.ts";
import { idCases } from "./workflow_id_cases.ts";

/** A fresh, empty store, and a second backend object on the same store (another process). */
export type WorkflowStoreFactory = () =>
  | { backend: QueueBackend; twin: () => QueueBackend }
  | Promise<{ backend: QueueBackend; twin: () => QueueBackend }>;

/** What each case gets. */
export interface Setup {
  queue: Queue;
  clock: FakeClock;
  twin: () => Queue;
}

/** One case: its name, and what it does on a fresh queue. */
export type WorkflowCase = [name: string, fn: (setup: Setup) => Promise<void>];

const cases: WorkflowCase[] = [
  [
    "chain() runs its steps in order, each after the one before completed, reading its result as ctx.previous",
    async ({ queue }) => {
      const seen: [number, unknown, ChainContext | undefined][] = [];
      const step = defineJob({
        name: "step",
        schema: v.number(),
        handle: (n, ctx) => {
          seen.push([n, ctx.previous, ctx.chain]);
          return { doubled: n * 2 };
        },
      });
      const chain = await queue.chain([[step, 1], [step, 2], [step, 3]]);
      assert.equal(chain.jobIds.length, 3);
      // Only the first step exists before it ran.
      assert.equal((await queue.counts()).ready, 1);
      assert.equal(await queue.job(chain.jobIds[1]), null);
      const summary = await quietWorker(queue, { jobs: [step], concurrency: 5 }).drain();
      assert.equal(summary.completed, 3);
      assert.deepEqual(seen.map(([n, previous]) => [n, previous]), [
        [1, undefined],
        [2, { doubled: 2 }],
        [3, { doubled: 4 }],
      ]);
      assert.deepEqual(seen.map(([, , c]) => [c?.step, c?.steps, c?.id]), [
        [1, 3, chain.id],
        [2, 3, chain.id],
        [3, 3, chain.id],
      ]);
      const info = await queue.chainInfo(chain.id);
      assert.equal(info?.state, "completed");
      assert.equal(info?.step, 3);
      assert.deepEqual(info?.jobIds, chain.jobIds);
      assert.equal(info?.failed, null);
      assert.equal(typeof info?.finishedAt, "number");
    },
  ],
  [
    "a chain step's retries do not restart the chain; its dead-letter stops it and dispatches catch once, with ctx.chain.failed",
    async ({ queue }) => {
      const runs: string[] = [];
      let failed: ChainContext["failed"] | undefined;
      const first = defineJob({
        name: "first",
        schema: v.null(),
        handle: () => void runs.push("first"),
      });
      const flaky = defineJob({
        name: "flaky",
        schema: v.null(),
        maxRetries: 1,
        backoff: { type: "fixed", delay: 0 },
        handle: () => {
          runs.push("flaky");
          throw new Error("card declined");
        },
      });
      const never = defineJob({
        name: "never",
        schema: v.null(),
        handle: () => void runs.push("never"),
      });
      const rescue = defineJob({
        name: "rescue",
        schema: v.object({ notify: v.string() }),
        handle: (payload, ctx) => {
          runs.push(`rescue ${payload.notify}`);
          failed = ctx.chain?.failed;
        },
      });
      const chain = await queue.chain([[first, null], [flaky, null], [never, null]], {
        catch: [rescue, { notify: "ops" }],
      });
      await quietWorker(queue, { jobs: [first, flaky, never, rescue] }).drain();
      assert.deepEqual(runs, ["first", "flaky", "flaky", "rescue ops"]);
      assert.equal(failed?.jobId, chain.jobIds[1]);
      assert.equal(failed?.error.message, "card declined");
      assert.equal(failed?.error.name, "Error");
      const info = await queue.chainInfo(chain.id);
      assert.equal(info?.state, "failed");
      assert.equal(info?.step, 2);
      assert.equal(info?.failed?.jobId, chain.jobIds[1]);
      assert.equal(await queue.job(chain.jobIds[2]), null, "the third step was never dispatched");
    },
  ],
  [
    "removing a chain's waiting step fails the chain and dispatches its catch",
    async ({ queue }) => {
      const names: string[] = [];
      let failed: ChainContext["failed"] | undefined;
      const step = defineJob({ name: "step", schema: v.null(), handle() {} });
      const rescue = defineJob({
        name: "rescue",
        schema: v.null(),
        handle: (_p, ctx) => {
          names.push("rescue");
          failed = ctx.chain?.failed;
        },
      });
      const chain = await queue.chain([[step, null], [step, null]], { catch: [rescue, null] });
      assert.equal(await queue.remove(chain.jobIds[0]), true);
      await quietWorker(queue, { jobs: [step, rescue] }).drain();
      assert.deepEqual(names, ["rescue"]);
      assert.equal(failed?.error.name, "JobRemovedError");
      assert.equal((await queue.chainInfo(chain.id))?.state, "failed");
    },
  ],
  [
    "chain() refuses steps on different queues, an empty chain and invalid payloads, dispatching nothing",
    async ({ queue }) => {
      const a = defineJob({ name: "a", schema: v.number(), handle() {} });
      const b = defineJob({ name: "b", schema: v.number(), queue: "other", handle() {} });
      await assert.rejects(queue.chain([[a, 1], [b, 2]]), TypeError);
      await assert.rejects(queue.chain([]), TypeError);
      await assert.rejects(queue.chain([[a, 1], [a, "x" as never]]), {
        name: "JobValidationError",
      });
      await assert.rejects(queue.batch([[a, 1]], { then: [b, 1] }), TypeError);
      await assert.rejects(
        queue.chain(Array.from({ length: 1_001 }, () => [a, 1] as const)),
        RangeError,
      );
      await assert.rejects(queue.batch([[a, 1]], { name: "x".repeat(201) }), TypeError);
      await assert.rejects(queue.chain([[a, 1], "nope" as never]), TypeError);
      assert.deepEqual(await queue.backend.queues(), []);
    },
  ],
  [
    "batch(): then and finally run exactly once, after every job completed; batchInfo() counts",
    async ({ queue }) => {
      const callbacks: string[] = [];
      let seenBatch: BatchContext | undefined;
      const work = defineJob({
        name: "work",
        schema: v.number(),
        handle: (_n, ctx) => void (seenBatch = ctx.batch),
      });
      const then = defineJob({
        name: "then",
        schema: v.string(),
        handle: (s) => void callbacks.push(s),
      });
      const batch = await queue.batch(Array.from({ length: 30 }, (_, i) => [work, i] as const), {
        name: "thirty",
        then: [then, "then"],
        catch: [then, "catch"],
        finally: [then, "finally"],
      });
      let info = await queue.batchInfo(batch.id);
      assert.deepEqual(
        [info?.name, info?.total, info?.pending, info?.completed, info?.progress, info?.finishedAt],
        ["thirty", 30, 30, 0, 0, null],
      );
      await quietWorker(queue, { jobs: [work, then], concurrency: 8 }).drain();
      assert.deepEqual(callbacks.sort(), ["finally", "then"]);
      assert.equal(seenBatch?.id, batch.id);
      assert.equal(seenBatch?.cancelled, false);
      info = await queue.batchInfo(batch.id);
      assert.deepEqual(
        [
          info?.total,
          info?.pending,
          info?.completed,
          info?.failed,
          info?.progress,
          info?.cancelled,
        ],
        [30, 0, 30, 0, 100, false],
      );
      assert.equal(typeof info?.finishedAt, "number");
    },
  ],
  [
    "batch(): catch runs once at the first dead-lettered job, finally once, then never; allowFailures skips catch",
    async ({ queue }) => {
      const callbacks: string[] = [];
      const work = defineJob({
        name: "work",
        schema: v.number(),
        maxRetries: 0,
        handle: (n) => {
          if (n % 5 === 0) throw new Error(`bad ${n}`);
        },
      });
      const cb = defineJob({
        name: "cb",
        schema: v.string(),
        handle: (s) => void callbacks.push(s),
      });
      const jobs = Array.from({ length: 20 }, (_, i) => [work, i] as const);
      const strict = await queue.batch(jobs, {
        then: [cb, "then"],
        catch: [cb, "catch"],
        finally: [cb, "finally"],
      });
      const lenient = await queue.batch(jobs, {
        allowFailures: true,
        then: [cb, "then 2"],
        catch: [cb, "catch 2"],
        finally: [cb, "finally 2"],
      });
      await quietWorker(queue, { jobs: [work, cb], concurrency: 4 }).drain();
      assert.deepEqual(callbacks.sort(), ["catch", "finally", "finally 2"]);
      const info = await queue.batchInfo(strict.id);
      assert.deepEqual([info?.completed, info?.failed, info?.pending], [16, 4, 0]);
      assert.equal((await queue.batchInfo(lenient.id))?.failed, 4);
    },
  ],
  [
    "batch callbacks run exactly once when workers in two processes finish its last jobs at once",
    async ({ queue, twin }) => {
      const callbacks: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const work = defineJob({
        name: "work",
        schema: v.number(),
        // Every member waits at the gate, so the last ones finish together.
        handle: async () => await gate,
      });
      const cb = defineJob({
        name: "cb",
        schema: v.string(),
        handle: (s) => void callbacks.push(s),
      });
      const batch = await queue.batch(Array.from({ length: 40 }, (_, i) => [work, i] as const), {
        then: [cb, "then"],
        finally: [cb, "finally"],
      });
      const a = quietWorker(queue, { jobs: [work, cb], concurrency: 20 });
      const b = quietWorker(twin(), { jobs: [work, cb], concurrency: 20 });
      await a.start();
      await b.start();
      await waitFor(async () => (await queue.counts()).active === 40);
      release();
      await waitFor(() => callbacks.length === 2);
      await sleep(100);
      await Promise.all([a.stop(), b.stop()]);
      assert.deepEqual(callbacks.sort(), ["finally", "then"]);
      assert.equal((await queue.batchInfo(batch.id))?.completed, 40);
    },
  ],
  [
    "a batch sent in several requests cannot finish before its last job is in, even when workers drain each part first",
    async ({ queue: base }) => {
      let thenSaw: number | undefined;
      // Holds each later request of the batch until the workers ran everything sent so far.
      const inner = base.backend;
      const backend = new Proxy(inner, {
        get(target, property) {
          if (property === "workflow") {
            return async (...args: Parameters<QueueBackend["workflow"]>) => {
              if (args[1].action === "add") {
                await waitFor(async () => {
                  const counts = await inner.counts("default");
                  return counts.ready === 0 && counts.active === 0;
                }, 20_000);
              }
              return await inner.workflow(...args);
            };
          }
          const value = Reflect.get(target, property);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const queue = new Queue({ backend, clock: base.clock });
      const work = defineJob({ name: "work", schema: v.number(), handle() {} });
      const then = defineJob({
        name: "then",
        schema: v.null(),
        handle: async (_p, ctx) =>
          void (thenSaw = (await queue.batchInfo(ctx.batch!.id))?.completed),
      });
      const worker = quietWorker(queue, { jobs: [work, then], concurrency: 50 });
      await worker.start();
      const batch = await queue.batch(Array.from({ length: 2_500 }, (_, i) => [work, i] as const), {
        then: [then, null],
      });
      await waitFor(() => thenSaw !== undefined, 20_000);
      await worker.stop();
      assert.equal(thenSaw, 2_500);
      assert.equal((await queue.batchInfo(batch.id))?.total, 2_500);
    },
  ],
  [
    "addToBatch() adds jobs while the batch runs and is refused once it finished",
    async ({ queue }) => {
      const seen: number[] = [];
      const work = defineJob({
        name: "work",
        schema: v.number(),
        handle: (n) => void seen.push(n),
      });
      const cb = defineJob({ name: "cb", schema: v.null(), handle: () => void seen.push(-1) });
      const batch = await queue.batch([[work, 1]], { then: [cb, null] });
      assert.equal(await queue.addToBatch(batch.id, [[work, 2], [work, 3]]), true);
      assert.equal((await queue.batchInfo(batch.id))?.total, 3);
      await quietWorker(queue, { jobs: [work, cb] }).drain();
      assert.deepEqual(seen, [1, 2, 3, -1]);
      assert.equal(await queue.addToBatch(batch.id, [[work, 4]]), false);
      assert.equal(await queue.addToBatch("no-such-batch", [[work, 4]]), false);
      assert.equal((await queue.counts()).ready, 0);
    },
  ],
  [
    "cancelBatch() removes pending jobs, aborts running handlers (ctx.batch.cancelled) and runs finally once",
    async ({ queue }) => {
      const callbacks: [string, boolean | undefined][] = [];
      let reason: unknown;
      let cancelledSeen: boolean | undefined;
      let started = 0;
      const work = defineJob({
        name: "work",
        schema: v.number(),
        async handle(_n, ctx) {
          started++;
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          reason = ctx.signal.reason;
          cancelledSeen = ctx.batch?.cancelled;
        },
      });
      const cb = defineJob({
        name: "cb",
        schema: v.string(),
        handle: (s, ctx) => void callbacks.push([s, ctx.batch?.cancelled]),
      });
      const batch = await queue.batch(Array.from({ length: 10 }, (_, i) => [work, i] as const), {
        then: [cb, "then"],
        catch: [cb, "catch"],
        finally: [cb, "finally"],
      });
      const worker = quietWorker(queue, { jobs: [work, cb], leaseDuration: 300 });
      await worker.start();
      await waitFor(() => started === 1);
      assert.equal(await queue.cancelBatch(batch.id), true);
      assert.equal(await queue.cancelBatch(batch.id), false);
      await waitFor(() => reason !== undefined && callbacks.length === 1);
      await sleep(50);
      await worker.stop();
      assert.ok(reason instanceof JobCancelledError);
      assert.equal(cancelledSeen, true);
      assert.deepEqual(callbacks, [["finally", true]]);
      assert.equal(started, 1);
      const info = await queue.batchInfo(batch.id);
      assert.deepEqual([info?.cancelled, info?.pending, info?.completed], [true, 0, 0]);
      const counts = await queue.counts();
      assert.deepEqual([counts.ready, counts.active, counts.failed], [0, 0, 1]);
    },
  ],
  [
    "a batch of jobs under a per-key concurrency limit keeps the limit and still calls then once",
    async ({ queue }) => {
      const running = new Map<string, number>();
      let most = 0;
      const callbacks: string[] = [];
      const work = defineJob({
        name: "work",
        schema: v.object({ tenant: v.string(), n: v.number() }),
        concurrency: { key: (p) => p.tenant, limit: 2 },
        async handle({ tenant }) {
          running.set(tenant, (running.get(tenant) ?? 0) + 1);
          most = Math.max(most, running.get(tenant)!);
          await sleep(5);
          running.set(tenant, running.get(tenant)! - 1);
        },
      });
      const cb = defineJob({
        name: "cb",
        schema: v.string(),
        handle: (s) => void callbacks.push(s),
      });
      const jobs = Array.from(
        { length: 24 },
        (_, n) => [work, { tenant: `t${n % 3}`, n }] as const,
      );
      const batch = await queue.batch(jobs, { then: [cb, "then"], finally: [cb, "finally"] });
      const worker = quietWorker(queue, { jobs: [work, cb], concurrency: 12 });
      await worker.start();
      await waitFor(() => callbacks.length === 2, 20_000);
      await worker.stop();
      assert.ok(most <= 2, `at most 2 per tenant, saw ${most}`);
      assert.deepEqual(callbacks.sort(), ["finally", "then"]);
      assert.equal((await queue.batchInfo(batch.id))?.completed, 24);
    },
  ],
  [
    "finished chains and batches are kept as long as failed jobs (retain.failed), the oldest forgotten first",
    async ({ queue: base, clock }) => {
      const queue = new Queue({
        backend: base.backend,
        clock,
        retain: { failed: { count: 2, age: 60_000 } },
      });
      const work = defineJob({ name: "work", schema: v.number(), handle() {} });
      const worker = quietWorker(queue, { jobs: [work] });
      const first = await queue.batch([[work, 1]]);
      const chain = await queue.chain([[work, 2]]);
      await worker.drain();
      const running = await queue.batch([[work, 3]]);
      assert.notEqual(await queue.batchInfo(first.id), null);
      clock.advance(1);
      const third = await queue.batch([[work, 4]]);
      await queue.cancelBatch(running.id); // finishes too
      await worker.drain();
      // Four finished, two kept: the first two to finish are gone.
      assert.equal(await queue.batchInfo(first.id), null);
      assert.equal(await queue.chainInfo(chain.id), null);
      assert.equal((await queue.batchInfo(running.id))?.cancelled, true);
      assert.equal((await queue.batchInfo(third.id))?.completed, 1);
      // And every one of them goes once it is older than the age limit.
      clock.advance(60_001);
      const last = await queue.batch([[work, 5]]);
      await worker.drain();
      assert.equal(await queue.batchInfo(running.id), null);
      assert.equal(await queue.batchInfo(third.id), null);
      assert.equal((await queue.batchInfo(last.id))?.completed, 1);
    },
  ],
  [
    "a chain advances across serverless ticks: each drain({ maxJobs: 1 }) runs the next step",
    async ({ queue }) => {
      const seen: number[] = [];
      const step = defineJob({
        name: "step",
        schema: v.number(),
        handle: (n) => void seen.push(n),
      });
      const chain = await queue.chain([[step, 1], [step, 2], [step, 3]]);
      for (let tick = 1; tick <= 3; tick++) {
        // A fresh worker per tick, as a new invocation would make.
        const summary = await quietWorker(queue, { jobs: [step] }).drain({ maxJobs: 1 });
        assert.equal(summary.completed, 1);
        assert.deepEqual(seen, [1, 2, 3].slice(0, tick));
      }
      assert.equal((await quietWorker(queue, { jobs: [step] }).drain()).completed, 0);
      assert.equal((await queue.chainInfo(chain.id))?.state, "completed");
    },
  ],
  [
    "an empty batch runs then and finally at once",
    async ({ queue }) => {
      const callbacks: string[] = [];
      const cb = defineJob({
        name: "cb",
        schema: v.string(),
        handle: (s) => void callbacks.push(s),
      });
      const batch = await queue.batch([], { then: [cb, "then"], finally: [cb, "finally"] });
      await quietWorker(queue, { jobs: [cb] }).drain();
      assert.deepEqual(callbacks.sort(), ["finally", "then"]);
      assert.equal((await queue.batchInfo(batch.id))?.progress, 100);
    },
  ],
  [
    "a chain's steps read ctx.previous even when the queue keeps no completed jobs",
    async ({ queue: base }) => {
      const queue = new Queue({
        backend: base.backend,
        clock: base.clock,
        retain: { completed: false },
      });
      const seen: unknown[] = [];
      const step = defineJob({
        name: "step",
        schema: v.number(),
        handle: (n, ctx) => {
          seen.push(ctx.previous);
          return n + 1;
        },
      });
      await queue.chain([[step, 1], [step, 5]]);
      await quietWorker(queue, { jobs: [step] }).drain();
      assert.deepEqual(seen, [undefined, 2]);
    },
  ],
  [
    "chainInfo() and batchInfo() answer null for unknown ids, and cancelBatch() false",
    async ({ queue }) => {
      assert.equal(await queue.chainInfo("nope"), null);
      assert.equal(await queue.batchInfo("nope", "default"), null);
      assert.equal(await queue.cancelBatch("nope", "default"), false);
    },
  ],
];

/** Runs every workflow case on fresh stores from `make`. */
export async function runWorkflowConformance(
  t: Deno.TestContext,
  make: WorkflowStoreFactory,
): Promise<void> {
  for (const [name, fn] of [...cases, ...hostileCases, ...retryCases, ...idCases]) {
    await t.step(name, async () => {
      const store = await make();
      const clock = new FakeClock();
      clock.time = Date.now();
      await fn({
        queue: new Queue({ backend: store.backend, clock }),
        clock,
        twin: () => new Queue({ backend: store.twin(), clock }),
      });
    });
  }
}
