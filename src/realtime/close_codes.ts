/**
 * Every WebSocket close code the realtime server uses, in one place.
 *
 * @module
 */

/**
 * The close codes a realtime connection can end with. Codes 4000–4999 are
 * Kiln's own (the range RFC 6455 leaves to applications); the three standard
 * codes are listed so a client can switch on one table.
 *
 * | code | name | meaning | should the client reconnect? |
 * | --- | --- | --- | --- |
 * | 1000 | `Normal` | closed on purpose (the client left, or the server closed the connection) | no |
 * | 1001 | `GoingAway` | the server is shutting down (`hub.close()`), or a send to the socket failed | yes, with back-off |
 * | 1009 | `MessageTooBig` | the runtime refused a frame over its own cap, on the frame's header (see `limitNodeFrames`, `limitBunFrames`) | no (fix the client) |
 * | 4000 | `Refused` | a connection middleware refused the connection | no |
 * | 4001 | `TokenExpired` | the token expired without an in-band refresh | yes, with a new token |
 * | 4002 | `IdleTimeout` | nothing arrived from the client within the idle timeout | yes |
 * | 4008 | `RateLimited` | the client kept sending above its rate limit | yes, after a pause |
 * | 4009 | `MessageTooLarge` | a message was larger than `maxMessageBytes` | no (fix the client) |
 * | 4010 | `SlowConsumer` | the outgoing buffer passed `maxBufferedBytes` | yes |
 *
 * @example Deciding whether to reconnect
 * ```ts
 * import { CloseCode } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * function shouldReconnect(code: number): boolean {
 *   return code !== CloseCode.Normal && code !== CloseCode.Refused &&
 *     code !== CloseCode.MessageTooLarge && code !== CloseCode.MessageTooBig;
 * }
 * assert.equal(shouldReconnect(CloseCode.TokenExpired), true);
 * ```
 */
export const CloseCode = {
  /** Closed on purpose. */
  Normal: 1000,
  /** The server is shutting down, or a send to the socket failed. */
  GoingAway: 1001,
  /** The runtime refused a frame larger than its cap before reading it (RFC 6455's "Message Too Big"). */
  MessageTooBig: 1009,
  /** A connection middleware refused the connection. */
  Refused: 4000,
  /** The token expired and was not refreshed in time. */
  TokenExpired: 4001,
  /** Nothing arrived from the client within the idle timeout. */
  IdleTimeout: 4002,
  /** The client kept sending above its rate limit. */
  RateLimited: 4008,
  /** A message was larger than the configured maximum. */
  MessageTooLarge: 4009,
  /** The client did not read fast enough and its outgoing buffer passed the limit. */
  SlowConsumer: 4010,
} as const;

/** One of the values of {@linkcode CloseCode}. */
export type CloseCode = typeof CloseCode[keyof typeof CloseCode];
