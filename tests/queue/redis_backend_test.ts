import { RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { runConformance } from "./conformance.ts";

Deno.test("RedisBackend over the HTTP gateway passes the queue conformance suite", async (t) => {
  await using stack = await startRedisStack();
  let n = 0;
  // Each case gets its own key prefix on the one redis-server: a fresh, empty backend.
  await runConformance(
    t,
    () => new RedisBackend({ redis: stack.redis, prefix: `c${n++}` }),
  );
});
