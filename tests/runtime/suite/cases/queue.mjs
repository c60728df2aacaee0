/**
 * Queue cases: jobs defined, dispatched and drained on the memory backend and
 * on Redis over the HTTP gateway. In workerd, `drain()` runs inside the module
 * worker's request, as a Cloudflare `scheduled()` handler would run it.
 *
 * @module
 */
import * as v from "valibot";
import {
  defineJob,
  MemoryBackend,
  Queue,
  RedisBackend,
  silentLogger,
  systemClock,
  Worker,
} from "@kiln/core/queue";
import { JobValidationError } from "@kiln/core/errors";
import * as assert from "./_assert.mjs";

export const name = "queue";

function recorder(seen, extra = {}) {
  return defineJob({
    name: "record",
    schema: v.object({ n: v.number() }),
    handle: (payload) => void seen.push(payload.n),
    ...extra,
  });
}

function redisBackend(ctx, suffix) {
  const redis = new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken });
  return new RedisBackend({ redis, prefix: `${ctx.namespace}-${suffix}` });
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "memory: drain() runs dispatched jobs in priority order with validated payloads",
    async run() {
      const seen = [];
      const queue = new Queue({ backend: new MemoryBackend() });
      const job = recorder(seen);
      await queue.dispatch(job, { n: 1 }, { priority: "low" });
      await queue.dispatch(job, { n: 2 }, { priority: "high" });
      await assert.rejects(queue.dispatch(job, { n: "x" }), JobValidationError);
      const summary = await new Worker(queue, {
        jobs: [job],
        logger: silentLogger,
      }).drain();
      assert.equal(summary.completed, 2);
      assert.deepEqual(seen, [2, 1]);
    },
  },
  {
    name: "memory: a failing job is retried, then dead-lettered with every attempt's error",
    async run() {
      const queue = new Queue({ backend: new MemoryBackend() });
      const job = defineJob({
        name: "doomed",
        schema: v.null(),
        maxRetries: 1,
        backoff: { type: "fixed", delay: 0 },
        handle(_payload, ctx) {
          throw new Error(`attempt ${ctx.attempt}`);
        },
      });
      await queue.dispatch(job, null);
      const summary = await new Worker(queue, {
        jobs: [job],
        logger: silentLogger,
      }).drain();
      assert.equal(summary.retried, 1);
      assert.equal(summary.failed, 1);
      const [dead] = await queue.failed.list();
      assert.deepEqual(dead.errors.map((e) => e.message), [
        "attempt 1",
        "attempt 2",
      ]);
    },
  },
  {
    name: "redis over the gateway: drain() completes dispatched jobs and counts them",
    async run(ctx) {
      const seen = [];
      const queue = new Queue({ backend: redisBackend(ctx, "drain") });
      const job = recorder(seen);
      await queue.dispatchMany(job, [{ n: 1 }, { n: 2 }, { n: 3 }]);
      const again = await queue.dispatch(job, { n: 9 }, { jobId: "fixed" });
      const replay = await queue.dispatch(job, { n: 9 }, { jobId: "fixed" });
      assert.equal(again.created, true);
      assert.equal(replay.created, false);
      const summary = await new Worker(queue, {
        jobs: [job],
        concurrency: 4,
        logger: silentLogger,
      })
        .drain({ maxTime: 10_000 });
      assert.equal(summary.completed, 4);
      assert.deepEqual(seen.sort(), [1, 2, 3, 9]);
      assert.deepEqual(await queue.counts(), {
        ready: 0,
        delayed: 0,
        active: 0,
        failed: 0,
        completed: 4,
        paused: false,
      });
    },
  },
  {
    name: "redis over the gateway: a dead-lettered job is listed, retried and then completes",
    async run(ctx) {
      let fail = true;
      const queue = new Queue({ backend: redisBackend(ctx, "failed") });
      const job = defineJob({
        name: "sometimes",
        schema: v.number(),
        maxRetries: 0,
        handle() {
          if (fail) throw new Error("not yet");
        },
      });
      const { id } = await queue.dispatch(job, 7);
      const worker = new Worker(queue, { jobs: [job], logger: silentLogger });
      assert.equal((await worker.drain()).failed, 1);
      const [dead] = await queue.failed.list({ queue: "default" });
      assert.equal(dead.id, id);
      assert.equal(dead.errors[0].message, "not yet");
      fail = false;
      assert.equal(await queue.failed.retry(id, "default"), true);
      assert.equal((await worker.drain()).completed, 1);
      assert.equal((await queue.counts()).failed, 0);
    },
  },
  {
    name: "memory: a crashed worker's job is served again with maxRetries 0, as a stall",
    async run() {
      let time = 1_700_000_000_000;
      const backend = new MemoryBackend();
      const queue = new Queue({
        backend,
        clock: { ...systemClock, now: () => time },
      });
      const seen = [];
      const job = recorder(seen, { maxRetries: 0 });
      const { id } = await queue.dispatch(job, { n: 1 });
      // A worker reserves the job, then dies without answering.
      await backend.take({
        queue: "default",
        now: time,
        complete: [],
        reserve: 1,
        leaseDuration: 1_000,
        token: "crashed",
      });
      assert.equal((await queue.job(id))?.state, "active");
      time += 1_000;
      const worker = new Worker(queue, { jobs: [job], logger: silentLogger });
      const stalled = [];
      worker.on("stalled", (event) => stalled.push(event));
      const summary = await worker.drain();
      assert.equal(summary.completed, 1);
      assert.deepEqual(stalled, [{
        jobId: id,
        queue: "default",
        failed: false,
      }]);
      assert.deepEqual(seen, [1]);
      assert.equal((await queue.job(id))?.state, "completed");
    },
  },
  {
    name: "redis over the gateway: ctx.progress() is stored on the job and read with queue.job()",
    async run(ctx) {
      const queue = new Queue({ backend: redisBackend(ctx, "progress") });
      let read;
      const job = defineJob({
        name: "report",
        schema: v.null(),
        async handle(_payload, jobCtx) {
          jobCtx.progress(60);
          for (let i = 0; i < 200; i++) {
            read = await queue.job(jobCtx.jobId, "default");
            if (read?.progress === 60) return;
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        },
      });
      const { id } = await queue.dispatch(job, null);
      assert.equal((await queue.job(id, "default"))?.state, "waiting");
      const summary = await new Worker(queue, {
        jobs: [job],
        logger: silentLogger,
      })
        .drain({ maxTime: 10_000 });
      assert.equal(summary.completed, 1);
      assert.equal(read?.state, "active");
      assert.equal(read?.progress, 60);
      assert.equal((await queue.job(id, "default"))?.state, "completed");
    },
  },
  {
    name:
      "redis over the gateway: a finished job is kept with its result and logs, found by tag, and its changes arrive as events",
    async run(ctx) {
      const queue = new Queue({ backend: redisBackend(ctx, "operate") });
      const job = defineJob({
        name: "invoice",
        schema: v.object({ user: v.number() }),
        tags: (payload) => [`user:${payload.user}`],
        handle(payload, jobCtx) {
          jobCtx.log(`billing ${payload.user}`);
          return { paid: payload.user };
        },
      });
      const controller = new AbortController();
      const events = queue.events({
        queues: ["default"],
        signal: controller.signal,
      });
      await events.ready;
      const { id } = await queue.dispatch(job, { user: 42 });
      await queue.dispatch(job, { user: 7 });
      const summary = await new Worker(queue, {
        jobs: [job],
        logger: silentLogger,
      })
        .drain({ maxTime: 10_000 });
      assert.equal(summary.completed, 2);
      const { jobs, cursor } = await queue.jobs({ tag: "user:42" });
      assert.deepEqual(jobs.map((found) => [found.id, found.state]), [[
        id,
        "completed",
      ]]);
      assert.equal(cursor, null);
      assert.deepEqual(jobs[0].result, { paid: 42 });
      assert.deepEqual(jobs[0].logs, ["billing 42"]);
      const states = [];
      const reader = events.getReader();
      while (!states.includes("completed")) {
        const { value, done } = await reader.read();
        if (done) break;
        if (value.id === id) states.push(value.state);
      }
      controller.abort();
      reader.releaseLock();
      assert.deepEqual(states, ["waiting", "active", "completed"]);
    },
  },
];
