/**
 * Pusher's protocol on Kiln's hub: unmodified pusher-js, Laravel Echo and the
 * `pusher` server SDKs talk to a {@linkcode Hub} as they would to Pusher
 * Channels, beside Kiln's own clients on the same channels.
 *
 * - {@linkcode pusher} serves the WebSocket (`/app/:key`, protocol 7) and the
 *   HTTP API (`/apps/:id/…`), mounted at the root of a host.
 * - {@linkcode pusherAuth} and {@linkcode pusherUserAuth} are the
 *   application's `/broadcasting/auth` and `/broadcasting/user-auth`.
 *
 * @example Mounting the server and the auth endpoint
 * ```ts
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "hono/deno";
 * import { Hub } from "@kiln/core/realtime";
 * import { pusher, pusherAuth } from "@kiln/core/realtime/pusher";
 * import assert from "node:assert/strict";
 *
 * const credentials = { id: "1", key: "app-key", secret: "app-secret" };
 * const hub = new Hub();
 * const app = new Hono();
 * app.route("/", pusher(hub, { apps: [credentials], upgradeWebSocket }));
 * app.post("/broadcasting/auth", pusherAuth({
 *   app: credentials,
 *   authenticate: () => null, // nobody is signed in here
 *   authorize: () => true,
 * }));
 * const refused = await app.request("/broadcasting/auth", {
 *   method: "POST",
 *   body: new URLSearchParams({ socket_id: "1.2", channel_name: "private-x" }),
 * });
 * assert.equal(refused.status, 403);
 * await hub.close();
 * ```
 *
 * @module
 */
export type { PusherApp, PusherAppLookup } from "./app.ts";
export {
  pusherAuth,
  type PusherAuthenticate,
  type PusherAuthOptions,
  pusherUserAuth,
  type PusherUserAuthOptions,
} from "./auth_endpoints.ts";
export { PusherCloseCode } from "./close_codes.ts";
export { pusher, type PusherOptions } from "./pusher.ts";
export {
  type PusherWebhook,
  pusherWebhook,
  type PusherWebhookDelivery,
  type PusherWebhookEvent,
} from "./webhooks.ts";
