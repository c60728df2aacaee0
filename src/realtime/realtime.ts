/**
 * The Hono middleware that authenticates a WebSocket upgrade and hands the
 * socket to a {@linkcode Hub}.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { UpgradeWebSocket, WSContext, WSEvents } from "hono/ws";
import type { AuthSession, WebSocketAuth } from "./auth.ts";
import { CloseCode } from "./close_codes.ts";
import type {
  Authorize,
  ClientEventFilter,
  ConnectionPolicy as SessionPolicy,
  TransportConnection,
} from "./connection.ts";
import type { ConnectionSlot } from "./connection_slots.ts";
import { AuthError } from "./errors.ts";
import type { Hub } from "./hub.ts";
import { extractToken } from "./_token.ts";
import { dropOnProtocolError } from "./adapters/node.ts";
import { answerClose, withProtocol } from "./adapters/workers.ts";

/** The per-connection rate limit: a token bucket. */
export interface RealtimeRateLimit {
  /** Sustained messages per second. */
  messagesPerSecond: number;
  /**
   * Messages allowed at once before the rate applies.
   * @default messagesPerSecond * 2
   */
  burst?: number;
  /**
   * Dropped messages (each answered with a `rate_limited` error) tolerated
   * before the connection closes with `CloseCode.RateLimited`; a second
   * without a drop forgives them.
   * @default 10
   */
  maxViolations?: number;
}

/** Options for {@linkcode realtime}. */
export interface RealtimeOptions {
  /**
   * The runtime's Hono WebSocket helper: `upgradeWebSocket` from `hono/deno`,
   * `hono/bun`, `hono/cloudflare-workers`, or `createNodeWebSocket()` of `@hono/node-ws`.
   */
  // deno-lint-ignore no-explicit-any
  upgradeWebSocket: UpgradeWebSocket<any, any, any>;
  /** How tokens are verified, usually {@linkcode jwtAuth}. */
  auth: WebSocketAuth;
  /**
   * Decides `private-…` and `presence-…` subscriptions; for presence channels an
   * object return value is the member's info.
   * @default refuses every private and presence channel
   */
  authorize?: Authorize;
  /**
   * Origins allowed to open a connection (exact `scheme://host[:port]`), or `"*"`.
   * A request without `Origin` (not a browser) is allowed; its token still has to be valid.
   * @default the request's own host only
   */
  origins?: readonly string[] | "*";
  /** Name of a cookie that may carry the token. @default undefined (cookies not read) */
  cookie?: string;
  /**
   * Accept the token in the query string, under this parameter name (or `token`
   * for `true`). Off by default: URLs end up in logs.
   * @default false
   */
  queryToken?: boolean | string;
  /** The rate limit, or `false` for none. @default { messagesPerSecond: 20, burst: 40 } */
  rateLimit?: RealtimeRateLimit | false;
  /** Largest message accepted, in bytes; larger ones close the connection. @default 16_384 */
  maxMessageBytes?: number;
  /** Most channels one connection may be subscribed to. @default 100 */
  maxSubscriptions?: number;
  /**
   * Allow client events (`publish` of `client-…` events) on private and presence
   * channels, for all of them or as decided by a function.
   * @default false
   */
  clientEvents?: boolean | ClientEventFilter;
  /** Close connections that sent nothing (not even a ping) for this long. @default 60_000 */
  idleTimeout?: number;
  /** Send `token_expiring` this long before the token expires. @default 60_000 */
  expiryWarning?: number;
  /** Close a consumer whose outgoing buffer passes this many bytes. @default 1_048_576 */
  maxBufferedBytes?: number;
  /** The realm named in `WWW-Authenticate`. @default "kiln" */
  realm?: string;
}

