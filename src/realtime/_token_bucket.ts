/**
 * A token bucket: `burst` messages at once, refilled at `perSecond`.
 *
 * @module
 */

/** Counts what a connection may still send; refills continuously. */
export class TokenBucket {
  #tokens: number;
  #updatedAt: number;
  #perMs: number;
  #burst: number;

  constructor(perSecond: number, burst: number, now: number) {
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#updatedAt = now;
  }

  /** Takes one token; `false` when the bucket is empty. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#perMs);
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
