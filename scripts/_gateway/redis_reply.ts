/**
 * What the gateway gets back from Redis, as node-redis hands it over with the type mapping
 * `redis_link.ts` sets: replies stay as Redis sent them, so the JSON the gateway writes is
 * byte-exact. A bulk or simple string is a `Uint8Array` (its bytes), an integer is a
 * `string` of its digits (exact beyond 2^53), nil is `null`, an array keeps its shape
 * (HGETALL stays flat) and an error is node-redis's `ErrorReply`, a value wherever it
 * appears.
 *
 * @module
 */

import { ErrorReply } from "redis";

/** One command as it arrives in a request body: the name, then its arguments. */
export type CommandArgs = ReadonlyArray<string | number>;

/**
 * An error reply (`-ERR ...`) from Redis, kept as a value so pipelines can carry it:
 * node-redis's own class, so errors nested in arrays (EXEC, a Lua table) are the same.
 */
export { ErrorReply as RedisErrorReply };

/**
 * A reply larger than the connection's hold limit, which the gateway dropped instead of
 * letting node-redis buffer it whole (see `redis_link.ts`). Always a whole top-level reply.
 */
export class OversizedReply {}

/**
 * One RESP2 reply: bytes for strings, digits for integers, `null` for nil, an
 * {@linkcode ErrorReply} for an error, or an array of these.
 */
export type RespValue =
  | Uint8Array
  | string
  | null
  | ErrorReply
  | OversizedReply
  | RespValue[];

/** Redis could not be reached, or the connection broke before a reply arrived. */
export class RedisUnavailableError extends Error {
  /**
   * @param message what went wrong
   * @param options the underlying cause
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisUnavailableError";
  }
}

const text = new TextDecoder();

/** @returns a reply part as text: bytes decoded as UTF-8, digits as they are */
export function replyText(value: RespValue): string {
  return value instanceof Uint8Array ? text.decode(value) : String(value);
}
