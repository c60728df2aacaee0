/**
 * `ctx.serve` in workerd. A Worker cannot listen on a port of its own, so each
 * case's app is served by this worker's own `fetch` handler under a prefix,
 * `/__http/<id>/`, and reached over a real socket at Miniflare's URL: the case
 * calls `fetch()` on that URL, the request leaves workerd, comes back in through
 * Miniflare's listening socket and lands in `route` below, in a fresh request
 * context, exactly as a client's request would. (`dispatchFetch` would skip the
 * socket and re-chunk bodies.)
 *
 * The app is given a base path rather than a rewritten URL so that what it
 * derives from the request URL (a tus `Location`) points back at it.
 *
 * Uploads need no Durable Object: their state lives in the store, in Redis or
 * in this isolate's memory, never in a socket one request holds.
 *
 * @module
 */
import { Hono } from "hono";

const PREFIX = "/__http/";

/** @type {Map<string, Hono>} */
const apps = new Map();

/**
 * Serves `/__http/<id>/…` with that case's app.
 *
 * @param {Request} request
 * @param {unknown} env
 * @param {ExecutionContext} executionContext
 * @returns {Promise<Response> | null} `null` for any other path.
 */
export function route(request, env, executionContext) {
  const { pathname } = new URL(request.url);
  if (!pathname.startsWith(PREFIX)) return null;
  const app = apps.get(pathname.slice(PREFIX.length).split("/")[0]);
  if (!app) {
    return Promise.resolve(new Response("No such server", { status: 404 }));
  }
  return Promise.resolve(app.fetch(request, env, executionContext));
}

/**
 * The `serve` of the case context for workerd.
 *
 * @param {string} origin Miniflare's own `http://127.0.0.1:<port>`.
 * @returns {import("../cases/mod.mjs").CaseContext["serve"]}
 */
export function serveOver(origin) {
  return async (setup) => {
    const id = crypto.randomUUID();
    const app = new Hono().basePath(`${PREFIX}${id}`);
    const release = await setup({ app });
    apps.set(id, app);
    return {
      url: `${origin}${PREFIX}${id}`,
      async close() {
        apps.delete(id);
        await release?.();
      },
    };
  };
}
