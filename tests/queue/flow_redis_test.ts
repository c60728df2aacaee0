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

Deno.test("RedisBackend keeps no per-key flow state once a key's windows are over: 500 one-off rate keys, a folded debounced job removed", async () => {
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
  // A debounced job, folded into once (its replay window lasts a minute), removed before it ran.
  const debounce = { key: "d", delay: 60_000 };
  const { id } = await queue.dispatch(plain, 1, { debounce });
  assert.equal((await queue.dispatch(plain, 2, { debounce })).id, id);
  assert.equal(await queue.remove(id, "default"), true);
  // Once the windows are over, later traffic sweeps what they kept.
  clock.advance(60_000);
  // (Each dispatch sweeps 100 closed windows: 501 here.)
  for (let n = 0; n < 6; n++) await queue.dispatch(plain, n);
  assert.equal((await worker.drain()).completed, 6);
  const space = new Keyspace("default", prefix);
  const flow = await stack.redis.hgetall<Record<string, string>>(space.key("flow")) ?? {};
  assert.deepEqual(Object.keys(flow), []);
  assert.equal(await stack.redis.zcard(space.key("parked")), 0);
  assert.equal(await stack.redis.zcard(space.key("dedupe")), 0);
});

Deno.test("RedisBackend: a debounce fold rewrites the job's record, labels and index entries, leaving none under its first tag, and none once it is removed", async () => {
  await using stack = await startRedisStack();
  const prefix = "ffold";
  const clock = new FakeClock();
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix }), clock });
  const tagged = defineJob({
    name: "tagged",
    schema: v.object({ tenant: v.string() }),
    tags: (payload) => [`tenant:${payload.tenant}`],
    handle() {},
  });
  const space = new Keyspace("default", prefix);
  const index = async () =>
    (await stack.redis.zrange<string[]>(space.key("index"), 0, -1)).map((entry) =>
      entry.split("\0").slice(0, 2).join(" ")
    ).sort();
  const debounce = { key: "doc", delay: 1_000 };
  const { id } = await queue.dispatch(tagged, { tenant: "a" }, { debounce });
  // (The SDK decodes the stored JSON.)
  const record = (id: string) => stack.redis.hget<Record<string, unknown>>(space.key("jobs"), id);
  const first = (await record(id))!;
  clock.advance(10);
  await queue.dispatch(tagged, { tenant: "b" }, { debounce });
  assert.deepEqual(await index(), ["n tagged", "t tenant:b"]);
  const folded = (await record(id))!;
  assert.deepEqual([folded.id, folded.d, folded.createdAt, folded.runAt, folded.t], [
    id,
    first.d,
    first.createdAt,
    clock.now() + 1_000,
    ["tenant:b"],
  ]);
  assert.equal(await queue.remove(id, "default"), true);
  assert.deepEqual(await index(), []);
  assert.equal(await stack.redis.hlen(space.key("labels")), 0);
});
