import { RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { runOperateConformance } from "./operate_conformance.ts";

Deno.test("RedisBackend over the HTTP gateway passes the operating conformance suite", async (t) => {
  await using stack = await startRedisStack();
  let n = 0;
  await runOperateConformance(t, () => {
    const prefix = `op${n++}`;
    return {
      backend: new RedisBackend({ redis: stack.redis, prefix }),
      // Another process: its own backend object on the same keys.
      twin: () => new RedisBackend({ redis: stack.redis, prefix }),
    };
  });
});
