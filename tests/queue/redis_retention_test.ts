import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker } from "./_helpers.ts";

Deno.test("no hash field or index entry outlives its job: trimming, removal and replacement clean every key", async () => {
  await using stack = await startRedisStack();
  const prefix = "hygiene";
  const queue = new Queue({
    backend: new RedisBackend({ redis: stack.redis, prefix }),
    retain: { completed: { count: 3, age: 0 }, failed: { count: 1, age: 0 } },
  });
  const job = defineJob({
    name: "tidy",
    schema: v.object({ n: v.number(), fail: v.boolean() }),
    maxRetries: 0,
    tags: (payload) => [`n:${payload.n}`, "all"],
    handle(payload, ctx) {
      ctx.log(`run ${payload.n}`);
      ctx.progress(50);
      if (payload.fail) throw new Error("no");
      return payload.n;
    },
  });
  const payloads = Array.from({ length: 12 }, (_, n) => ({ n, fail: n >= 10 }));
  await queue.dispatchMany(job, payloads);
  await quietWorker(queue, { jobs: [job], concurrency: 4 }).drain();
  await queue.dispatch(job, { n: 20, fail: false }, { jobId: "replaced" });
  await quietWorker(queue, { jobs: [job] }).drain();
  await queue.dispatch(job, { n: 21, fail: false }, { jobId: "replaced" }); // replaces the kept one
  const removed = (await queue.dispatch(job, { n: 22, fail: false })).id;
  assert.equal(await queue.remove(removed), true);

  const live = new Set<string>();
  for (const state of ["waiting", "completed", "failed"] as const) {
    for (const info of (await queue.jobs({ state, limit: 100 })).jobs) live.add(info.id);
  }
  // 3 completed kept, one of them ('replaced') since replaced by a waiting job, and 1 failed.
  assert.equal(live.size, 4);
  const key = (part: string) => `${prefix}:{default}:${part}`;
  assert.equal(await stack.redis.zcard(key("index")), live.size * 3, "name and two tags each");
  for (
    const hash of ["jobs", "attempts", "errors", "progress", "results", "logs", "runs", "labels"]
  ) {
    const fields = await stack.redis.hkeys(key(hash));
    const strays = fields.filter((id) => !live.has(id));
    assert.deepEqual(strays, [], `${hash} keeps data of jobs that are gone`);
  }
  assert.deepEqual(await stack.redis.hkeys(key("unique")), []);
});

Deno.test("no lease outlives its job: a cancelled job's lease goes when the failed store drops it, a completed job holds none", async () => {
  await using stack = await startRedisStack();
  const prefix = "leases";
  const queue = new Queue({
    backend: new RedisBackend({ redis: stack.redis, prefix }),
    retain: { completed: { count: 1, age: 0 }, failed: { count: 1, age: 0 } },
  });
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const job = defineJob({
    name: "hold",
    schema: v.string(),
    maxRetries: 0,
    async handle(mode, ctx) {
      if (mode === "fail") throw new Error("no");
      if (mode !== "hold") return;
      started();
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    },
  });
  const held = (await queue.dispatch(job, "hold")).id;
  // A short lease: the worker hears of the cancel when it renews, every third of it.
  const draining = quietWorker(queue, { jobs: [job], leaseDuration: 300 }).drain();
  await running;
  assert.equal(await queue.remove(held), true); // cancelled while it runs: failed, lease CANCELLED
  await draining;
  const leases = `${prefix}:{default}:leases`;
  assert.deepEqual(
    await stack.redis.hkeys(leases),
    [held],
    "the cancelled job keeps its lease while kept",
  );
  // A later failure pushes it out of the failed store (count 1), and completions trim the
  // completed store: neither leaves a lease behind.
  await queue.dispatchMany(job, ["fail", "done", "done", "done"]);
  await quietWorker(queue, { jobs: [job], concurrency: 8 }).drain();
  assert.equal(await queue.job(held), null);
  assert.deepEqual(await stack.redis.hkeys(leases), []);
});
