/**
 * `ctx.serve` on Node: the case's Hono app on `@hono/node-server`, on a free
 * loopback port, as a Node user deploys Hono.
 *
 * @module
 */
import { serve as listen } from "@hono/node-server";
import { Hono } from "hono";

/** @type {import("../cases/mod.mjs").CaseContext["serve"]} */
export async function serve(setup, options = {}) {
  const app = new Hono();
  const release = await setup({ app });
  let server;
  const port = await new Promise((resolve) => {
    server = listen(
      { fetch: app.fetch, port: 0, hostname: options.hostname ?? "127.0.0.1" },
      (info) => {
        resolve(info.port);
      },
    );
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await release?.();
      // Node 20's close() waits for idle keep-alive sockets: drop them.
      server.closeAllConnections?.();
      await new Promise((done) => server.close(done));
    },
  };
}
