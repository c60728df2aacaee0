/**
 * The locks behind `withoutOverlapping()` and `onOneServer()`: held by a
 * token, with a time to live so a crashed run never blocks a task for good.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import type { TaskPauses } from "./pauses.ts";

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
  acquire(key: string, token: string, ttl: number): Promise<boolean>;
  /** Releases `key` if `token` holds it. */
  release(key: string, token: string): Promise<void>;
  /**
   * Where the scheduler keeps paused tasks when this is its mutex and its
   * history offers none (in Redis for `RedisMutex`); else they stay in memory.
   */
  readonly pauses?: TaskPauses;
}

/** Options for {@linkcode MemoryMutex}. */
export interface MemoryMutexOptions {
  /**
   * Where expiries read the time; pass the scheduler's clock in tests.
   * @default systemClock
   */
  clock?: Clock;
}

/**
 * Locks in this process's memory: overlap prevention for one process, and
 * one-server runs among schedulers that share the instance.
 *
 * @example Taking a lock that another token then cannot take
 * ```ts
 * import { type Clock, MemoryMutex, systemClock } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const clock: Clock = { ...systemClock, now: () => now };
 * const mutex = new MemoryMutex({ clock });
 * assert.equal(await mutex.acquire("report", "a", 1_000), true);
 * assert.equal(await mutex.acquire("report", "b", 1_000), false);
 * now = 1_000; // the lock expired
 * assert.equal(await mutex.acquire("report", "b", 1_000), true);
 * ```
 */
export class MemoryMutex implements SchedulerMutex {
  #clock: Clock;
  #locks = new Map<string, { token: string; expiresAt: number }>();
  #sweepAt = 1_024;

  /**
   * Creates an empty mutex.
   *
   * @param options The clock.
   * @throws {TypeError} When `clock` has no `now()` method.
   */
  constructor(options: MemoryMutexOptions = {}) {
    const clock = options.clock ?? systemClock;
    if (typeof clock?.now !== "function") {
      throw new TypeError("MemoryMutex clock must have a now() method");
    }
    this.#clock = clock;
  }

  /**
   * Takes or renews a lock.
   *
   * @param key The lock's name.
   * @param token The would-be holder.
   * @param ttl How long the lock lives, in milliseconds.
   * @returns `true` when `token` holds the lock.
   * @throws {RangeError} When `ttl` is not a positive integer.
   */
  acquire(key: string, token: string, ttl: number): Promise<boolean> {
    if (!Number.isInteger(ttl) || ttl <= 0) {
      return Promise.reject(
        new RangeError(
          `Lock time to live must be a positive integer of milliseconds, got ${ttl}`,
        ),
      );
    }
    const now = this.#clock.now();
    const held = this.#locks.get(key);
    if (held && held.expiresAt > now && held.token !== token) return Promise.resolve(false);
    this.#locks.set(key, { token, expiresAt: now + ttl });
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
