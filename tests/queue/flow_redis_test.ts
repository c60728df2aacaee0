import { RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { runFlowConformance } from "./flow_conformance.ts";

Deno.test("RedisBackend over the HTTP gateway passes the flow control conformance suite", async (t) => {
  await using stack = await startRedisStack();
  let n = 0;
  // Each case gets its own key prefix on the one redis-server: a fresh, empty backend.
  await runFlowConformance(t, () => new RedisBackend({ redis: stack.redis, prefix: `f${n++}` }));
});
