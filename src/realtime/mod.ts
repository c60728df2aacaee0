/**
 * Authenticated realtime channels over WebSocket, as Hono middleware: JWT
 * authentication before the upgrade, public, private and presence channels,
 * connection middleware, limits, token expiry with in-band refresh, and
 * fan-out across server instances through Redis.
 *
 * @example A hub with JWT-authenticated channels
 * ```ts ignore
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "hono/deno";
 * import { Hub, jwtAuth, realtime } from "@kiln/core/realtime";
 *
 * const hub = new Hub();
 * const app = new Hono();
 * app.get("/ws", realtime(hub, {
 *   upgradeWebSocket,
 *   auth: jwtAuth({ secret: Deno.env.get("JWT_SECRET")!, algorithms: ["HS256"] }),
 *   authorize: (user, channel) => channel.name === `private-user.${user.id}`,
 * }));
 * app.post("/paid/:user", async (c) => {
 *   await hub.broadcast(`private-user.${c.req.param("user")}`, "invoice.paid", { id: 7 });
 *   return c.body(null, 204);
 * });
 * Deno.serve(app.fetch);
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
export {
  AuthError,
  type AuthFailure,
  ConnectionClosedError,
  HubClosedError,
  SubscriptionRefusedError,
} from "./errors.ts";
export {
  type BunWebSocketHandlerLike,
  limitBunFrames,
  limitNodeFrames,
  type NodeWebSocketLike,
} from "./adapters/frame_limits.ts";
export { type BroadcastOptions, Hub, type HubOptions } from "./hub.ts";
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
