/**
 * A module worker that runs every conformance case inside workerd and answers
 * with the outcomes as JSON. `workerd.test.mjs` bundles it with esbuild (so
 * `@kiln/core` is resolved by name, as a Workers user's bundler would) and
 * turns each outcome into a `node:test` test.
 *
 * @module
 */
import { Redis } from "@upstash/redis/cloudflare";
import { suites } from "../cases/mod.mjs";

export default {
  /**
   * @param {Request} _request
   * @param {{ KILN_REDIS_URL: string; KILN_REDIS_TOKEN: string }} env
   */
  async fetch(_request, env) {
    /** @type {import("../cases/mod.mjs").CaseContext} */
    const ctx = {
      runtime: "workerd",
      redisUrl: env.KILN_REDIS_URL,
      redisToken: env.KILN_REDIS_TOKEN,
      namespace: `runtime-workerd-${Date.now().toString(36)}`,
      Redis,
    };
    const results = [];
    // One after another, like the other runners, so cases never race on shared state.
    for (const suite of suites) {
      for (const { name, run } of suite.cases) {
        const started = Date.now();
        try {
          await run(ctx);
          results.push({ suite: suite.name, name, ok: true, ms: Date.now() - started });
        } catch (error) {
          const message = error instanceof Error
            ? `${error.name}: ${error.message}`
            : String(error);
          // The stack is workerd's, pointing into the bundle: still the best lead to the line.
          const stack = error instanceof Error ? error.stack : undefined;
          results.push({
            suite: suite.name,
            name,
            ok: false,
            error: message,
            stack,
            ms: Date.now() - started,
          });
        }
      }
    }
    return Response.json({ runtime: navigator.userAgent, results });
  },
};
