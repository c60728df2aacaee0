/**
 * Chains and batches under hostile timing and operators (issue 16's review):
 * members retried, removed or cancelled around the moment their batch counts
 * them, cancelBatch() and addToBatch() racing the last completion, a step
 * retried before it succeeds, a queue that keeps no failed jobs. Run by
 * workflow_conformance.ts on both backends.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { type ChainContext, defineJob, Queue } from "../../src/queue/mod.ts";
import { quietWorker, sleep, waitFor } from "./_helpers.ts";
import type { WorkflowCase } from "./workflow_conformance.ts";
import type { QueueBackend } from "../../src/queue/backend_mod.ts";

/** A callback job recording its payload and whether it saw its batch cancelled. */
function recorder(seen: string[]) {
  return defineJob({
    name: "cb",
    schema: v.string(),
    handle: (s, ctx) => void seen.push(ctx.batch?.cancelled ? `${s} (cancelled)` : s),
  });
}

/** A member that waits at a gate the test opens. */
function gated() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let started = 0;
  const work = defineJob({
    name: "work",
    schema: v.number(),
    async handle() {
      started++;
      await gate;
    },
  });
  return { work, open, started: () => started };
}

export const hostileCases: WorkflowCase[] = [
  [
    "a chain step that fails once and then succeeds runs its next step once, reading the successful result; the first step never runs again",
    async ({ queue }) => {
      const runs: string[] = [];
      const first = defineJob({
        name: "first",
        schema: v.null(),
        handle: () => void runs.push("first"),
      });
      let tries = 0;
      const flaky = defineJob({
        name: "flaky",
        schema: v.null(),
        maxRetries: 3,
        backoff: { type: "fixed", delay: 0 },
        handle: () => {
          runs.push("flaky");
          if (++tries === 1) throw new Error("once");
          return "ok";
        },
      });
      const last = defineJob({
        name: "last",
        schema: v.null(),
        handle: (_p, ctx) => void runs.push(`last after ${JSON.stringify(ctx.previous)}`),
      });
      const rescue = defineJob({
        name: "rescue",
        schema: v.null(),
        handle: () => void runs.push("rescue"),
      });
      const chain = await queue.chain([[first, null], [flaky, null], [last, null]], {
        catch: [rescue, null],
      });
      await quietWorker(queue, { jobs: [first, flaky, last, rescue], concurrency: 4 }).drain();
      assert.deepEqual(runs, ["first", "flaky", "flaky", 'last after "ok"']);
      const info = await queue.chainInfo(chain.id);
      assert.deepEqual([info?.state, info?.step, info?.failed], ["completed", 3, null]);
      assert.equal(await queue.job(`${chain.id}-catch`), null);
    },
  ],
  [
    "a queue that keeps no failed jobs still hands catch the failed step's own error in ctx.chain.failed",
    async ({ queue: base }) => {
      const queue = new Queue({
        backend: base.backend,
        clock: base.clock,
        retain: { failed: { count: 0, age: 0 } },
      });
      let failed: ChainContext["failed"] | undefined;
      const boom = defineJob({
        name: "boom",
        schema: v.null(),
        maxRetries: 0,
        handle: () => {
          throw new TypeError("disk full");
        },
      });
      const rescue = defineJob({
        name: "rescue",
        schema: v.null(),
        handle: (_p, ctx) => void (failed = ctx.chain?.failed),
      });
      const chain = await queue.chain([[boom, null]], { catch: [rescue, null] });
      await quietWorker(queue, { jobs: [boom, rescue] }).drain();
      assert.equal(failed?.jobId, chain.jobIds[0]);
      assert.deepEqual([failed?.error.name, failed?.error.message], ["TypeError", "disk full"]);
    },
  ],
  [
    "a member removed while it runs counts once, as failed: catch and finally once, its handler's late completion ignored",
    async ({ queue }) => {
      const seen: string[] = [];
      const { work, open, started } = gated();
      const cb = recorder(seen);
      const batch = await queue.batch([[work, 0], [work, 1]], {
        then: [cb, "then"],
        catch: [cb, "catch"],
        finally: [cb, "finally"],
      });
      // The handler ignores its signal, so it completes after the removal.
      const worker = quietWorker(queue, { jobs: [work, cb], concurrency: 2 });
      await worker.start();
      await waitFor(() => started() === 2);
      assert.equal(await queue.remove(batch.jobIds[0]), true);
      let info = await queue.batchInfo(batch.id);
      assert.deepEqual([info?.pending, info?.failed], [1, 1]);
      open();
      await waitFor(() => seen.length === 2);
      await sleep(100);
      await worker.stop();
      assert.deepEqual(seen.sort(), ["catch", "finally"]);
      info = await queue.batchInfo(batch.id);
      assert.deepEqual([info?.pending, info?.completed, info?.failed], [0, 1, 1]);
      assert.equal((await queue.job(batch.jobIds[0]))?.state, "failed");
    },
  ],
  [
    "cancelBatch() racing the last completion: exactly one wins, finally runs once, then only if the batch completed",
    async ({ queue, twin }) => {
      for (let round = 0; round < 4; round++) {
        const seen: string[] = [];
        const { work, open, started } = gated();
        const cb = recorder(seen);
        const batch = await queue.batch([[work, round]], {
          then: [cb, "then"],
          finally: [cb, "finally"],
        });
        const worker = quietWorker(queue, { jobs: [work, cb] });
        await worker.start();
        await waitFor(() => started() === 1);
        // Open the gate and cancel from another process at the same moment.
        const [cancelled] = await Promise.all([twin().cancelBatch(batch.id), open()]);
        await waitFor(() => seen.includes("finally") || seen.includes("finally (cancelled)"));
        await sleep(50);
        await worker.stop();
        const info = await queue.batchInfo(batch.id);
        if (cancelled) {
          assert.deepEqual(seen, ["finally (cancelled)"]);
          assert.deepEqual([info?.cancelled, info?.completed], [true, 0]);
        } else {
          assert.deepEqual(seen.sort(), ["finally", "then"]);
          assert.deepEqual([info?.cancelled, info?.completed], [false, 1]);
        }
        assert.equal(info?.pending, 0);
      }
    },
  ],
  [
    "addToBatch() after cancelBatch() is refused and enqueues nothing; after then ran, too",
    async ({ queue }) => {
      const seen: string[] = [];
      const work = defineJob({ name: "work", schema: v.number(), handle() {} });
      const cb = recorder(seen);
      const cancelled = await queue.batch([[work, 1]], { finally: [cb, "finally"] });
      assert.equal(await queue.cancelBatch(cancelled.id), true);
      assert.equal(await queue.addToBatch(cancelled.id, [[work, 2]]), false);
      assert.equal(await queue.cancelBatch(cancelled.id), false);
      assert.deepEqual((await queue.counts()).ready, 1, "only finally waits");
      await quietWorker(queue, { jobs: [work, cb] }).drain();
      assert.deepEqual(seen, ["finally (cancelled)"]);
      const info = await queue.batchInfo(cancelled.id);
      assert.deepEqual([info?.total, info?.pending, info?.cancelled], [1, 0, true]);
    },
  ],
  [
    "addToBatch() racing the last completion: added jobs run before then, or the add is refused and nothing is enqueued",
    async ({ queue, twin }) => {
      for (let round = 0; round < 4; round++) {
        const seen: string[] = [];
        const ran: number[] = [];
        let open!: () => void;
        const gate = new Promise<void>((resolve) => (open = resolve));
        const work = defineJob({
          name: "work",
          schema: v.number(),
          async handle(n) {
            if (n === 0) await gate;
            ran.push(n);
          },
        });
        const cb = recorder(seen);
        const batch = await queue.batch([[work, 0]], {
          then: [cb, "then"],
          finally: [cb, "finally"],
        });
        const worker = quietWorker(queue, { jobs: [work, cb] });
        await worker.start();
        await waitFor(async () => (await queue.counts()).active === 1);
        const [added] = await Promise.all([twin().addToBatch(batch.id, [[work, 1]]), open()]);
        await waitFor(() => seen.length === 2);
        await sleep(50);
        await worker.stop();
        assert.deepEqual(seen.sort(), ["finally", "then"]);
        assert.deepEqual(ran, added ? [0, 1] : [0]);
        const info = await queue.batchInfo(batch.id);
        assert.deepEqual(
          [info?.total, info?.completed, info?.pending],
          added ? [2, 2, 0] : [1, 1, 0],
        );
        assert.equal((await queue.counts()).ready, 0);
      }
    },
  ],
  [
    "a chain's and a batch's ids are not each other's: batchInfo(chain), chainInfo(batch), addToBatch(chain) and cancelBatch(chain) find nothing",
    async ({ queue }) => {
      const work = defineJob({ name: "work", schema: v.number(), handle() {} });
      const chain = await queue.chain([[work, 1], [work, 2]]);
      const batch = await queue.batch([[work, 3]]);
      assert.equal(await queue.batchInfo(chain.id), null);
      assert.equal(await queue.chainInfo(batch.id), null);
      assert.equal(await queue.addToBatch(chain.id, [[work, 4]]), false);
      assert.equal(await queue.cancelBatch(chain.id), false);
      assert.equal(await queue.cancelBatch(`${batch.id}\0`), false);
      assert.equal(await queue.batchInfo(`${batch.id}\0x`), null);
      assert.equal((await queue.counts()).ready, 2);
      await quietWorker(queue, { jobs: [work] }).drain();
      assert.equal((await queue.chainInfo(chain.id))?.state, "completed");
    },
  ],
  [
    "workflow jobs show in counts() and jobs() as plain jobs: members and the current step only",
    async ({ queue }) => {
      const work = defineJob({ name: "work", schema: v.number(), handle() {} });
      const step = defineJob({ name: "step", schema: v.number(), handle() {} });
      const chain = await queue.chain([[step, 1], [step, 2]]);
      const batch = await queue.batch([[work, 1], [work, 2], [work, 3]]);
      assert.equal((await queue.counts()).ready, 4);
      const members = await queue.jobs({ name: "work" });
      assert.deepEqual(members.jobs.map((j) => j.id).sort(), [...batch.jobIds].sort());
      const steps = await queue.jobs({ name: "step" });
      assert.deepEqual(steps.jobs.map((j) => j.id), [chain.jobIds[0]]);
      await quietWorker(queue, { jobs: [work, step] }).drain();
      const counts = await queue.counts();
      assert.deepEqual([counts.ready, counts.completed], [0, 5]);
    },
  ],
  [
    "a batch whose later part fails to send is cancelled, not left open forever: batch() rejects, no member runs, finally runs once, cancelled",
    async ({ queue: base }) => {
      const inner = base.backend;
      // The network fails on the batch's second request (its jobs past the first 1,000).
      const backend = new Proxy(inner, {
        get(target, property) {
          if (property === "workflow") {
            return async (...args: Parameters<QueueBackend["workflow"]>) => {
              if (args[1].action === "add") throw new TypeError("fetch failed");
              return await inner.workflow(...args);
            };
          }
          const value = Reflect.get(target, property);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const queue = new Queue({ backend, clock: base.clock });
      const seen: string[] = [];
      let ran = 0;
      let batchId: string | undefined;
      const work = defineJob({ name: "work", schema: v.number(), handle: () => void ran++ });
      const cb = defineJob({
        name: "cb",
        schema: v.string(),
        handle: (s, ctx) => {
          batchId = ctx.batch?.id;
          seen.push(ctx.batch?.cancelled ? `${s} (cancelled)` : s);
        },
      });
      const jobs = Array.from({ length: 1_500 }, (_, i) => [work, i] as const);
      await assert.rejects(
        queue.batch(jobs, { then: [cb, "then"], finally: [cb, "finally"] }),
        (error: Error) => error instanceof TypeError && error.message === "fetch failed",
      );
      await quietWorker(queue, { jobs: [work, cb], concurrency: 20 }).drain();
      assert.equal(ran, 0);
      assert.deepEqual(seen, ["finally (cancelled)"]);
      const info = await queue.batchInfo(batchId!);
      assert.deepEqual([info?.cancelled, info?.pending, info?.completed], [true, 0, 0]);
    },
  ],
  [
    "addToBatch() failing part way never leaves its batch held open, nor releases it twice: pending counts exactly the jobs that got in",
    async ({ queue: base }) => {
      const inner = base.backend;
      // The second request of each addToBatch() fails: first before it reaches the
      // store, then after it was applied (its answer lost).
      let mode: "before" | "after" = "before";
      let adds = 0;
      const backend = new Proxy(inner, {
        get(target, property) {
          if (property === "workflow") {
            return async (...args: Parameters<QueueBackend["workflow"]>) => {
              if (args[1].action !== "add" || args[1].jobs.length === 0 || ++adds % 2 === 1) {
                return await inner.workflow(...args);
              }
              if (mode === "after") await inner.workflow(...args);
              throw new TypeError("fetch failed");
            };
          }
          const value = Reflect.get(target, property);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const queue = new Queue({ backend, clock: base.clock });
      const seen: string[] = [];
      const { work, open } = gated();
      const cb = recorder(seen);
      const batch = await queue.batch([[work, 0]], {
        then: [cb, "then"],
        finally: [cb, "finally"],
      });
      const more = Array.from({ length: 1_500 }, (_, i) => [work, i + 1] as const);
      await assert.rejects(queue.addToBatch(batch.id, more), TypeError);
      assert.equal((await queue.batchInfo(batch.id))?.pending, 1 + 1_000, "the first part only");
      mode = "after";
      await assert.rejects(queue.addToBatch(batch.id, more), TypeError);
      assert.equal((await queue.batchInfo(batch.id))?.pending, 1 + 1_000 + 1_500);
      open();
      await quietWorker(queue, { jobs: [work, cb], concurrency: 50 }).drain();
      assert.deepEqual(seen.sort(), ["finally", "then"]);
      const info = await queue.batchInfo(batch.id);
      assert.deepEqual([info?.total, info?.completed, info?.pending], [2_501, 2_501, 0]);
    },
  ],
  [
    "a chain's later step and a batch's callback count their wait from when they were enqueued, not from when the workflow was dispatched",
    async ({ queue, clock }) => {
      const start = clock.now();
      // Each slow job takes two minutes of the queue's clock.
      const slow = defineJob({
        name: "slow",
        schema: v.null(),
        handle: () => void clock.advance(120_000),
      });
      const after = defineJob({ name: "after", schema: v.null(), handle() {} });
      const worker = quietWorker(queue, { jobs: [slow, after] });
      await queue.chain([[slow, null], [after, null]]);
      await worker.drain();
      await queue.batch([[slow, null]], { then: [after, null] });
      await worker.drain();
      const points = await queue.metrics({
        resolution: "hour",
        since: start - 3_600_000,
        until: clock.now() + 3_600_000,
      });
      const waits = points.filter((p) => p.wait.count > 0);
      assert.equal(waits.reduce((sum, p) => sum + p.wait.count, 0), 4);
      for (const point of waits) {
        assert.ok((point.wait.p99 ?? 0) <= 1_000, `waited ${point.wait.p99} ms by the metrics`);
      }
    },
  ],
  [
    "chainInfo(), batchInfo() and cancelBatch() find a workflow on another queue without being told it, even once its jobs are gone",
    async ({ queue: base }) => {
      const queue = new Queue({
        backend: base.backend,
        clock: base.clock,
        retain: { completed: false },
      });
      const mail = defineJob({ name: "mail", queue: "mail", schema: v.number(), handle() {} });
      const chain = await queue.chain([[mail, 1], [mail, 2]]);
      const done = await queue.batch([[mail, 3]]);
      await quietWorker(queue, { jobs: [mail], queues: ["mail"] }).drain();
      assert.equal((await queue.counts("mail")).ready, 0);
      assert.equal((await queue.chainInfo(chain.id))?.state, "completed");
      assert.equal((await queue.batchInfo(done.id))?.completed, 1);
      const running = await queue.batch([[mail, 4]]);
      assert.equal(await queue.cancelBatch(running.id), true);
      assert.equal((await queue.batchInfo(running.id))?.queue, "mail");
    },
  ],
  [
    "a chain step and a batch member that stall out (a crashed worker, maxStalls 0) fail their workflows once: catch reads the JobStalledError",
    async ({ queue, clock }) => {
      let failed: ChainContext["failed"] | undefined;
      const seen: string[] = [];
      const fragile = defineJob({ name: "fragile", schema: v.number(), maxStalls: 0, handle() {} });
      const rescue = defineJob({
        name: "rescue",
        schema: v.null(),
        handle: (_p, ctx) => void (failed = ctx.chain?.failed),
      });
      const cb = recorder(seen);
      const chain = await queue.chain([[fragile, 1], [fragile, 2]], { catch: [rescue, null] });
      const batch = await queue.batch([[fragile, 3]], {
        catch: [cb, "catch"],
        finally: [cb, "finally"],
      });
      // A worker reserves both, then dies without answering.
      const taken = await queue.backend.take({
        queue: "default",
        now: clock.now(),
        complete: [],
        reserve: 2,
        leaseDuration: 100,
        token: "crashed",
      });
      assert.equal(taken.jobs.length, 2);
      clock.advance(1_000); // MemoryBackend's leases run on the queue's clock,
      await sleep(150); // Redis's on its own.
      await quietWorker(queue, { jobs: [fragile, rescue, cb] }).drain();
      assert.equal(failed?.jobId, chain.jobIds[0]);
      assert.equal(failed?.error.name, "JobStalledError");
      assert.deepEqual(seen.sort(), ["catch", "finally"]);
      assert.equal((await queue.chainInfo(chain.id))?.state, "failed");
      assert.deepEqual([(await queue.batchInfo(batch.id))?.failed], [1]);
      assert.equal(await queue.job(chain.jobIds[1]), null);
    },
  ],
  [
    "a batch whose first request got in but whose answer was lost is cancelled too: batch() rejects and none of its jobs runs",
    async ({ queue: base }) => {
      const inner = base.backend;
      const backend = new Proxy(inner, {
        get(target, property) {
          if (property === "workflow") {
            return async (...args: Parameters<QueueBackend["workflow"]>) => {
              const done = await inner.workflow(...args);
              if (args[1].action === "batch") throw new TypeError("fetch failed");
              return done;
            };
          }
          const value = Reflect.get(target, property);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const queue = new Queue({ backend, clock: base.clock });
      const seen: string[] = [];
      let ran = 0;
      const work = defineJob({ name: "work", schema: v.number(), handle: () => void ran++ });
      const cb = recorder(seen);
      const jobs = Array.from({ length: 10 }, (_, i) => [work, i] as const);
      await assert.rejects(
        queue.batch(jobs, { then: [cb, "then"], finally: [cb, "finally"] }),
        TypeError,
      );
      await quietWorker(queue, { jobs: [work, cb] }).drain();
      assert.equal(ran, 0);
      assert.deepEqual(seen, ["finally (cancelled)"]);
    },
  ],
];
