/**
 * `ctx.serveWebSockets` on Bun: `Bun.serve` with `hono/bun`'s `upgradeWebSocket`
 * and `websocket` handler; Bun's own global WebSocket is the client.
 *
 * @module
 */
import { Hono } from "hono";
import { upgradeWebSocket, websocket } from "hono/bun";
export { handshake } from "./_handshake.mjs";

export const WebSocket = globalThis.WebSocket;

/** @type {import("../cases/mod.mjs").CaseContext["serveWebSockets"]} */
export async function serveWebSockets(setup) {
  const app = new Hono();
  const release = await setup({ app, upgradeWebSocket });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch, websocket });
  return {
    url: `http://127.0.0.1:${server.port}`,
    async close() {
      await release?.();
      await server.stop(true);
    },
  };
}
