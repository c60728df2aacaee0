import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue } from "../../src/queue/mod.ts";
import { Keyspace } from "../../src/redis/keys.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { FakeClock, quietWorker } from "./_helpers.ts";
import { replayedBackend } from "./_replay.ts";

Deno.test("every request delivered twice: limited jobs run once each, never over their key's limit, and the keys' state empties", async () => {
  await using stack = await startRedisStack();
  const clock = new FakeClock();
  const queue = new Queue({ backend: replayedBackend(stack, "flowreplay"), clock });
  const running = new Map<string, number>();
  const runs = new Map<string, number>();
  let most = 0;
  let failedOnce = false;
  const job = defineJob({
    name: "limited",
    schema: v.object({ tenant: v.string(), n: v.number() }),
    concurrency: { key: (payload) => payload.tenant, limit: 2 },
    maxRetries: 1,
    backoff: { type: "fixed", delay: 0 },
    async handle({ tenant, n }) {
      const now = (running.get(tenant) ?? 0) + 1;
      running.set(tenant, now);
      most = Math.max(most, now);
      runs.set(`${tenant}:${n}`, (runs.get(`${tenant}:${n}`) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 2));
      running.set(tenant, running.get(tenant)! - 1);
      if (tenant === "a" && n === 3 && !failedOnce) {
        failedOnce = true;
        throw new Error("first attempt fails");
      }
    },
  });
  const results = await queue.dispatchMany(
    job,
    ["a", "b", "c"].flatMap((tenant) => Array.from({ length: 10 }, (_, n) => ({ tenant, n }))),
  );
  assert.ok(results.every((result) => result.created));
  // Throttle and debounce answer a replayed dispatch as the first call did.
  const plain = defineJob({ name: "plain", schema: v.number(), handle() {} });
  const throttled = await queue.dispatch(plain, 1, { throttle: { key: "t", window: 60_000 } });
  assert.equal(throttled.created, true);
  assert.deepEqual(await queue.dispatch(plain, 2, { throttle: { key: "t", window: 60_000 } }), {
    id: throttled.id,
    created: false,
  });
  const debounced = await queue.dispatch(plain, 3, { debounce: { key: "d", delay: 1 } });
  assert.equal(debounced.created, true);
  assert.deepEqual(await queue.dispatch(plain, 4, { debounce: { key: "d", delay: 1 } }), {
    id: debounced.id,
    created: false,
  });
  clock.advance(1);
  const summary = await quietWorker(queue, { jobs: [job, plain], concurrency: 10 }).drain();
  assert.equal(summary.completed, 32);
  assert.equal(summary.retried, 1);
  assert.ok(most <= 2, `a key ran ${most} at once`);
  assert.equal(runs.size, 30);
  for (const [name, count] of runs) assert.equal(count, name === "a:3" ? 2 : 1, name);
  // Every slot was freed exactly once: nothing counted, parked or in line is left.
  const space = new Keyspace("default", "flowreplay");
  const flow = await stack.redis.hgetall<Record<string, string>>(space.key("flow")) ?? {};
  // (Less the windows still open, which later traffic sweeps: the throttle's and the fold's replay.)
  const open = Object.keys(flow).filter((field) => !/^[tf]\//.test(field));
  assert.deepEqual(open, []);
  assert.equal(await stack.redis.zcard(space.key("parked")), 0);
});
