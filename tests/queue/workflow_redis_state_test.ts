/**
 * What chains and batches leave in Redis once they finish (issue 16's review):
 * a 10,000-job batch, run to its end or cancelled, keeps only its few counters
 * and one finished marker, so a queue's memory does not grow with its batches.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker } from "./_helpers.ts";

const JOBS = 10_000;

Deno.test("a finished or cancelled 10,000-job batch leaves only its counters and one marker in Redis", async () => {
  await using stack = await startRedisStack();
  const prefix = "wfstate";
  const key = (part: string) => `${prefix}:{default}:${part}`;
  const queue = new Queue({
    backend: new RedisBackend({ redis: stack.redis, prefix }),
    retain: { completed: false, failed: { count: 100, age: 0 } },
  });
  const calls: string[] = [];
  const work = defineJob({ name: "work", schema: v.number(), handle() {} });
  const cb = defineJob({ name: "cb", schema: v.string(), handle: (s) => void calls.push(s) });
  const jobs = Array.from({ length: JOBS }, (_, i) => [work, i] as const);

  const done = await queue.batch(jobs, { then: [cb, "then"], finally: [cb, "finally"] });
  assert.equal(await stack.redis.zcard(key("members")), JOBS, "one entry per pending member");
  const summary = await quietWorker(queue, { jobs: [work, cb], concurrency: 200 }).drain();
  assert.equal(summary.completed, JOBS + 2);
  assert.deepEqual(calls.sort(), ["finally", "then"]);
  // Its settings, total, pending, completed, failed, finish time and when finally ran
  // (at most once, even after retried members reopen it); nothing per member.
  const base = `b\0${done.id}`;
  assert.deepEqual(
    (await stack.redis.hkeys(key("workflows"))).sort(),
    [base, ...["c", "e", "f", "n", "p", "t"].map((part) => `${base}\0${part}`)].sort(),
  );
  assert.deepEqual(
    (await stack.redis.zrange<string[]>(key("members"), 0, -1)).map((m) => m.slice(15)),
    [`b\0${done.id}`],
    "only the finished marker",
  );
  assert.equal(await stack.redis.hlen(key("jobs")), 0);

  const cancelled = await queue.batch(jobs, { finally: [cb, "finally (cancelled)"] });
  assert.equal(await queue.cancelBatch(cancelled.id), true);
  const info = await queue.batchInfo(cancelled.id);
  assert.deepEqual([info?.total, info?.pending, info?.cancelled], [JOBS, 0, true]);
  assert.equal(await stack.redis.zcard(key("members")), 2, "two finished markers");
  assert.equal(
    await stack.redis.hlen(key("workflows")),
    15,
    "seven fields each, and the cancel time",
  );
  // Only the finally callback is left to run, and then nothing at all.
  assert.equal(await stack.redis.hlen(key("jobs")), 1);
  assert.equal(await stack.redis.zcard(key("index")), 1, "the callback's name entry");
  await quietWorker(queue, { jobs: [work, cb] }).drain();
  assert.equal(calls.length, 3);
  assert.equal(await stack.redis.hlen(key("jobs")), 0);
  assert.equal(await stack.redis.zcard(key("ready")), 0);
});
