/**
 * Authenticated realtime channels over WebSocket, as Hono middleware: JWT
 * authentication before the upgrade, public, private and presence channels,
 * connection middleware, limits, token expiry with in-band refresh, and
 * fan-out across server instances through Redis.
 *
 * @example A hub with JWT-authenticated channels
 * ```ts
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "hono/deno";
 * import { SignJWT } from "jose";
 * import { Hub, jwtAuth, realtime, RealtimeClient } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * const secret = "an-hs256-secret-of-at-least-32-bytes!"; // Deno.env.get("JWT_SECRET")!
 * const hub = new Hub();
 * const app = new Hono();
 * app.get("/ws", realtime(hub, {
 *   upgradeWebSocket,
 *   auth: jwtAuth({ secret, algorithms: ["HS256"] }),
 *   authorize: (user, channel) => channel.name === `private-user.${user.id}`,
 * }));
 * app.post("/paid/:user", async (c) => {
 *   await hub.broadcast(`private-user.${c.req.param("user")}`, "invoice.paid", { id: 7 });
 *   return c.body(null, 204);
 * });
 * const server = Deno.serve({ port: 0, onListen() {} }, app.fetch);
 * const base = `localhost:${server.addr.port}`;
 *
 * // A user's browser: a token from your login, then the channel.
 * const token = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("42")
 *   .setExpirationTime("1h").sign(new TextEncoder().encode(secret));
 * const client = new RealtimeClient({ url: `ws://${base}/ws`, token: () => token });
 * await client.connect();
 * await client.subscribe("private-user.42");
 * const paid = new Promise((resolve) => client.on("message", resolve));
 * await (await fetch(`http://${base}/paid/42`, { method: "POST" })).body?.cancel();
 * assert.deepEqual(await paid, {
 *   type: "message", channel: "private-user.42", event: "invoice.paid", data: { id: 7 },
 * });
 * client.close();
 * await hub.close();
 * await server.shutdown();
 * ```
 *
 * @module
 */
export type { AuthSession, RealtimeUser, WebSocketAuth } from "./auth.ts";
export type { Clock } from "../clock.ts";
export { CloseCode } from "./close_codes.ts";
export type {
  Authorize,
  AuthorizeResult,
  ClientEventFilter,
  CloseInfo,
  Connection,
  ConnectionMiddleware,
} from "./connection.ts";
// Errors are exported from `@kiln/core/errors` only; an auth scheme names its failures with this type.
export type { AuthFailure } from "./errors.ts";
export {
  type BunWebSocketHandlerLike,
  limitBunFrames,
  limitNodeFrames,
  type NodeWebSocketLike,
} from "./adapters/frame_limits.ts";
export { type BroadcastOptions, Hub, type HubEvent, type HubOptions } from "./hub.ts";
export { type JwtAlgorithm, jwtAuth, type JwtAuthOptions } from "./jwt_auth.ts";
export {
  CHANNEL_NAME_PATTERN,
  type ChannelInfo,
  channelInfo,
  type ChannelKind,
  type ClientMessage,
  type PresenceMember,
  RealtimeWireErrorCode,
  type ServerMessage,
} from "./protocol.ts";
export { realtime, type RealtimeOptions, type RealtimeRateLimit } from "./realtime.ts";
export { RedisFanout, type RedisFanoutOptions } from "./redis_fanout.ts";
export {
  type MessageOf,
  RealtimeClient,
  type RealtimeClientOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./client.ts";
