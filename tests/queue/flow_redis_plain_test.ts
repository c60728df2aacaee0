import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { Keyspace } from "../../src/redis/keys.ts";
import { FakeClock, quietWorker } from "./_helpers.ts";
import { startRedisStack } from "../support/redis_stack.ts";

// flow.lua tells a plain job from a flow job by the byte after its record's first '","'
// (the end of its dispatch token), not by a match over the whole record: a payload that
// spells out flow rules, in its keys and its text, must still be a plain job.
Deno.test("RedisBackend: a plain job whose payload spells out flow rules is not held by them", async () => {
  await using stack = await startRedisStack();
  const prefix = "fplain";
  const clock = new FakeClock();
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix }), clock });
  const running: string[] = [];
  let release!: () => void;
  const allIn = new Promise<void>((resolve) => release = resolve);
  // Only a failure waits this long: one job at a time never gets all three in.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tooLong = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the three jobs never ran at once")), 3_000);
  });
  tooLong.catch(() => {});
  const job = defineJob({
    name: "plain",
    maxRetries: 0,
    schema: v.object({ n: v.number(), f: v.string(), d: v.string() }),
    async handle(_payload, ctx) {
      running.push(ctx.jobId);
      if (running.length === 3) release();
      // Under a concurrency limit of 1 (what the payload spells) the other two could not
      // start, and this would wait for ever: all three run at once.
      await Promise.race([allIn, tooLong]);
    },
  });
  const payload = (n: number) => ({ n, f: "c/1/plain:k", d: '","f":"c/1/plain:k' });
  await queue.dispatchMany(job, [payload(1), payload(2), payload(3)]);
  const space = new Keyspace("default", prefix);
  assert.equal(await stack.redis.zcard(space.key("ready")), 3);
  assert.equal(await stack.redis.zcard(space.key("parked")), 0);
  const worker = quietWorker(queue, { jobs: [job], concurrency: 3 });
  const summary = await worker.drain().finally(() => clearTimeout(timer));
  assert.equal(summary.completed, 3);
  assert.equal(running.length, 3);
  const flow = await stack.redis.hgetall<Record<string, string>>(space.key("flow")) ?? {};
  assert.deepEqual(Object.keys(flow), []);
});
