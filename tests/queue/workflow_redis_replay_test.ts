import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { Keyspace } from "../../src/redis/keys.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker } from "./_helpers.ts";
import { replayedBackend } from "./_replay.ts";

Deno.test("chains and batches with every request delivered twice (a retried HTTP call): each step, job and callback runs once, and a batch sent in parts still counts each job once", async () => {
  await using stack = await startRedisStack();
  const queue = new Queue({ backend: replayedBackend(stack, "wfreplay") });
  const runs = new Map<string, number>();
  const count = (key: string) => runs.set(key, (runs.get(key) ?? 0) + 1);
  const step = defineJob({
    name: "step",
    schema: v.number(),
    handle: (n, ctx) => {
      count(`step ${n} after ${JSON.stringify(ctx.previous)}`);
      return n;
    },
  });
  const member = defineJob({
    name: "member",
    schema: v.number(),
    handle: (n) => void count(`m${n}`),
  });
  const callback = defineJob({
    name: "callback",
    schema: v.string(),
    handle: (s) => void count(s),
  });

  const chain = await queue.chain([[step, 1], [step, 2], [step, 3]], {
    catch: [callback, "catch"],
  });
  const batch = await queue.batch(
    Array.from({ length: 1_500 }, (_, n) => [member, n] as const),
    { then: [callback, "then"], finally: [callback, "finally"] },
  );
  assert.equal(await queue.addToBatch(batch.id, [[member, 1_500]]), true);
  const info = await queue.batchInfo(batch.id);
  assert.deepEqual([info?.total, info?.pending], [1_501, 1_501]);

  await quietWorker(queue, { jobs: [step, member, callback], concurrency: 50 }).drain();
  assert.deepEqual(
    [...runs].filter(([key]) => !key.startsWith("m")).sort(),
    [
      ["finally", 1],
      ["step 1 after undefined", 1],
      ["step 2 after 1", 1],
      ["step 3 after 2", 1],
      ["then", 1],
    ],
  );
  const members = [...runs].filter(([key]) => key.startsWith("m"));
  assert.equal(members.length, 1_501);
  assert.ok(members.every(([, n]) => n === 1));
  assert.equal((await queue.chainInfo(chain.id))?.state, "completed");
  const done = await queue.batchInfo(batch.id);
  assert.deepEqual([done?.total, done?.completed, done?.pending], [1_501, 1_501, 0]);
  // A replayed cancel of a finished batch changes nothing.
  assert.equal(await queue.cancelBatch(batch.id), false);
});

Deno.test("forged chain and batch records (not JSON, wrong shapes) do not fail the scripts that complete their jobs: the jobs complete, nothing is enqueued from them", async () => {
  await using stack = await startRedisStack();
  const prefix = "wfforged";
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix }) });
  const seen: string[] = [];
  const step = defineJob({ name: "step", schema: v.string(), handle: (s) => void seen.push(s) });
  const chain = await queue.chain([[step, "a"], [step, "b"]]);
  const batch = await queue.batch([[step, "m1"], [step, "m2"]], { then: [step, "then"] });
  const workflows = new Keyspace("default", prefix).key("workflows");
  // Someone with access to Redis overwrites the records.
  await stack.redis.hset(workflows, {
    [`c\0${chain.id}`]: "{not json",
    [`b\0${batch.id}`]: JSON.stringify({ ok: { i: 42, r: null } }),
  });
  const summary = await quietWorker(queue, { jobs: [step] }).drain();
  assert.deepEqual(seen.sort(), ["a", "m1", "m2"]);
  assert.deepEqual([summary.completed, summary.failed], [3, 0]);
  const counts = await queue.counts();
  assert.deepEqual([counts.ready, counts.active, counts.failed], [0, 0, 0]);
  // The batch's counters still moved; its forged callback was not enqueued.
  assert.deepEqual((await queue.batchInfo(batch.id))?.completed, 2);
  // Reading a forged record is a typed error, not a guess.
  await assert.rejects(queue.chainInfo(chain.id), { code: "REDIS_UNEXPECTED_REPLY" });
});
