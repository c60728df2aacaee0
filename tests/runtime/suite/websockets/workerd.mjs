/**
 * `ctx.serveWebSockets` in workerd. A Worker cannot listen on a port, and a
 * WebSocket accepted while serving one request cannot be written to from
 * another ("Cannot perform I/O on behalf of a different request"), so the app
 * runs the way Workers users host a hub: inside a Durable Object, where every
 * request of the object shares its sockets. Clients connect over a real socket
 * to Miniflare's own URL: the worker dials itself, and the request comes back
 * through Miniflare's entry into `route`, which forwards it to the object.
 *
 * The object runs in the same isolate as the worker, so it finds the case's
 * `setup` function in a module-level map by the server's id.
 *
 * @module
 */
import { Hono } from "hono";
import { upgradeWebSocket } from "hono/cloudflare-workers";

const PREFIX = "/__ws/";

/** @type {Map<string, Parameters<import("../cases/mod.mjs").CaseContext["serveWebSockets"]>[0]>} */
const setups = new Map();

/** The Durable Object hosting one case's app; bound as `KILN_WS` by workerd.test.mjs. */
export class KilnWebSockets {
  /** @type {Promise<{ app: Hono; release?: () => unknown }> | null} */
  #ready = null;

  /** @param {Request} request */
  async fetch(request) {
    const url = new URL(request.url);
    const [id, ...rest] = url.pathname.slice(PREFIX.length).split("/");
    this.#ready ??= (async () => {
      const setup = setups.get(id);
      if (!setup) throw new Error(`No WebSocket server ${id}`);
      const app = new Hono();
      const release = await setup({ app, upgradeWebSocket });
      return { app, release };
    })();
    const { app, release } = await this.#ready;
    if (rest.join("/") === "__close") {
      await release?.();
      return new Response(null, { status: 204 });
    }
    // The app sees its own paths (`/ws`), not the routing prefix.
    url.pathname = `/${rest.join("/")}`;
    return await app.fetch(new Request(url, request));
  }
}

/**
 * Forwards `/__ws/<id>/…` to that server's Durable Object.
 *
 * @param {Request} request
 * @param {{ KILN_WS: DurableObjectNamespace }} env
 * @returns {Promise<Response> | null} `null` for any other path.
 */
export function route(request, env) {
  const { pathname } = new URL(request.url);
  if (!pathname.startsWith(PREFIX)) return null;
  const id = pathname.slice(PREFIX.length).split("/")[0];
  return env.KILN_WS.get(env.KILN_WS.idFromName(id)).fetch(request);
}

/**
 * The WebSocket helpers of the case context for workerd.
 *
 * @param {{ KILN_WS: DurableObjectNamespace }} env
 * @param {string} origin Miniflare's own `http://127.0.0.1:<port>`.
 */
export function webSocketHelpers(env, origin) {
  return {
    WebSocket: globalThis.WebSocket,
    /** @type {import("../cases/mod.mjs").CaseContext["serveWebSockets"]} */
    serveWebSockets(setup) {
      const id = crypto.randomUUID();
      setups.set(id, setup);
      const url = `${origin}${PREFIX}${id}`;
      return Promise.resolve({
        url,
        async close() {
          try {
            const stub = env.KILN_WS.get(env.KILN_WS.idFromName(id));
            const response = await stub.fetch(`${url}/__close`, { method: "POST" });
            await response.body?.cancel();
          } finally {
            setups.delete(id);
          }
        },
      });
    },
    /** @type {import("../cases/mod.mjs").CaseContext["handshake"]} */
    async handshake(url, headers) {
      // In Workers, fetch() with `Upgrade: websocket` is the WebSocket handshake itself.
      const response = await fetch(url, { headers: { ...headers, Upgrade: "websocket" } });
      if (response.webSocket) {
        response.webSocket.accept();
        response.webSocket.close(1000, "handshake only");
      }
      await response.body?.cancel();
      return { status: response.status, headers: response.headers };
    },
  };
}
