import { MemoryBackend } from "../../src/queue/mod.ts";
import { runConformance } from "./conformance.ts";

Deno.test("MemoryBackend passes the queue conformance suite", async (t) => {
  await runConformance(t, () => new MemoryBackend());
});
