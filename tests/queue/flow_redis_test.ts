import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { Keyspace } from "../../src/redis/keys.ts";
import { FakeClock, quietWorker } from "./_helpers.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { runFlowConformance } from "./flow_conformance.ts";

Deno.test("RedisBackend over the HTTP gateway passes the flow control conformance suite", async (t) => {
  await using stack = await startRedisStack();
  let n = 0;
  // Each case gets its own key prefix on the one redis-server: a fresh, empty backend.
  await runFlowConformance(t, () => new RedisBackend({ redis: stack.redis, prefix: `f${n++}` }));
});

Deno.test("RedisBackend keeps no per-key flow state once a key's windows are over: 500 one-off rate keys, a removed debounced job", async () => {
  await using stack = await startRedisStack();
  const prefix = "fleft";
  const clock = new FakeClock();
  const backend = new RedisBackend({ redis: stack.redis, prefix });
  const queue = new Queue({ backend, clock });
  const rated = defineJob({
    name: "rated",
    schema: v.object({ tenant: v.string() }),
    rateLimit: { key: (payload) => payload.tenant, limit: 5, per: 1_000 },
    handle() {},
  });
  const plain = defineJob({ name: "plain", schema: v.number(), handle() {} });
  // 500 keys that each run once (tenants that come and go).
  await queue.dispatchMany(rated, Array.from({ length: 500 }, (_, n) => ({ tenant: `t${n}` })));
  const worker = quietWorker(queue, { jobs: [rated, plain], concurrency: 50 });
  assert.equal((await worker.drain()).completed, 500);
  // A debounced job removed before it ran.
  const { id } = await queue.dispatch(plain, 1, { debounce: { key: "d", delay: 60_000 } });
  assert.equal(await queue.remove(id, "default"), true);
  // Once the windows are over, later traffic sweeps what they kept.
  clock.advance(1_000);
  for (let n = 0; n < 5; n++) await queue.dispatch(plain, n);
  assert.equal((await worker.drain()).completed, 5);
  const space = new Keyspace("default", prefix);
  const flow = await stack.redis.hgetall<Record<string, string>>(space.key("flow")) ?? {};
  assert.deepEqual(Object.keys(flow), []);
  assert.equal(await stack.redis.zcard(space.key("parked")), 0);
  assert.equal(await stack.redis.zcard(space.key("dedupe")), 0);
});
