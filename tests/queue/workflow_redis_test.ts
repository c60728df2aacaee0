import { RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { runWorkflowConformance } from "./workflow_conformance.ts";

Deno.test("RedisBackend over the HTTP gateway passes the workflow conformance suite (chains and batches)", async (t) => {
  await using stack = await startRedisStack();
  let n = 0;
  await runWorkflowConformance(t, () => {
    const prefix = `wf${n++}`;
    return {
      backend: new RedisBackend({ redis: stack.redis, prefix }),
      // Another process: its own backend object on the same keys.
      twin: () => new RedisBackend({ redis: stack.redis, prefix }),
    };
  });
});
