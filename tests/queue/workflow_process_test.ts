import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker, sleep, waitFor } from "./_helpers.ts";
import { endLeases, spawnWorker } from "./_processes.ts";

const WORKER = "./_workflow_worker_process.ts";

Deno.test("a batch's callbacks run exactly once when the worker process running its last job is SIGKILLed after the job's work and before reporting it", async () => {
  await using stack = await startRedisStack();
  const prefix = "wfcrash";
  const backend = new RedisBackend({ redis: stack.redis, prefix });
  const queue = new Queue({ backend });
  const member = defineJob({
    name: "member",
    schema: v.number(),
    maxRetries: 0,
    async handle(n) {
      await stack.redis.hincrby(`${prefix}:runs`, String(n), 1);
    },
  });
  const callback = defineJob({
    name: "callback",
    schema: v.string(),
    async handle(name) {
      await stack.redis.hincrby(`${prefix}:callbacks`, name, 1);
    },
  });
  const LAST = 11;
  const batch = await queue.batch(Array.from({ length: 12 }, (_, n) => [member, n] as const), {
    then: [callback, "then"],
    catch: [callback, "catch"],
    finally: [callback, "finally"],
  });

  const child = spawnWorker(WORKER, stack, prefix, String(LAST), "null");
  // The worst moment: every other member completed, the last one's work is done, its
  // completion (which would enqueue the callbacks) not yet sent.
  await waitFor(async () => {
    const info = await queue.batchInfo(batch.id);
    const runs = await stack.redis.hget(`${prefix}:runs`, String(LAST));
    return info?.completed === 11 && Number(runs) === 1;
  }, 20_000);
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");
  assert.equal((await queue.batchInfo(batch.id))?.pending, 1);
  assert.equal(await stack.redis.hgetall(`${prefix}:callbacks`), null, "no callback yet");

  // Its lease runs out now, as it would after its minute: ended by hand with its token.
  assert.deepEqual(await endLeases(stack, backend, prefix), [batch.jobIds[LAST]]);

  // Two workers (two backend objects) take over; the last job runs again and completes once.
  const a = quietWorker(queue, { jobs: [member, callback], concurrency: 4, maxPollInterval: 100 });
  const twin = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix }) });
  const b = quietWorker(twin, { jobs: [member, callback], concurrency: 4, maxPollInterval: 100 });
  await a.start();
  await b.start();
  try {
    await waitFor(async () => (await stack.redis.hlen(`${prefix}:callbacks`)) === 2, 10_000);
    await sleep(300); // room for a duplicate to show up, were there one
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  assert.deepEqual(await stack.redis.hgetall(`${prefix}:callbacks`), { then: 1, finally: 1 });
  assert.equal(Number(await stack.redis.hget(`${prefix}:runs`, String(LAST))), 2);
  const info = await queue.batchInfo(batch.id);
  assert.deepEqual([info?.completed, info?.failed, info?.pending], [12, 0, 0]);
});

Deno.test("a chain moves on exactly once when the worker process running a step is SIGKILLed after the step's work and before reporting it", async () => {
  await using stack = await startRedisStack();
  const prefix = "wfcrashchain";
  const backend = new RedisBackend({ redis: stack.redis, prefix });
  const queue = new Queue({ backend });
  const previous: unknown[] = [];
  const step = defineJob({
    name: "step",
    schema: v.number(),
    maxRetries: 0,
    async handle(n, ctx) {
      previous.push(ctx.previous);
      await stack.redis.hincrby(`${prefix}:runs`, `s${n}`, 1);
      return n * 10;
    },
  });
  const HANG = 3;
  const chain = await queue.chain([1, 2, 3, 4, 5].map((n) => [step, n] as const));
  const child = spawnWorker(WORKER, stack, prefix, String(HANG), "null");
  await waitFor(
    async () => Number(await stack.redis.hget(`${prefix}:runs`, `s${HANG}`)) === 1,
    20_000,
  );
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");
  assert.equal((await queue.chainInfo(chain.id))?.step, HANG, "step 4 not dispatched yet");
  assert.deepEqual(await endLeases(stack, backend, prefix), [chain.jobIds[HANG - 1]]);

  const a = quietWorker(queue, { jobs: [step], concurrency: 4, maxPollInterval: 100 });
  const twin = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix }) });
  const b = quietWorker(twin, { jobs: [step], concurrency: 4, maxPollInterval: 100 });
  await a.start();
  await b.start();
  try {
    await waitFor(async () => (await queue.chainInfo(chain.id))?.state === "completed", 10_000);
    await sleep(300); // room for a duplicate to show up, were there one
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  assert.deepEqual(await stack.redis.hgetall(`${prefix}:runs`), {
    s1: 1,
    s2: 1,
    s3: 2,
    s4: 1,
    s5: 1,
  });
  // The steps that ran here read the step before's result.
  assert.deepEqual(previous, [20, 30, 40]);
});