/**
 * Creates the Hono middleware that upgrades authenticated WebSocket requests
 * and attaches them to `hub`. It decides before upgrading: an `Origin`
 * outside `origins` gets 403, a missing or invalid token 401 with
 * `WWW-Authenticate`, a request that is not an upgrade 426, a user already
 * holding the hub's `maxConnectionsPerUser` connections 429, a key server
 * that cannot be reached or a closed hub 503.
 *
 * Each refusal is thrown as Hono's `HTTPException` (its `cause` is the
 * `AuthError` where there is one), so the application's `app.onError` can
 * shape the answer. Without an `onError`, Hono sends the exception's response:
 * a plain-text body with `WWW-Authenticate` on a 401, `Retry-After` on a 503
 * from the key server, and `Upgrade: websocket` on a 426.
 *
 * @param hub The hub the connections join.
 * @param options The helper, the authentication and the limits.
 * @returns The middleware.
 * @throws {TypeError} When `upgradeWebSocket` or `auth` is missing.
 * @throws {RangeError} When a limit is not a positive number.
 *
 * @example Serving channels on Deno, refusing before the upgrade
 * ```ts
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "hono/deno";
 * import { Hub, jwtAuth, realtime } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * const hub = new Hub();
 * const app = new Hono();
 * app.get("/ws", realtime(hub, {
 *   upgradeWebSocket,
 *   auth: jwtAuth({ secret: "an-hs256-secret-of-at-least-32-bytes!", algorithms: ["HS256"] }),
 *   authorize: (user, channel) => channel.name === `private-user.${user.id}`,
 *   origins: ["https://app.example.com"],
 * }));
 * // Deno.serve(app.fetch) serves it; no socket is opened for these:
 * const upgrade = (origin: string) => ({ headers: { upgrade: "websocket", origin } });
 * const anonymous = await app.request("/ws", upgrade("https://app.example.com"));
 * assert.equal(anonymous.status, 401);
 * assert.equal(anonymous.headers.get("www-authenticate"), 'Bearer realm="kiln"');
 * assert.equal((await app.request("/ws", upgrade("https://evil.example"))).status, 403);
 * await hub.close();
 * ```
 */
export function realtime(hub: Hub, options: RealtimeOptions): MiddlewareHandler {
  if (typeof options?.upgradeWebSocket !== "function") {
    throw new TypeError("realtime needs the runtime's upgradeWebSocket");
  }
  if (typeof options.auth?.authenticate !== "function") {
    throw new TypeError("realtime needs an auth scheme, such as jwtAuth()");
  }
  const policy = resolvePolicy(options);
  const origins = options.origins ?? null;
  const allowed = Array.isArray(origins) ? new Set(origins) : null;
  const sources = {
    cookie: options.cookie ?? null,
    query: options.queryToken === true
      ? "token"
      : typeof options.queryToken === "string"
      ? options.queryToken
      : null,
  };
  const realm = options.realm ?? "kiln";
  const upgradeWebSocket = options.upgradeWebSocket;

  return async function realtimeMiddleware(c, next) {
    const origin = c.req.header("origin");
    if (origin !== undefined && origins !== "*" && !originAllowed(origin, allowed, c)) {
      // Cross-site WebSocket hijacking: a page elsewhere riding the user's cookie.
      throw refusal(403, "Origin not allowed");
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw refusal(426, "Expected a WebSocket upgrade", { Upgrade: "websocket" });
    }
    const extracted = extractToken(c, sources);
    if (extracted.token === null) {
      if (extracted.badProtocol) throw refusal(400, extracted.badProtocol);
      throw unauthorized(realm, null);
    }
    let session: AuthSession;
    try {
      session = await options.auth.authenticate(extracted.token);
    } catch (error) {
      if (error instanceof AuthError && error.reason === "key_unavailable") {
        // Our key server is down, not the token bad: a 401 would make clients drop a good token.
        throw refusal(503, "Signing keys unavailable", { "Retry-After": "5" }, error);
      }
      throw unauthorized(realm, error);
    }
    // The per-user cap, decided before upgrading so a refusal costs no socket.
    let slot: ConnectionSlot | null;
    try {
      slot = await hub.admit(session.user.id);
    } catch (error) {
      throw refusal(503, "The server is shutting down", {}, error);
    }
    if (slot === null) throw refusal(429, "Too many connections for this user");
    const admitted = slot;
    let connection: TransportConnection | null = null;
    let refused = false;
    const attach = (ws: WSContext): TransportConnection | null => {
      if (connection || refused) return connection;
      dropOnProtocolError(ws);
      try {
        connection = hub.connect(ws, session, policy, admitted);
      } catch {
        // The hub closed, or the slot went back while the socket took too long to open.
        refused = true;
        admitted.release();
        ws.close(CloseCode.GoingAway, "server shutting down");
      }
      return connection;
    };
    // Workers' adapter never calls onOpen, so the first event of any kind attaches.
    const events: WSEvents = {
      onOpen: (_event, ws) => void attach(ws),
      onMessage: (event, ws) => attach(ws)?.receive(event.data),
      onClose: (event, ws) => {
        if (connection) connection.closedByPeer(event.code, event.reason);
        else admitted.release(); // closed before it was ever attached
        answerClose(ws, event.code);
      },
    };
    // Read before upgrading: Deno refuses access to a request once it was upgraded.
    const offered = c.req.header("sec-websocket-protocol");
    let response: Response | void;
    try {
      response = await upgradeWebSocket(() => events)(c, next);
    } catch (error) {
      admitted.release();
      throw error;
    }
    // No upgrade happened (the helper passed the request on); a socket that
    // never opens otherwise gives its slot back after the admission timeout.
    if (response === undefined) admitted.release();
    return response instanceof Response ? withProtocol(response, offered) : response;
  };
}

