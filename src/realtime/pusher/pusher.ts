/**
 * `pusher()`: the Pusher protocol's WebSocket and HTTP API as one Hono app.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { RedisError } from "../../errors.ts";
import { HubClosedError } from "../errors.ts";
import type { UpgradeWebSocket } from "hono/ws";
import { type Clock, systemClock } from "../../clock.ts";
import type { ConnectionPolicy } from "../connection.ts";
import type { Hub } from "../hub.ts";
import { type RealtimeRateLimit, resolvePolicy } from "../realtime.ts";
import { appLookup, type PusherApp, type PusherAppLookup } from "./app.ts";
import { httpApi } from "./_http_api.ts";
import { pusherSocket } from "./_socket.ts";
import { grantedInfo } from "./_wire.ts";
import type { Queue } from "../../queue/queue.ts";
import { fromHubEvent, WebhookBatcher } from "./_webhook_batcher.ts";
import { SubscriptionCounts } from "./_subscription_counts.ts";

/** Options for {@linkcode pusher}. */
export interface PusherOptions {
  /** The apps served: a list of `{ id, key, secret }`, or a function that looks one up. */
  apps: readonly PusherApp[] | PusherAppLookup;
  /**
   * The runtime's Hono WebSocket helper: `upgradeWebSocket` from `hono/deno`,
   * `hono/bun`, `hono/cloudflare-workers`, or `createNodeWebSocket()` of `@hono/node-ws`.
   */
  // deno-lint-ignore no-explicit-any
  upgradeWebSocket: UpgradeWebSocket<any, any, any>;
  /**
   * After this long without a frame from a client the server sends
   * `pusher:ping`; announced to clients (in whole seconds) as `activity_timeout`.
   * @default 30_000
   */
  activityTimeout?: number;
  /** How long a client has to answer the server's ping before it is closed (4201). @default 30_000 */
  pongTimeout?: number;
  /**
   * The per-connection rate limit of incoming frames (client events, subscribes, pings).
   * @default { messagesPerSecond: 20, burst: 40 }
   */
  rateLimit?: RealtimeRateLimit | false;
  /** Largest frame accepted, in bytes; larger ones close the connection (4300). @default 16_384 */
  maxMessageBytes?: number;
  /** Most channels one connection may be subscribed to. @default 100 */
  maxSubscriptions?: number;
  /** Close a client whose outgoing buffer passes this many bytes (4100). @default 1_048_576 */
  maxBufferedBytes?: number;
  /** Largest `data` of one event published through the HTTP API, in bytes (Pusher's limit). @default 10_240 */
  maxEventBytes?: number;
  /**
   * Delivers the apps' webhooks (`PusherApp.webhooks`; `apps` must be a list)
   * through `queue`, whose workers run {@linkcode pusherWebhook}; events are
   * gathered for `interval` milliseconds into one batch.
   * @default no webhooks
   */
  webhooks?: { queue: Queue; interval?: number };
  /**
   * Least time between two `pusher_internal:subscription_count` events of one
   * channel (apps with `subscriptionCount: true`): the first change is told at
   * once, later ones within the interval together at its end.
   * @default 5_000
   */
  subscriptionCountInterval?: number;
  /** Time, for the activity timer and `auth_timestamp`. @default systemClock */
  clock?: Clock;
  /** Called with errors the server recovers from. @default console.error */
  onError?: (error: unknown, context: string) => void;
}

/**
 * Serves Pusher's protocol 7 on a {@linkcode Hub}: `GET /app/:key` for
 * pusher-js and Laravel Echo, and the HTTP API (`/apps/:id/events`,
 * `/batch_events`, `/channels`, `/channels/:name`, `/channels/:name/users`,
 * `/users/:id/terminate_connections`) for the `pusher` server SDKs. Mount it
 * at the root of a host: `app.route("/", pusher(hub, options))`.
 *
 * Subscribers of both protocols share the hub's channels and presence: a
 * `hub.broadcast()` reaches pusher-js and Kiln clients alike. Every app served
 * by one hub shares its channels too; give each tenant its own hub.
 *
 * HTTP API requests are refused with 401 when their signature is missing,
 * forged, for another body or more than 600 s old; bad bodies get 400, bodies
 * over the limits 413, an unknown app id 404.
 *
 * @param hub The hub the connections join.
 * @param options The apps, the runtime's WebSocket helper and the limits.
 * @returns A Hono app.
 * @throws {TypeError} When `apps` or `upgradeWebSocket` is missing or an app lacks a field.
 * @throws {RangeError} When a limit is not a positive number.
 *
 * @example Serving pusher-js on Deno, refusing an unsigned publish
 * ```ts
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "hono/deno";
 * import { Hub } from "@kiln/core/realtime";
 * import { pusher } from "@kiln/core/realtime/pusher";
 * import assert from "node:assert/strict";
 *
 * const hub = new Hub();
 * const app = new Hono();
 * app.route("/", pusher(hub, {
 *   apps: [{ id: "1", key: "app-key", secret: "app-secret" }],
 *   upgradeWebSocket,
 * }));
 * // Deno.serve(app.fetch) serves it; an unsigned publish is refused:
 * const response = await app.request("/apps/1/events", {
 *   method: "POST",
 *   body: JSON.stringify({ name: "greet", channel: "news", data: "{}" }),
 * });
 * assert.equal(response.status, 401);
 * await hub.close();
 * ```
 */
