/**
 * The scheduler's locks in Redis, so several scheduler instances share
 * `onOneServer()` claims and `withoutOverlapping()` locks.
 *
 * @module
 */
import type { RedisInput } from "../redis/connect.ts";
import { acquireLock, releaseLock } from "../redis/lock.ts";
import { openRedisStore, type RedisStore } from "../redis/_store.ts";
import type { SchedulerMutex } from "./mutex.ts";
import { RedisPauses, type TaskPauses } from "./pauses.ts";

/** Options for {@linkcode RedisMutex}. */
export interface RedisMutexOptions {
  /** An `@upstash/redis` `Redis` instance, or any `RedisLike` (see `@kiln/core/redis`). */
  redis: RedisInput;
  /**
   * Prefix scripts with Upstash's `#!lua flags=allow-key-locking` shebang (Upstash only;
   * a plain `redis-server` rejects it).
   * @default false
   */
  allowKeyLocking?: boolean;
  /**
   * The first part of the lock keys (`<prefix>:{scheduler}:lock:…`), to share
   * one Redis between apps: schedulers that should coordinate share it.
   * @default "kiln"
   */
  prefix?: string;
}

/**
 * Locks with a time to live in Redis, held by a token. Instances sharing one
 * Redis and prefix run each `onOneServer()` occurrence once between them.
 *
 * @example Several processes, one backup per night
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { RedisMutex, Scheduler } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * // UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN name Upstash or Kiln's gateway.
 * const redis = Redis.fromEnv();
 * const prefix = `docs-${crypto.randomUUID()}`; // one per app sharing the Redis
 * let backups = 0;
 * const instances = [1, 2, 3].map(() => {
 *   const scheduler = new Scheduler({ mutex: new RedisMutex({ redis, prefix }) });
 *   scheduler.call("backup", () => void backups++).dailyAt("02:00").onOneServer();
 *   return scheduler;
 * });
 * // Each instance ticks at 02:00 (in production: start(), or a platform cron calling runDue()).
 * const night = new Date("2025-06-02T02:00:00Z");
 * await Promise.all(instances.map((scheduler) => scheduler.runDue(night)));
 * assert.equal(backups, 1);
 * ```
 */
export class RedisMutex implements SchedulerMutex {
  /**
   * Paused tasks, in this Redis under the same prefix: a scheduler with this
   * mutex (and no `RedisHistory`) keeps `pause()` here, so every instance obeys.
   */
  readonly pauses: TaskPauses;
  #store: RedisStore;

  /**
   * Creates a mutex on a Redis.
   *
   * @param options The Redis and key prefix.
   * @throws {TypeError} When `redis` is not a Redis handle or the prefix is invalid.
   */
  constructor(options: RedisMutexOptions) {
    this.#store = openRedisStore("scheduler", options);
    this.pauses = new RedisPauses(this.#store);
  }

  /**
   * Takes or renews a lock.
   *
   * @param key The lock's name, such as `overlap:<task>`.
   * @param token The would-be holder.
   * @param ttl How long the lock lives, in milliseconds.
   * @returns `true` when `token` holds the lock.
   * @throws {RangeError} When `ttl` is not a positive integer.
   * @throws {import("../errors.ts").RedisError} When Redis is unreachable.
   */
  acquire(key: string, token: string, ttl: number): Promise<boolean> {
    return acquireLock(this.#store.runner, this.#store.keys.key("lock", key), token, ttl);
  }

  /**
   * Releases a lock held by `token`.
   *
   * @param key The lock's name.
   * @param token The holder.
   * @throws {import("../errors.ts").RedisError} When Redis is unreachable.
   */
  async release(key: string, token: string): Promise<void> {
    await releaseLock(this.#store.runner, this.#store.keys.key("lock", key), token);
  }
}
