/**
 * Runs every conformance case under `node --test` and `bun test`, importing the
 * built package by its name from this directory's node_modules (installed by
 * `run.ts`). Run it through `deno task test:runtime`, which also starts Redis
 * and the HTTP gateway and passes `KILN_REDIS_URL` and `KILN_REDIS_TOKEN`.
 *
 * @module
 */
import { describe, test } from "node:test";
import { Redis } from "@upstash/redis";
import { runsOn, suites } from "./cases/mod.mjs";
import { droppedCases, record } from "./_results.mjs";
import { tempDirectory } from "./_temp_directory.mjs";

const runtime = typeof globalThis.Bun === "undefined" ? "node" : "bun";
// Each runtime's own way to listen with Hono's WebSocket helper (see websockets/),
// and to serve plain HTTP (see http/).
const webSockets = await import(`./websockets/${runtime}.mjs`);
const http = await import(`./http/${runtime}.mjs`);
const { KILN_REDIS_URL, KILN_REDIS_TOKEN } = process.env;
if (!KILN_REDIS_URL || !KILN_REDIS_TOKEN) {
  // Failing beats skipping: a green run without Redis would prove nothing.
  throw new Error("KILN_REDIS_URL and KILN_REDIS_TOKEN must be set; run `deno task test:runtime`");
}

/** @type {import("./cases/mod.mjs").CaseContext} */
const ctx = {
  runtime,
  redisUrl: KILN_REDIS_URL,
  redisToken: KILN_REDIS_TOKEN,
  namespace: `runtime-${runtime}-${Date.now().toString(36)}`,
  Redis,
  serveWebSockets: webSockets.serveWebSockets,
  WebSocket: webSockets.WebSocket,
  handshake: webSockets.handshake,
  serve: http.serve,
  tempDirectory,
};

for (const suite of suites) {
  describe(suite.name, () => {
    for (const declared of suite.cases) {
      const { name, run } = declared;
      // Declared for other runtimes only: run.ts lists it as excluded, with the reason.
      if (!runsOn(declared, runtime)) continue;
      // run.ts --self-check: this case goes missing, and run.ts must notice.
      if (droppedCases.has(`${suite.name} › ${name}`)) continue;
      test(name, async () => {
        try {
          await run(ctx);
        } catch (error) {
          record(suite.name, name, error);
          throw error;
        }
        record(suite.name, name);
      });
    }
  });
}