export function pusher(hub: Hub, options: PusherOptions): Hono {
  if (typeof options?.upgradeWebSocket !== "function") {
    throw new TypeError("pusher needs the runtime's upgradeWebSocket");
  }
  const lookup = appLookup(options.apps);
  const positive = (name: string, value: number | undefined, fallback: number) => {
    const result = value ?? fallback;
    if (!(Number.isFinite(result) && result > 0)) {
      throw new RangeError(`${name} must be a positive number, got ${value}`);
    }
    return result;
  };
  const activityTimeout = positive("activityTimeout", options.activityTimeout, 30_000);
  const pongTimeout = positive("pongTimeout", options.pongTimeout, 30_000);
  const clock = options.clock ?? systemClock;
  const onError = options.onError ?? ((error, context) => {
    console.error(`[kiln pusher] ${context}:`, error);
  });
  const base = resolvePolicy({
    // Pusher clients never refresh a token: their connections have none.
    auth: { authenticate: () => Promise.reject(new Error("No tokens on Pusher connections")) },
    authorize: (_user, channel, { data }) => grantedInfo(data, channel.name),
    rateLimit: options.rateLimit,
    maxMessageBytes: options.maxMessageBytes,
    maxSubscriptions: options.maxSubscriptions,
    maxBufferedBytes: options.maxBufferedBytes,
    idleTimeout: activityTimeout + pongTimeout,
  });
  const batcher = webhookBatcher(hub, options, clock, onError, positive);
  const counts = new SubscriptionCounts(
    hub,
    clock,
    positive("subscriptionCountInterval", options.subscriptionCountInterval, 5_000),
    onError,
  );
  const withEvents: ConnectionPolicy = { ...base, clientEvents: true };
  const withoutEvents: ConnectionPolicy = { ...base, clientEvents: false };

  const app = new Hono();
  app.get("/app/:key", async (c) => {
    const found = await lookup({ key: c.req.param("key") });
    const response = await pusherSocket(c, found, {
      hub,
      upgradeWebSocket: options.upgradeWebSocket,
      clock,
      activityTimeout,
      policyFor: (app) => (app.clientEvents === false ? withoutEvents : withEvents),
      onClientEvent: batcher
        ? (event) => batcher.add({ name: "client_event", ...event })
        : undefined,
      counts,
    });
    return response ?? c.text("Expected a WebSocket upgrade", 426, { Upgrade: "websocket" });
  });
  app.route(
    "/",
    httpApi({
      hub,
      lookup,
      clock,
      maxEventBytes: positive("maxEventBytes", options.maxEventBytes, 10_240),
    }),
  );
  // One error boundary: refusals answer with their status, anything else is a 500.
  app.onError((error, c) => {
    if (error instanceof HTTPException) return c.text(error.message, error.status);
    // The server SDKs retry on 5xx: say when the hub or its Redis cannot take the event now.
    if (error instanceof HubClosedError) return c.text("The server is shutting down", 503);
    onError(error, "http api");
    if (error instanceof RedisError) {
      return c.text("Redis is unavailable", 503, { "Retry-After": "5" });
    }
    return c.text("Internal server error", 500);
  });
  return app;
}

/** Watches the hub for the apps' webhooks, when any app has one. */
function webhookBatcher(
  hub: Hub,
  options: PusherOptions,
  clock: Clock,
  onError: (error: unknown, context: string) => void,
  positive: (name: string, value: number | undefined, fallback: number) => number,
): WebhookBatcher | null {
  const apps = Array.isArray(options.apps) ? options.apps as readonly PusherApp[] : [];
  const wanted = apps.some((app) => (app.webhooks?.length ?? 0) > 0);
  if (!wanted && !options.webhooks) return null;
  if (!options.webhooks?.queue) throw new TypeError("Webhooks need webhooks.queue");
  if (!wanted) throw new TypeError("webhooks.queue is set but no app (in a list) has webhooks");
  const batcher = new WebhookBatcher({
    queue: options.webhooks.queue,
    clock,
    interval: positive("webhooks.interval", options.webhooks.interval, 1_000),
    apps,
    onError,
  });
  // Channels named by Pusher's own machinery are not the application's.
  hub.watch((event) => {
    if (event.type === "subscription_count" || event.channel.startsWith("#")) return;
    batcher.add(fromHubEvent(event));
  });
  return batcher;
}
