/**
 * The close and error codes of Pusher's protocol that Kiln sends.
 *
 * @module
 */
import { CloseCode } from "../close_codes.ts";

/**
 * The codes a Pusher connection closes with (and `pusher:error` carries), as
 * pusher-js acts on them: 4000–4099 it does not reconnect, 4100–4199 it
 * reconnects with back-off, 4200–4299 at once, 4300 and up it does not.
 *
 * | code | name | when |
 * | --- | --- | --- |
 * | 4001 | `UnknownApp` | no app has the key in `/app/:key` |
 * | 4004 | `OverQuota` | the user holds the hub's `maxConnectionsPerUser` connections already |
 * | 4007 | `UnsupportedProtocol` | `?protocol=` is not 7 |
 * | 4009 | `Unauthorized` | `terminate_connections`, or a middleware refused the connection |
 * | 4100 | `OverCapacity` | the client read too slowly (its buffer passed `maxBufferedBytes`) |
 * | 4200 | `Reconnect` | the server is shutting down |
 * | 4201 | `PongTimeout` | no answer to the server's `pusher:ping` |
 * | 4300 | `MessageTooLarge` | a frame passed `maxMessageBytes` |
 * | 4301 | `ClientEventRejected` | client events over the rate limit (also the `pusher:error` code of a refused client event) |
 *
 * @example Reading why a pusher-js connection ended
 * ```ts
 * import { PusherCloseCode } from "@kiln/core/realtime/pusher";
 * import assert from "node:assert/strict";
 *
 * const reconnects = (code: number) => code >= 4100 && code < 4300;
 * assert.equal(reconnects(PusherCloseCode.PongTimeout), true);
 * assert.equal(reconnects(PusherCloseCode.UnknownApp), false);
 * ```
 */
export const PusherCloseCode = {
  /** No app has this key. */
  UnknownApp: 4001,
  /** The user holds the hub's `maxConnectionsPerUser` connections already. */
  OverQuota: 4004,
  /** The protocol version is not 7. */
  UnsupportedProtocol: 4007,
  /** The connection is not (or no longer) allowed. */
  Unauthorized: 4009,
  /** The client did not keep up with what it was sent. */
  OverCapacity: 4100,
  /** The server is going away; reconnect now. */
  Reconnect: 4200,
  /** The client did not answer a ping. */
  PongTimeout: 4201,
  /** A frame was larger than allowed. */
  MessageTooLarge: 4300,
  /** Client events were refused (not allowed here, or over the rate limit). */
  ClientEventRejected: 4301,
} as const;

/** One of the values of {@linkcode PusherCloseCode}. */
export type PusherCloseCode = typeof PusherCloseCode[keyof typeof PusherCloseCode];

const FROM_KILN: Record<number, number> = {
  [CloseCode.GoingAway]: PusherCloseCode.Reconnect,
  [CloseCode.Refused]: PusherCloseCode.Unauthorized,
  [CloseCode.TokenExpired]: PusherCloseCode.Unauthorized,
  [CloseCode.IdleTimeout]: PusherCloseCode.PongTimeout,
  [CloseCode.RateLimited]: PusherCloseCode.ClientEventRejected,
  [CloseCode.MessageTooLarge]: PusherCloseCode.MessageTooLarge,
  [CloseCode.SlowConsumer]: PusherCloseCode.OverCapacity,
};

/** The Pusher close code for one of Kiln's (the hub closes in Kiln's codes). */
export function pusherCloseCode(code: number): number {
  return FROM_KILN[code] ?? code;
}
