/**
 * A worker with 8 slots over RedisBackend and the HTTP gateway, where its
 * completion report and its reservation overtake each other on the way.
 *
 * @module
 */
import { RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { assertDrainRunsLateStep } from "./_slow_reports.ts";

Deno.test("over Redis, drain() does not end while the next step of a chain, made by a report that landed after the last reservation looked, is due", async () => {
  await using stack = await startRedisStack();
  await assertDrainRunsLateStep(new RedisBackend({ redis: stack.redis, prefix: "overlap" }));
});
