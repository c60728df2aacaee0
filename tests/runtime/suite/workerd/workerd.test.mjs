/**
 * Runs the conformance cases in workerd: bundles `worker.mjs` with esbuild,
 * starts it in Miniflare 3 (the last line that runs on Node 20; Miniflare 4
 * needs Node 22), calls it once, and reports each case as a `node:test` test.
 *
 * No `nodejs_compat` flag: the package must work in a plain Worker.
 *
 * @module
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { droppedCases, record } from "../_results.mjs";
import { SCHEDULED_EVENT } from "../cases/host_cases.mjs";

// Imported dynamically: `deno task check` walks tests/ and cannot resolve this
// folder's own npm tooling through deno.json, but it leaves dynamic imports alone.
const { build } = await import("esbuild");
const { Miniflare } = await import("miniflare");

const { KILN_REDIS_URL, KILN_REDIS_TOKEN } = process.env;
if (!KILN_REDIS_URL || !KILN_REDIS_TOKEN) {
  throw new Error(
    "KILN_REDIS_URL and KILN_REDIS_TOKEN must be set; run `deno task test:runtime`",
  );
}

/**
 * Replaces packages that only cases declared for Node and Bun import (see
 * cases/file_store.mjs and cases/upload_http.mjs) with a module that throws when
 * loaded. The file store needs node:fs, which a Worker without nodejs_compat
 * cannot load (esbuild cannot even bundle it for the browser platform), and
 * tus-js-client's builds need XMLHttpRequest or node:http. Those cases import
 * them lazily and are never run here; if one were, it would fail loudly.
 *
 * @param {string[]} names
 * @returns {import("esbuild").Plugin}
 */
function nodeAndBunOnly(names) {
  const filter = new RegExp(`^(${names.map((n) => n.replace(/[/.]/g, "\\$&")).join("|")})$`);
  return {
    name: "node-and-bun-only",
    setup(build) {
      build.onResolve({ filter }, ({ path }) => ({ path, namespace: "node-and-bun-only" }));
      build.onLoad({ filter: /.*/, namespace: "node-and-bun-only" }, ({ path }) => ({
        contents: `throw new Error(${JSON.stringify(`${path} cannot load in a Worker`)});`,
        loader: "js",
      }));
    },
  };
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
  plugins: [
    nodeAndBunOnly([
      "@kiln/core/upload/file-store",
      "tus-js-client",
      "pusher",
      // The dashboard's "local-only" case (cases/dashboard.mjs): peer addresses and raw sockets.
      "hono/bun",
      "@hono/node-server/conninfo",
      "node:net",
      "node:os",
    ]),
  ],
  write: false,
  logLevel: "error",
});

const options = {
  modules: true,
  script: bundle.outputFiles[0].text,
  compatibilityDate: "2025-07-18",
  bindings: {
    KILN_REDIS_URL,
    KILN_REDIS_TOKEN,
    KILN_SCHEDULED_NAMESPACE: `runtime-workerd-scheduled-${Date.now().toString(36)}`,
    KILN_DROP_CASE: [...droppedCases].join("\n"),
  },
  // Hosts the realtime cases' WebSocket servers (see ../websockets/workerd.mjs).
  durableObjects: { KILN_WS: "KilnWebSockets" },
};
const miniflare = new Miniflare(options);
after(() => miniflare.dispose());

const response = await miniflare.dispatchFetch("http://kiln.test/", {
  headers: { "x-kiln-origin": (await miniflare.ready).origin },
});
if (!response.ok) {
  throw new Error(
    `The worker answered ${response.status}: ${await response.text()}`,
  );
}
/** @type {{ runtime: string; results: { suite: string; name: string; ok: boolean; error?: string; stack?: string }[] }} */
const { runtime, results } = await response.json();
console.log(`# ${runtime}`);

// No count is taken here: run.ts expects the cases of the shared list (../expected.mjs),
// so one the worker never ran fails the run even though nothing below mentions it.
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

const SCHEDULED_KEY = `${SCHEDULED_EVENT.suite} › ${SCHEDULED_EVENT.name}`;
if (!droppedCases.has(SCHEDULED_KEY)) {
  describe(SCHEDULED_EVENT.suite, () => {
    test(SCHEDULED_EVENT.name, async () => {
      let failure;
      try {
        await scheduledEvents();
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        record(SCHEDULED_EVENT.suite, SCHEDULED_EVENT.name, failure);
      }
    });
  });
}

/**
 * Delivers cron triggers through workerd's own scheduled-event path
 * (Miniflare 3's `getWorker().scheduled()`, the call wrangler's
 * `/__scheduled` route makes), to the `scheduled` export Kiln's Cloudflare
 * adapter built, then reads back what the task did.
 */
async function scheduledEvents() {
  const deliver = async (iso) => {
    const worker = await miniflare.getWorker();
    const result = await worker.scheduled({
      scheduledTime: new Date(iso),
      cron: "* * * * *",
    });
    assert.equal(result.outcome, "ok", `the scheduled event at ${iso}`);
  };
  const isolate = async () =>
    await (await miniflare.dispatchFetch("http://kiln.test/isolate")).text();

  const firstIsolate = await isolate();
  await deliver("2025-06-02T12:00:00Z"); // due: every five minutes
  await deliver("2025-06-02T12:00:00Z"); // delivered again: a duplicate
  await deliver("2025-06-02T12:02:00Z"); // no occurrence in the minute before it
  await deliver("2025-06-02T12:05:00Z"); // due
  // Reloading the worker starts a fresh isolate, with none of the scheduler's memory:
  // only the onOneServer() claim in Redis stops the repeat.
  await miniflare.setOptions(options);
  assert.notEqual(
    await isolate(),
    firstIsolate,
    "setOptions() should start a fresh isolate",
  );
  await deliver("2025-06-02T12:05:00Z");

  const response = await miniflare.dispatchFetch(
    "http://kiln.test/scheduled-runs",
  );
  assert.equal(response.status, 200);
  const { runs, history } = await response.json();
  assert.deepEqual(runs, [
    "2025-06-02T12:00:00.000Z",
    "2025-06-02T12:05:00.000Z",
  ]);
  assert.deepEqual(
    history.map((
      run,
    ) => [new Date(run.scheduledAt).toISOString(), run.status, run.attempts]),
    [
      ["2025-06-02T12:05:00.000Z", "succeeded", 1],
      ["2025-06-02T12:00:00.000Z", "succeeded", 1],
    ],
  );
}
