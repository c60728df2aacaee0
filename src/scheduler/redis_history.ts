/**
 * Run history in Redis: the last runs of every task, shared by every
 * scheduler instance and readable from any of them.
 *
 * @module
 */
import { RedisError } from "../errors.ts";
import type { RedisInput } from "../redis/connect.ts";
import { defineScript } from "../redis/script.ts";
import { openRedisStore, type RedisStore } from "../redis/_store.ts";
import { recordRun } from "./_scripts.ts";
import { assertLimit, type SchedulerHistory, type TaskRunRecord } from "./history.ts";
import { RedisPauses, type TaskPauses } from "./pauses.ts";

const recordRunScript = defineScript(recordRun);

/** Options for {@linkcode RedisHistory}. */
export interface RedisHistoryOptions {
  /** An `@upstash/redis` `Redis` instance, or any `RedisLike` (see `@kiln/core/redis`). */
  redis: RedisInput;
  /**
   * Prefix scripts with Upstash's `#!lua flags=allow-key-locking` shebang (Upstash only;
   * a plain `redis-server` rejects it).
   * @default false
   */
  allowKeyLocking?: boolean;
  /**
   * The first part of the history keys (`<prefix>:{scheduler}:history:<task>`),
   * to share one Redis between apps.
   * @default "kiln"
   */
  prefix?: string;
  /**
   * How many runs to keep per task.
   * @default 20
   */
  limit?: number;
  /**
   * How long a task's history lives after its last run, so a removed task's
   * history does not stay in Redis for good.
   * @default 2_592_000_000 (30 days)
   */
  retention?: number;
}

/**
 * Keeps the last runs of each task in Redis, one sorted set per task scored
 * by scheduled time.
 *
 * @example Sharing history between instances
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { RedisHistory, RedisMutex, Scheduler } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * // UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN name Upstash or Kiln's gateway.
 * const redis = Redis.fromEnv();
 * const prefix = `docs-${crypto.randomUUID()}`;
 * const make = () =>
 *   new Scheduler({
 *     mutex: new RedisMutex({ redis, prefix }),
 *     history: new RedisHistory({ redis, prefix, limit: 50 }),
 *   });
 * const runner = make();
 * runner.call("backup", () => {}).dailyAt("02:00");
 * await runner.runDue(new Date("2025-06-02T02:00:00Z"));
 * const reader = make(); // another instance reads the same history
 * reader.call("backup", () => {}).dailyAt("02:00");
 * const [run] = await reader.history("backup");
 * assert.equal(run.status, "succeeded");
 * assert.equal(run.scheduledAt, Date.parse("2025-06-02T02:00:00Z"));
 * ```
 */
export class RedisHistory implements SchedulerHistory {
  /**
   * Paused tasks, in this Redis under the same prefix: a scheduler with this
   * history keeps `pause()` here, so every instance sharing it obeys.
   */
  readonly pauses: TaskPauses;
  #store: RedisStore;
  #limit: number;
  #retention: number;

  /**
   * Creates a history on a Redis.
   *
   * @param options The Redis, key prefix, limit and retention.
   * @throws {TypeError} When `redis` is not a Redis handle or the prefix is invalid.
   * @throws {RangeError} When `limit` or `retention` is not a positive integer.
   */
  constructor(options: RedisHistoryOptions) {
    this.#store = openRedisStore("scheduler", options);
    this.pauses = new RedisPauses(this.#store);
    this.#limit = assertLimit(options.limit ?? 20);
    this.#retention = options.retention ?? 2_592_000_000;
    if (!Number.isInteger(this.#retention) || this.#retention <= 0) {
      throw new RangeError(
        `History retention must be a positive integer, got ${options.retention}`,
      );
    }
  }

  /**
   * Records a finished run.
   *
   * @param run The run.
   * @throws {RedisError} When Redis is unreachable.
   */
  async record(run: TaskRunRecord): Promise<void> {
    await this.#store.runner.run(
      recordRunScript,
      [this.#store.keys.key("history", run.task)],
      [run.scheduledAt, JSON.stringify(run), this.#limit, this.#retention],
    );
  }

  /**
   * Lists a task's recent runs, newest occurrence first.
   *
   * @param task The task's name.
   * @param limit At most this many.
   * @returns The records.
   * @throws {RedisError} When Redis is unreachable.
   */
  async list(task: string, limit: number = this.#limit): Promise<TaskRunRecord[]> {
    const [runs] = await this.#read([task], limit);
    return runs;
  }

  /**
   * Each task's recent runs, newest first, in one round trip.
   *
   * @param tasks The tasks' names.
   * @param limit At most this many per task.
   * @returns One list per task, in order.
   * @throws {RedisError} When Redis is unreachable.
   */
  recent(tasks: readonly string[], limit: number): Promise<TaskRunRecord[][]> {
    return this.#read(tasks, limit);
  }

  async #read(tasks: readonly string[], limit: number): Promise<TaskRunRecord[][]> {
    if (tasks.length === 0 || limit <= 0) return tasks.map(() => []);
    const results = await this.#store.redis.pipeline(
      tasks.map((task) =>
        ["ZREVRANGE", this.#store.keys.key("history", task), 0, limit - 1] as const
      ),
    );
    return results.map((result) => {
      if (!result.ok) throw new RedisError("REDIS_COMMAND_FAILED", result.error);
      const members = Array.isArray(result.reply) ? result.reply : [];
      return members.map((member) => JSON.parse(String(member)) as TaskRunRecord);
    });
  }
}
