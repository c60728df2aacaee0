/**
 * A worker with 8 slots over RedisBackend and the HTTP gateway, where its
 * completion report and its reservation overtake each other on the way.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Queue, RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker } from "./_helpers.ts";
import { SlowReports, soonAfterFirstStep, stubbornAndChain } from "./_slow_reports.ts";

Deno.test("over Redis, drain() does not end while the next step of a chain, made by a report that landed after the last reservation looked, is due", async () => {
  await using stack = await startRedisStack();
  const slow = new SlowReports(new RedisBackend({ redis: stack.redis, prefix: "overlap" }));
  slow.reportDelay = 100;
  const queue = new Queue({ backend: slow.backend });
  const ran: string[] = [];
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  const jobs = await stubbornAndChain(queue, gate, ran);
  const opened = soonAfterFirstStep(ran).then(() => {
    slow.holdReplies = true;
    open();
  });
  const summary = await quietWorker(queue, { jobs, concurrency: 8 }).drain();
  await opened;
  assert.deepEqual(ran, ["first", "second"]);
  assert.equal(summary.completed, 2);
  assert.equal((await queue.counts()).ready, 0);
});
