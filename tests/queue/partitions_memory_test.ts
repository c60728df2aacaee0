import { MemoryBackend } from "../../src/queue/mod.ts";
import { PartitionedBackend } from "../../src/queue/_partitions.ts";
import { runConformance } from "./conformance.ts";
import { runOperateConformance } from "./operate_conformance.ts";
import { runPartitionCases } from "./partitions_cases.ts";

/** Every queue the suites use, in three partitions of one MemoryBackend. */
function partitioned(inner: MemoryBackend): PartitionedBackend {
  return new PartitionedBackend(inner, () => 3);
}

Deno.test("MemoryBackend in three partitions passes the queue conformance suite", async (t) => {
  await runConformance(t, () => partitioned(new MemoryBackend()), { partitioned: true });
});

Deno.test("MemoryBackend in three partitions passes the operating conformance suite", async (t) => {
  await runOperateConformance(t, () => {
    const inner = new MemoryBackend();
    // Another instance: its own partition rotation over the same store.
    return { backend: partitioned(inner), twin: () => partitioned(inner) };
  }, { partitioned: true });
});

Deno.test("Partitioned queues on MemoryBackend", async (t) => {
  await runPartitionCases(t, () => new MemoryBackend());
});
