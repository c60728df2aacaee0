import { MemoryBackend } from "../../src/queue/mod.ts";
import { runOperateConformance } from "./operate_conformance.ts";

Deno.test("MemoryBackend passes the operating conformance suite", async (t) => {
  await runOperateConformance(t, () => {
    const backend = new MemoryBackend();
    // One process: another "instance" is another Queue over the same object.
    return { backend, twin: () => backend };
  });
});
