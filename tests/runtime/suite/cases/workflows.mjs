/**
 * Chains and batches (issue 16) on the memory backend and on Redis over the
 * HTTP gateway, driven by `drain()` as a serverless host would (in workerd,
 * inside the module worker's request): a chain whose steps read ctx.previous
 * and whose failed step hands catch ctx.chain.failed, and a batch whose then,
 * catch and finally each run exactly once.
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
  Worker,
} from "@kiln/core/queue";
import * as assert from "./_assert.mjs";

export const name = "workflows";

const BACKENDS = [
  ["memory", () => new MemoryBackend()],
  [
    "redis over the gateway",
    (ctx, suffix) =>
      new RedisBackend({
        redis: new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken }),
        prefix: `${ctx.namespace}-${suffix}`,
      }),
  ],
];

/** Drains until the queue is empty, as repeated serverless ticks would. */
async function drain(queue, jobs) {
  return await new Worker(queue, { jobs, concurrency: 4, logger: silentLogger })
    .drain({ maxTime: 10_000 });
}

/** A chain of three steps, the second failing after reading the first's result. */
async function chainCase(backend) {
  const queue = new Queue({ backend });
  const seen = [];
  const add = defineJob({
    name: "add",
    schema: v.number(),
    handle: (n, ctx) => {
      seen.push(["add", n, ctx.previous, ctx.chain?.step]);
      return (ctx.previous ?? 0) + n;
    },
  });
  const refuse = defineJob({
    name: "refuse",
    schema: v.null(),
    maxRetries: 0,
    handle: (_p, ctx) => {
      seen.push(["refuse", ctx.previous]);
      throw new RangeError(`too big: ${ctx.previous}`);
    },
  });
  const rescue = defineJob({
    name: "rescue",
    schema: v.string(),
    handle: (to, ctx) =>
      void seen.push(["rescue", to, ctx.chain?.failed?.jobId, ctx.chain?.failed?.error.message]),
  });
  const good = await queue.chain([[add, 1], [add, 2], [add, 3]]);
  const bad = await queue.chain([[add, 5], [refuse, null], [add, 100]], {
    catch: [rescue, "ops"],
  });
  await drain(queue, [add, refuse, rescue]);
  assert.deepEqual(seen.filter((s) => s[0] === "add" && s[1] < 5), [
    ["add", 1, undefined, 1],
    ["add", 2, 1, 2],
    ["add", 3, 3, 3],
  ]);
  assert.deepEqual(seen.filter((s) => s[0] !== "add"), [
    ["refuse", 5],
    ["rescue", "ops", bad.jobIds[1], "too big: 5"],
  ]);
  assert.equal(seen.some((s) => s[1] === 100), false, "the step after the failed one never ran");
  assert.equal((await queue.chainInfo(good.id))?.state, "completed");
  const info = await queue.chainInfo(bad.id);
  assert.equal(info?.state, "failed");
  assert.equal(info?.failed?.jobId, bad.jobIds[1]);
}

/** Two batches: one all completed (then, finally), one with a failure (catch, finally). */
async function batchCase(backend) {
  const queue = new Queue({ backend });
  const calls = [];
  const work = defineJob({
    name: "work",
    schema: v.number(),
    maxRetries: 0,
    handle: (n) => {
      if (n < 0) throw new Error("negative");
    },
  });
  const cb = defineJob({
    name: "cb",
    schema: v.string(),
    handle: (s, ctx) => void calls.push(`${s} ${ctx.batch?.id === undefined ? "?" : "ok"}`),
  });
  const jobs = (sign) => Array.from({ length: 25 }, (_, i) => [work, sign * (i + 1)]);
  const good = await queue.batch(jobs(1), {
    then: [cb, "then"],
    catch: [cb, "catch"],
    finally: [cb, "finally"],
  });
  assert.equal(await queue.addToBatch(good.id, [[work, 26]]), true);
  const bad = await queue.batch([...jobs(1), [work, -1], [work, -2]], {
    then: [cb, "then 2"],
    catch: [cb, "catch 2"],
    finally: [cb, "finally 2"],
  });
  await drain(queue, [work, cb]);
  // A second tick finds nothing more to do: every callback ran once.
  assert.equal((await drain(queue, [work, cb])).completed, 0);
  assert.deepEqual(calls.sort(), ["catch 2 ok", "finally 2 ok", "finally ok", "then ok"]);
  const info = await queue.batchInfo(good.id);
  assert.deepEqual(
    [info?.total, info?.pending, info?.completed, info?.failed, info?.progress],
    [26, 0, 26, 0, 100],
  );
  assert.equal(typeof info?.finishedAt, "number");
  assert.deepEqual([(await queue.batchInfo(bad.id))?.failed], [2]);
  assert.equal(await queue.addToBatch(good.id, [[work, 27]]), false);
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = BACKENDS.flatMap(([label, make]) => [
  {
    name:
      `${label}: a chain's steps read ctx.previous in order, and a dead-lettered step stops it and runs catch with ctx.chain.failed`,
    run: (ctx) => chainCase(make(ctx, "chain")),
  },
  {
    name:
      `${label}: a batch runs then, catch and finally exactly once each, and refuses addToBatch() once finished`,
    run: (ctx) => batchCase(make(ctx, "batch")),
  },
]);
