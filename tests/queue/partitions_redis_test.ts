import { RedisBackend } from "../../src/queue/mod.ts";
import { PartitionedBackend } from "../../src/queue/_partitions.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { runConformance } from "./conformance.ts";
import { runOperateConformance } from "./operate_conformance.ts";
import { runPartitionCases } from "./partitions_cases.ts";

Deno.test("RedisBackend in three partitions passes the queue and operating conformance suites", async (t) => {
  await using stack = await startRedisStack();
  let n = 0;
  // Each case gets its own key prefix: a fresh, empty backend, every queue in three partitions.
  const partitioned = (prefix: string) =>
    new PartitionedBackend(new RedisBackend({ redis: stack.redis, prefix }), () => 3);
  await t.step("queue conformance", async (t) => {
    await runConformance(t, () => partitioned(`p${n++}`), { partitioned: true });
  });
  await t.step("operating conformance", async (t) => {
    await runOperateConformance(t, () => {
      const prefix = `pop${n++}`;
      // Another process: its own backend object (and partition rotation) on the same keys.
      return { backend: partitioned(prefix), twin: () => partitioned(prefix) };
    }, { partitioned: true });
  });
  await t.step("partitioned queues", async (t) => {
    await runPartitionCases(t, () => {
      const prefix = `pc${n++}`;
      return Object.assign(new RedisBackend({ redis: stack.redis, prefix }), {
        // Another process on the same keys: its enqueues do not wake this one's workers.
        twin: () => new RedisBackend({ redis: stack.redis, prefix }),
      });
    });
  });
});
