import { MemoryBackend } from "../../src/queue/mod.ts";
import { runFlowConformance } from "./flow_conformance.ts";

Deno.test("MemoryBackend passes the flow control conformance suite", async (t) => {
  await runFlowConformance(t, () => new MemoryBackend());
});
