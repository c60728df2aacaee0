import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };

const PROBE = new URL("./_tracing_probe.ts", import.meta.url).pathname;
const SPY = new URL("./_otel_spy.ts", import.meta.url).href;

/** Runs the probe under an import map: deno.json's, with `@opentelemetry/api` removed or replaced. */
async function probe(otel: "absent" | "spy") {
  const imports: Record<string, string> = { ...denoJson.imports };
  delete imports["@opentelemetry/api"];
  if (otel === "spy") imports["@opentelemetry/api"] = SPY;
  const map = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(map, JSON.stringify({ imports }));
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-lock", `--import-map=${map}`, "-A", PROBE],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.ok(output.success, stderr);
    return JSON.parse(new TextDecoder().decode(output.stdout));
  } finally {
    await Deno.remove(map);
  }
}

Deno.test("without @opentelemetry/api installed, dispatching and running jobs works and nothing is stored", async () => {
  assert.deepEqual(await probe("absent"), { loads: 0, trace: null, completed: 1, failed: 0 });
});

Deno.test("with it installed, Kiln never loads it by itself", async () => {
  assert.deepEqual(await probe("spy"), { loads: 0, trace: null, completed: 1, failed: 0 });
});
