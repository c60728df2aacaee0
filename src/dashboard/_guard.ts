/**
 * The dashboard's door: every request must pass `authorize`, and every POST
 * must come from the dashboard's own origin (CSRF).
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { GetConnInfo } from "hono/conninfo";
import { HTTPException } from "hono/http-exception";
import { isLoopbackAddress, isLoopbackHost } from "./_loopback.ts";

/**
 * Decides whether a request may see the dashboard: `true` allows, `false`
 * refuses with 403. It may throw an `HTTPException` (as Hono's `basicAuth`
 * and `jwt` middleware do) to answer with its own response, such as a 401
 * with `WWW-Authenticate`.
 */
export type DashboardAuthorize = (c: Context) => boolean | Promise<boolean>;

/** Builds the middleware that runs `authorize` (or the loopback rule) on every request. */
export function authorization(
  authorize: DashboardAuthorize | "local-only",
  getConnInfo: GetConnInfo | undefined,
): MiddlewareHandler {
  const allowed = authorize === "local-only" ? localOnly(getConnInfo) : authorize;
  return async function dashboardAuthorization(c, next) {
    if (await allowed(c) !== true) {
      throw new HTTPException(403, { message: "Not allowed to see this dashboard" });
    }
    await next();
  };
}

/**
 * Refuses a POST that another site could have sent: its `Origin` must be the
 * dashboard's own, or, when a browser sends none, `Sec-Fetch-Site` must say
 * `same-origin`. Scripts send `Origin` with the dashboard's URL themselves.
 */
export function sameOriginPosts(): MiddlewareHandler {
  return async function dashboardCsrf(c, next) {
    if (c.req.method !== "GET" && c.req.method !== "HEAD" && !sameOrigin(c)) {
      throw new HTTPException(403, {
        message: "Cross-site request refused: send Origin with the dashboard's own origin",
      });
    }
    await next();
  };
}

function sameOrigin(c: Context): boolean {
  const origin = c.req.header("Origin");
  if (origin === undefined) return c.req.header("Sec-Fetch-Site") === "same-origin";
  const own = new URL(c.req.url);
  if (origin === own.origin) return true;
  // Behind a proxy that ends TLS the app sees http://host while the browser says
  // https://host: the same host, only more secure, is still this dashboard.
  return own.protocol === "http:" && origin === `https://${own.host}`;
}

function localOnly(getConnInfo: GetConnInfo | undefined): DashboardAuthorize {
  if (getConnInfo === undefined) {
    throw new TypeError(
      'authorize "local-only" needs getConnInfo from your runtime\'s Hono adapter ' +
        "(hono/deno, hono/bun, @hono/node-server/conninfo): the peer address never comes from headers",
    );
  }
  return (c) => {
    let address: string | undefined;
    try {
      address = getConnInfo(c).remote.address;
    } catch {
      return false; // No connection info (a request made in-process): not known to be local.
    }
    return isLoopbackAddress(address) && isLoopbackHost(c.req.header("Host"));
  };
}
