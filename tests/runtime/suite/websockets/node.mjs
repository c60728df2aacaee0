/**
 * `ctx.serveWebSockets` on Node: `@hono/node-server` on a free port with
 * `@hono/node-ws` injected, as a Node user deploys Hono. Node 20 has no global
 * WebSocket, so the client is `ws`, the usual one on Node.
 *
 * @module
 */
import { serve } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import { Hono } from "hono";
export { handshake } from "./_handshake.mjs";

// Imported dynamically, like workerd.test.mjs's tooling: `deno task check` walks
// tests/ and resolves only what deno.json maps, and Kiln itself never uses `ws`.
export const { WebSocket } = await import("ws");

/** @type {import("../cases/mod.mjs").CaseContext["serveWebSockets"]} */
export async function serveWebSockets(setup) {
  const app = new Hono();
  const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app });
  const release = await setup({ app, upgradeWebSocket });
  let server;
  const port = await new Promise((resolve) => {
    server = serve(
      { fetch: app.fetch, port: 0, hostname: "127.0.0.1" },
      (info) => resolve(info.port),
    );
  });
  injectWebSocket(server);
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await release?.();
      // Node 20's close() waits for keep-alive sockets; drop them once the hub let go.
      server.closeAllConnections?.();
      await new Promise((done) => server.close(done));
    },
  };
}
