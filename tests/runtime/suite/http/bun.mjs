/**
 * `ctx.serve` on Bun: the case's Hono app on `Bun.serve`, on a free loopback port.
 *
 * @module
 */
import { Hono } from "hono";

/** @type {import("../cases/mod.mjs").CaseContext["serve"]} */
export async function serve(setup, options = {}) {
  const app = new Hono();
  const release = await setup({ app });
  const server = Bun.serve({
    port: 0,
    hostname: options.hostname ?? "127.0.0.1",
    fetch: app.fetch,
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    async close() {
      await release?.();
      await server.stop(true);
    },
  };
}
