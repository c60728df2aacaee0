import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend, systemClock } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker, waitFor } from "./_helpers.ts";
import { endLeases, spawnWorker } from "./_processes.ts";

const WORKER = "./_worker_process.ts";

async function runCounts(
  redis: { hgetall(key: string): Promise<Record<string, unknown> | null> },
  key: string,
) {
  const all = await redis.hgetall(key) ?? {};
  return new Map(Object.entries(all).map(([field, value]) => [Number(field), Number(value)]));
}

Deno.test("a worker process killed with SIGKILL mid-job loses nothing: its jobs are served again once their leases end, even with maxRetries 0", async () => {
  await using stack = await startRedisStack();
  const prefix = "crash";
  const backend = new RedisBackend({ redis: stack.redis, prefix });
  const queue = new Queue({ backend });
  const count = defineJob({
    name: "count",
    schema: v.number(),
    // A crash is a stall, not a failed attempt: it must not need a retry.
    maxRetries: 0,
    async handle(n) {
      await stack.redis.hincrby(`${prefix}:runs`, String(n), 1);
    },
  });
  await queue.dispatchMany(count, [1, 2, 3, 4, 5, 6]);

  const child = spawnWorker(WORKER, stack, prefix, "hang");
  await child.stdout.cancel();
  await waitFor(async () => (await runCounts(stack.redis, `${prefix}:runs`)).size === 3, 15_000);
  // Its heartbeat, which rode on its polls, lists it while it lives.
  const [alive] = await queue.workers();
  assert.deepEqual([alive.concurrency, alive.queues], [3, ["default"]]);
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");
  // Dead, it beats no more: once its heartbeat's ttl (3 × a third of its minute lease) is
  // over, it leaves the list. Read on a clock that far ahead rather than waiting a minute.
  const later = new Queue({ backend, clock: { ...systemClock, now: () => Date.now() + 60_001 } });
  assert.deepEqual(await later.workers(), []);
  assert.equal((await queue.workers()).length, 1, "still within its ttl now");
  assert.equal((await queue.counts()).active, 3);
  // The dead process's leases run out now, as they would after their minute: ended by
  // hand with its tokens, read from Redis, so no real time has to pass.
  assert.equal((await endLeases(stack, backend, prefix)).length, 3);

  const worker = quietWorker(queue, { jobs: [count], concurrency: 3, maxPollInterval: 100 });
  const stalled: boolean[] = [];
  worker.on("stalled", (event) => stalled.push(event.failed));
  await worker.start();
  try {
    await waitFor(async () => (await queue.counts()).completed === 6, 10_000);
  } finally {
    await worker.stop();
  }
  assert.deepEqual(stalled, [false, false, false], "three stalls, none dead-lettered");
  const runs = await runCounts(stack.redis, `${prefix}:runs`);
  const twice = [...runs.values()].filter((n) => n === 2).length;
  assert.equal(runs.size, 6);
  assert.equal(twice, 3, "exactly the three in-flight jobs ran twice");
  assert.ok([...runs.values()].every((n) => n <= 2));
  assert.deepEqual(await queue.counts(), {
    ready: 0,
    delayed: 0,
    active: 0,
    failed: 0,
    completed: 6,
    paused: false,
  });
});

Deno.test("four worker processes on one Redis complete 20,000 jobs exactly once", async () => {
  await using stack = await startRedisStack();
  const prefix = "four";
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix }) });
  const count = defineJob({ name: "count", schema: v.number(), maxRetries: 5, handle() {} });
  await queue.dispatchMany(count, Array.from({ length: 20_000 }, (_, n) => n));

  const children = Array.from(
    { length: 4 },
    () => spawnWorker(WORKER, stack, prefix, "drain"),
  );
  const outputs = await Promise.all(children.map((child) => child.output()));
  for (const output of outputs) {
    assert.equal(output.code, 0);
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "drained");
  }
  const runs = await runCounts(stack.redis, `${prefix}:runs`);
  assert.equal(runs.size, 20_000);
  const repeated = [...runs].filter(([, n]) => n !== 1);
  assert.deepEqual(repeated, []);
  assert.deepEqual(await queue.counts(), {
    ready: 0,
    delayed: 0,
    active: 0,
    failed: 0,
    completed: 20_000,
    paused: false,
  });
});
