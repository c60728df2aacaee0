/**
 * The locks behind `withoutOverlapping()` and `onOneServer()`: held by a
 * token, with a time to live so a crashed run never blocks a task for good.
 *
 * @module
 */

/**
 * Where a scheduler takes its locks. Instances that share one mutex (one
 * Redis) share `onOneServer()` claims and overlap locks.
 */
export interface SchedulerMutex {
  /**
   * Takes `key` for `token` unless another token holds it; taking it again with
   * the same token renews it (so a retried request is harmless).
   *
   * @returns `true` when `token` now holds the lock.
   */
  acquire(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Releases `key` if `token` holds it. */
  release(key: string, token: string): Promise<void>;
}

/** Options for {@linkcode MemoryMutex}. */
export interface MemoryMutexOptions {
  /**
   * The time source for expiries; pass the scheduler's clock in tests.
   * @default Date.now
   */
  now?: () => number;
}

/**
 * Locks in this process's memory: overlap prevention for one process, and
 * one-server runs among schedulers that share the instance.
 *
 * @example Taking a lock that another token then cannot take
 * ```ts
 * import { MemoryMutex } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const mutex = new MemoryMutex({ now: () => now });
 * assert.equal(await mutex.acquire("report", "a", 1_000), true);
 * assert.equal(await mutex.acquire("report", "b", 1_000), false);
 * now = 1_000; // the lock expired
 * assert.equal(await mutex.acquire("report", "b", 1_000), true);
 * ```
 */
export class MemoryMutex implements SchedulerMutex {
  #now: () => number;
  #locks = new Map<string, { token: string; expiresAt: number }>();
  #sweepAt = 1_024;

  /**
   * Creates an empty mutex.
   *
   * @param options The time source.
   * @throws {TypeError} When `now` is not a function.
   */
  constructor(options: MemoryMutexOptions = {}) {
    if (options.now !== undefined && typeof options.now !== "function") {
      throw new TypeError("MemoryMutex now must be a function returning epoch milliseconds");
    }
    this.#now = options.now ?? Date.now;
  }

  /**
   * Takes or renews a lock.
   *
   * @param key The lock's name.
   * @param token The would-be holder.
   * @param ttlMs How long the lock lives, in milliseconds.
   * @returns `true` when `token` holds the lock.
   * @throws {RangeError} When `ttlMs` is not a positive integer.
   */
  acquire(key: string, token: string, ttlMs: number): Promise<boolean> {
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) {
      return Promise.reject(
        new RangeError(
          `Lock time to live must be a positive integer of milliseconds, got ${ttlMs}`,
        ),
      );
    }
    const now = this.#now();
    const held = this.#locks.get(key);
    if (held && held.expiresAt > now && held.token !== token) return Promise.resolve(false);
    this.#locks.set(key, { token, expiresAt: now + ttlMs });
    if (this.#locks.size >= this.#sweepAt) this.#sweep(now);
    return Promise.resolve(true);
  }

  /**
   * Releases a lock held by `token`.
   *
   * @param key The lock's name.
   * @param token The holder.
   */
  release(key: string, token: string): Promise<void> {
    if (this.#locks.get(key)?.token === token) this.#locks.delete(key);
    return Promise.resolve();
  }

  /** One-server claims are never released, only expire: drop the expired ones now and then. */
  #sweep(now: number): void {
    for (const [key, lock] of this.#locks) if (lock.expiresAt <= now) this.#locks.delete(key);
    this.#sweepAt = Math.max(1_024, this.#locks.size * 2);
  }
}
