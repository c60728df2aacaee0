/**
 * Reads the queue scripts' replies strictly: a reply of the wrong shape (a
 * tampered replay memo, a script from another Kiln version on the same Redis)
 * is a `RedisError` with code `REDIS_UNEXPECTED_REPLY`, never a guess such as
 * "lost" or `NaN` that would hide it.
 *
 * @module
 */
import { RedisError } from "../errors.ts";
import type { RedisReply } from "../redis/redis_like.ts";

/** The error for a reply of the wrong shape. */
export function unexpected(what: string, reply: unknown): RedisError {
  return new RedisError(
    "REDIS_UNEXPECTED_REPLY",
    `Unexpected reply to ${what}: ${JSON.stringify(reply)}`,
  );
}

/** The reply as an array, of `multipleOf` × n items when given. */
export function asArray(reply: RedisReply, what: string, multipleOf = 1): RedisReply[] {
  if (!Array.isArray(reply) || reply.length % multipleOf !== 0) throw unexpected(what, reply);
  return reply;
}

/** The reply as a whole number from 0 to `max` (a script's status). */
export function asStatus(reply: RedisReply, what: string, max: number): number {
  if (typeof reply !== "number" || !Number.isInteger(reply) || reply < 0 || reply > max) {
    throw unexpected(what, reply);
  }
  return reply;
}

/** The reply as a count: a whole number, at least 0. */
export function asCount(reply: RedisReply, what: string): number {
  return asStatus(reply, what, Number.MAX_SAFE_INTEGER);
}
