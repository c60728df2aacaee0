/**
 * Runs the conformance cases in workerd: bundles `worker.mjs` with esbuild,
 * starts it in Miniflare 3 (the last line that runs on Node 20; Miniflare 4
 * needs Node 22), calls it once, and reports each case as a `node:test` test.
 *
 * No `nodejs_compat` flag: the package must work in a plain Worker.
 *
 * @module
 */
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { plan, record } from "../_results.mjs";

// Imported dynamically: `deno task check` walks tests/ and cannot resolve this
// folder's own npm tooling through deno.json, but it leaves dynamic imports alone.
const { build } = await import("esbuild");
const { Miniflare } = await import("miniflare");

const { KILN_REDIS_URL, KILN_REDIS_TOKEN } = process.env;
if (!KILN_REDIS_URL || !KILN_REDIS_TOKEN) {
  throw new Error("KILN_REDIS_URL and KILN_REDIS_TOKEN must be set; run `deno task test:runtime`");
}

// Bundle the way wrangler does: ESM, browser platform, the `workerd` and `worker`
// export conditions first, so packages pick their Workers entry.
const bundle = await build({
  entryPoints: [fileURLToPath(new URL("./worker.mjs", import.meta.url))],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  write: false,
  logLevel: "error",
});

const miniflare = new Miniflare({
  modules: true,
  script: bundle.outputFiles[0].text,
  compatibilityDate: "2025-07-18",
  bindings: { KILN_REDIS_URL, KILN_REDIS_TOKEN },
});
after(() => miniflare.dispose());

const response = await miniflare.dispatchFetch("http://kiln.test/");
if (!response.ok) {
  throw new Error(`The worker answered ${response.status}: ${await response.text()}`);
}
/** @type {{ runtime: string; results: { suite: string; name: string; ok: boolean; error?: string; stack?: string }[] }} */
const { runtime, results } = await response.json();
console.log(`# ${runtime}`);

plan(results.length);
// Grouped by hand: Map.groupBy needs Node 21.
const bySuite = new Map();
for (const result of results) {
  bySuite.set(result.suite, [...(bySuite.get(result.suite) ?? []), result]);
}
for (const [suite, outcomes] of bySuite) {
  describe(suite, () => {
    for (const outcome of outcomes) {
      test(outcome.name, () => {
        record(suite, outcome.name, outcome.ok ? undefined : outcome.error);
        if (!outcome.ok) {
          // Report the worker's error, not a stack through this file.
          const error = new Error(outcome.error);
          error.stack = outcome.stack ?? outcome.error;
          throw error;
        }
      });
    }
  });
}
