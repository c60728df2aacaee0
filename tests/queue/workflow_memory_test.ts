import { MemoryBackend } from "../../src/queue/mod.ts";
import { runWorkflowConformance } from "./workflow_conformance.ts";

Deno.test("MemoryBackend passes the workflow conformance suite (chains and batches)", async (t) => {
  await runWorkflowConformance(t, () => {
    const backend = new MemoryBackend();
    // One process: the "other process" shares the same store object.
    return { backend, twin: () => backend };
  });
});