/**
 * Resolves the limits of {@linkcode RealtimeOptions} into a connection policy,
 * every field filled in; the Pusher protocol resolves its own with it.
 */
export function resolvePolicy(options: Omit<RealtimeOptions, "upgradeWebSocket">): SessionPolicy {
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const result = value ?? fallback;
    if (!(Number.isFinite(result) && result > 0)) {
      throw new RangeError(`${name} must be a positive number, got ${value}`);
    }
    return result;
  };
  const limit = options.rateLimit === undefined
    ? { messagesPerSecond: 20, burst: 40 }
    : options.rateLimit;
  let rateLimit: SessionPolicy["rateLimit"] = null;
  if (limit) {
    const messagesPerSecond = positive(
      "rateLimit.messagesPerSecond",
      limit.messagesPerSecond,
      NaN,
    );
    rateLimit = {
      messagesPerSecond,
      burst: positive("rateLimit.burst", limit.burst, messagesPerSecond * 2),
      maxViolations: positive("rateLimit.maxViolations", limit.maxViolations, 10),
    };
  }
  return {
    auth: options.auth,
    authorize: options.authorize ?? (() => false),
    clientEvents: options.clientEvents ?? false,
    rateLimit,
    maxMessageBytes: positive("maxMessageBytes", options.maxMessageBytes, 16_384),
    maxSubscriptions: positive("maxSubscriptions", options.maxSubscriptions, 100),
    idleTimeout: positive("idleTimeout", options.idleTimeout, 60_000),
    expiryWarning: positive("expiryWarning", options.expiryWarning, 60_000),
    maxBufferedBytes: positive("maxBufferedBytes", options.maxBufferedBytes, 1_048_576),
  };
}

function originAllowed(origin: string, allowed: Set<string> | null, c: Context): boolean {
  if (allowed) return allowed.has(origin);
  try {
    const host = c.req.header("host") ?? new URL(c.req.url).host;
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

function unauthorized(realm: string, error: unknown): HTTPException {
  // RFC 6750: no error attribute when no credentials were sent at all.
  let challenge = `Bearer realm="${realm}"`;
  if (error !== null) {
    const description = error instanceof AuthError ? error.message : "The token is not valid";
    challenge += `, error="invalid_token", error_description="${description}"`;
  }
  return refusal(401, "Unauthorized", { "WWW-Authenticate": challenge }, error ?? undefined);
}

/**
 * A refusal before the upgrade, as Hono's `HTTPException`: an application's
 * `app.onError` can reshape it; without one, Hono answers with `res`, the
 * plain-text answer Kiln always gave.
 */
function refusal(
  status: ContentfulStatusCode,
  message: string,
  headers: Record<string, string> = {},
  cause?: unknown,
): HTTPException {
  const res = new Response(message, {
    status,
    headers: { "Content-Type": "text/plain; charset=UTF-8", ...headers },
  });
  return new HTTPException(status, { message, res, cause });
}
