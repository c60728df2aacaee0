/**
 * Upload state in Redis, so a resume can land on any server instance.
 *
 * @module
 */
import { type RedisInput, toRedisLike } from "../redis/connect.ts";
import { Keyspace } from "../redis/keys.ts";
import { acquireLock, extendLock, releaseLock } from "../redis/lock.ts";
import { defineScript, ScriptRunner, type ScriptRunnerOptions } from "../redis/script.ts";
import type { RedisLike } from "../redis/redis_like.ts";
import { RedisError } from "../errors.ts";
import { createUpload, deleteUpload, saveUpload } from "./_scripts.ts";
import type { UploadLock, UploadRecord, UploadState } from "./state.ts";

const createScript = defineScript(createUpload);
const saveScript = defineScript(saveUpload);
const deleteScript = defineScript(deleteUpload);

/** Options for {@linkcode RedisUploadState}. */
export interface RedisUploadStateOptions extends ScriptRunnerOptions {
  /** An `@upstash/redis` `Redis`, or any `RedisLike`. */
  redis: RedisInput;
  /** Names this upload server's keys, `kiln:{upload:<name>}:…`. @default "default" */
  name?: string;
  /**
   * How long a per-upload lock lives unless renewed, in milliseconds. The
   * holder renews it every third of this while a request streams, so a server
   * that dies mid-request frees the upload after at most this long.
   * @default 30_000
   */
  lockTtl?: number;
}

/**
 * Keeps upload records and per-upload locks in Redis: each record is one
 * JSON string, a ZSET orders them for `cleanupExpired()`, and the lock is
 * the Redis layer's token lock.
 *
 * @example Sharing uploads between instances
 * ```ts ignore
 * import { Redis } from "@upstash/redis";
 * import { MemoryStore, RedisUploadState, uploads } from "@kiln/core/upload";
 *
 * const state = new RedisUploadState({ redis: Redis.fromEnv() });
 * const files = uploads({ store: new MemoryStore(), state, maxSize: 1 << 30 });
 * ```
 */
export class RedisUploadState implements UploadState {
  #redis: RedisLike;
  #runner: ScriptRunner;
  #keys: Keyspace;
  #lockTtl: number;

  /**
   * Creates Redis-backed upload state.
   *
   * @param options The Redis and the keyspace name.
   * @throws {TypeError} When `redis` or `name` is unusable.
   * @throws {RangeError} When `lockTtl` is not a positive integer of at least 30 ms.
   */
  constructor(options: RedisUploadStateOptions) {
    this.#redis = toRedisLike(options?.redis);
    this.#runner = new ScriptRunner(this.#redis, options);
    this.#keys = new Keyspace(`upload:${options.name ?? "default"}`);
    this.#lockTtl = options.lockTtl ?? 30_000;
    if (!Number.isInteger(this.#lockTtl) || this.#lockTtl < 30) {
      throw new RangeError(`lockTtl must be an integer of at least 30 ms, got ${this.#lockTtl}`);
    }
  }

  /**
   * Records a new upload.
   *
   * @param record The upload.
   * @returns `false` when the id is taken.
   */
  async create(record: UploadRecord): Promise<boolean> {
    const reply = await this.#runner.run(
      createScript,
      [this.#record(record.id), this.#keys.key("sweep")],
      [record.id, JSON.stringify(record), record.sweepAt ?? ""],
    );
    return reply === 1;
  }

  /**
   * Reads an upload.
   *
   * @param id The upload's id.
   * @returns The record, or `null`.
   */
  async get(id: string): Promise<UploadRecord | null> {
    const json = await this.#redis.get(this.#record(id));
    return json === null ? null : JSON.parse(json);
  }

  /**
   * Saves an upload that exists.
   *
   * @param record The upload.
   * @returns `false` when it no longer exists.
   */
  async save(record: UploadRecord): Promise<boolean> {
    const reply = await this.#runner.run(
      saveScript,
      [this.#record(record.id), this.#keys.key("sweep")],
      [record.id, JSON.stringify(record), record.sweepAt ?? ""],
    );
    return reply === 1;
  }

  /**
   * Removes an upload's record.
   *
   * @param id The upload's id.
   * @returns `true` when it existed.
   */
  async delete(id: string): Promise<boolean> {
    const reply = await this.#runner.run(
      deleteScript,
      [this.#record(id), this.#keys.key("sweep")],
      [id],
    );
    return reply === 1;
  }

  /**
   * Takes the upload's lock and renews it until released.
   *
   * @param id The upload's id.
   * @returns The lock, or `null` when another holder has it.
   */
  async lock(id: string): Promise<UploadLock | null> {
    const key = this.#keys.key("lock", id);
    const token = crypto.randomUUID();
    if (!(await acquireLock(this.#runner, key, token, this.#lockTtl))) return null;
    // Renew while the request streams; a renewal failure only means the lock may lapse.
    const timer = setInterval(() => {
      extendLock(this.#runner, key, token, this.#lockTtl).catch(() => {});
    }, Math.floor(this.#lockTtl / 3));
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        await releaseLock(this.#runner, key, token);
      },
    };
  }

  /**
   * Lists uploads whose sweep time has passed.
   *
   * @param now The current time.
   * @param limit At most this many.
   * @returns Their ids, oldest first.
   */
  async due(now: number, limit: number): Promise<string[]> {
    const [result] = await this.#redis.pipeline([
      ["ZRANGEBYSCORE", this.#keys.key("sweep"), "-inf", now, "LIMIT", 0, limit],
    ]);
    if (!result.ok) throw new RedisError("REDIS_COMMAND_FAILED", result.error);
    return Array.isArray(result.reply) ? result.reply.map(String) : [];
  }

  #record(id: string): string {
    return this.#keys.key("record", id);
  }
}
