import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };

const PROBE = new URL("./_tracing_probe.ts", import.meta.url).pathname;
const SPY = new URL("./_otel_spy.ts", import.meta.url).href;

/** Runs the probe under an import map: deno.json's, with `@opentelemetry/api` removed or replaced. */
async function probe(otel: "absent" | "spy", mode: "default" | "off") {
  const imports: Record<string, string> = { ...denoJson.imports };
  delete imports["@opentelemetry/api"];
  if (otel === "spy") imports["@opentelemetry/api"] = SPY;
  const map = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(map, JSON.stringify({ imports }));
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-lock", `--import-map=${map}`, "-A", PROBE, mode],
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
  assert.deepEqual(await probe("absent", "default"), {
    before: 0,
    after: 0,
    trace: null,
    completed: 1,
    failed: 0,
  });
});

Deno.test("with it installed, importing Kiln loads nothing: the first dispatch loads it, once", async () => {
  // No SDK is registered in the probe, so no span records and no context is stored.
  assert.deepEqual(await probe("spy", "default"), {
    before: 0,
    after: 1,
    trace: null,
    completed: 1,
    failed: 0,
  });
});

Deno.test("with it installed and tracing: false, it is never loaded", async () => {
  assert.deepEqual(await probe("spy", "off"), {
    before: 0,
    after: 0,
    trace: null,
    completed: 1,
    failed: 0,
  });
});
