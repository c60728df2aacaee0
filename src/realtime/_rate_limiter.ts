/**
 * The per-connection rate limit: a token bucket, with patience for a client
 * that overshoots now and then but none for one that floods.
 *
 * @module
 */
import type { ConnectionPolicy } from "./connection.ts";
import { TokenBucket } from "./_token_bucket.ts";

/** What to do with one incoming message: handle it, drop it with an error, or close. */
export type RateVerdict = "accept" | "drop" | "close";

/** Judges a connection's incoming messages against its rate limit, one by one. */
export class RateLimiter {
  #limit: NonNullable<ConnectionPolicy["rateLimit"]>;
  #bucket: TokenBucket;
  #violations = 0;
  #lastViolationAt = -Infinity;

  constructor(limit: NonNullable<ConnectionPolicy["rateLimit"]>, now: number) {
    this.#limit = limit;
    this.#bucket = new TokenBucket(limit.messagesPerSecond, limit.burst, now);
  }

  /** Takes a token for a message arriving at `now`; past `maxViolations` overshoots, `"close"`. */
  check(now: number): RateVerdict {
    if (this.#bucket.take(now)) return "accept";
    // A whole second without a violation forgives earlier ones; a flood never gets one.
    if (now - this.#lastViolationAt > 1000) this.#violations = 0;
    this.#lastViolationAt = now;
    this.#violations += 1;
    return this.#violations > this.#limit.maxViolations ? "close" : "drop";
  }
}
