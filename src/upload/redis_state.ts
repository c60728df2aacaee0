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
import { type Clock, systemClock } from "../clock.ts";
import { parseRecord } from "./_record_schema.ts";
import { createUpload, deleteUpload, saveUpload } from "./_scripts.ts";
import type { UploadLock, UploadRecord, UploadState } from "./state.ts";

const createScript = defineScript(createUpload);
const saveScript = defineScript(saveUpload);
const deleteScript = defineScript(deleteUpload);

/** Options for {@linkcode RedisUploadState}. */
export interface RedisUploadStateOptions extends ScriptRunnerOptions {
  /** An `@upstash/redis` `Redis`, or any `RedisLike`. */
  redis: RedisInput;
  /**
   * The first part of every key, `<prefix>:{upload}:…`, so several apps (or
   * several upload servers) can share one Redis.
   * @default "kiln"
   */
  prefix?: string;
  /**
   * How long a per-upload lock lives unless renewed, in milliseconds. The
   * holder renews it every third of this while a request streams, so a server
   * that dies mid-request frees the upload after at most this long.
   * @default 30_000
   */
  lockTtl?: number;
  /** Sets the lock renewal timers; replace it in tests. @default systemClock */
  clock?: Clock;
}

/**
 * Keeps upload records and per-upload locks in Redis: each record is one
 * JSON string, a ZSET orders them for `cleanupExpired()`, and the lock is
 * the Redis layer's token lock.
 *
 * @example Sharing uploads between instances
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { Hono } from "hono";
 * import { MemoryStore, RedisUploadState, uploads } from "@kiln/core/upload";
 * import assert from "node:assert/strict";
 *
 * // UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN name Upstash or Kiln's gateway.
 * const redis = Redis.fromEnv();
 * const prefix = `docs-${crypto.randomUUID()}`; // one per app sharing the Redis
 * const store = new MemoryStore(); // in production, one all instances share
 * const instance = () =>
 *   new Hono().route("/files", uploads({ store, state: new RedisUploadState({ redis, prefix }), maxSize: 1 << 30 }));
 * const [a, b] = [instance(), instance()];
 *
 * const tus = { "Tus-Resumable": "1.0.0" };
 * const created = await a.request("/files", { method: "POST", headers: { ...tus, "Upload-Length": "5" } });
 * const path = new URL(created.headers.get("Location")!).pathname;
 * // Instance b knows the upload instance a created.
 * const head = await b.request(path, { method: "HEAD", headers: tus });
 * assert.equal(head.status, 200);
 * assert.equal(head.headers.get("Upload-Length"), "5");
 * await b.request(path, { method: "DELETE", headers: tus });
 * ```
 */
export class RedisUploadState implements UploadState {
  #redis: RedisLike;
  #runner: ScriptRunner;
  #keys: Keyspace;
  #lockTtl: number;
  #clock: Clock;

  /**
   * Creates Redis-backed upload state.
   *
   * @param options The Redis, the key prefix, the lock TTL and the clock.
   * @throws {TypeError} When `redis`, `prefix` or `clock` is unusable.
   * @throws {RangeError} When `lockTtl` is not a positive integer of at least 30 ms.
   */
  constructor(options: RedisUploadStateOptions) {
    this.#redis = toRedisLike(options?.redis);
    this.#runner = new ScriptRunner(this.#redis, options);
    this.#keys = new Keyspace("upload", options.prefix);
    this.#clock = options.clock ?? systemClock;
    if (typeof this.#clock?.setTimeout !== "function") {
      throw new TypeError("clock must have now(), setTimeout() and clearTimeout()");
    }
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
  create(record: UploadRecord): Promise<boolean> {
    return this.#write(createScript, record);
  }

  /**
   * Reads an upload.
   *
   * @param id The upload's id.
   * @returns The record, or `null`.
   * @throws {UploadError} `UPLOAD_RECORD_CORRUPT` when the stored value is not a record of `id`.
   */
  async get(id: string): Promise<UploadRecord | null> {
    const json = await this.#redis.get(this.#record(id));
    return json === null ? null : parseRecord(id, json);
  }

  /**
   * Saves an upload that exists.
   *
   * @param record The upload.
   * @returns `false` when it no longer exists.
   */
  save(record: UploadRecord): Promise<boolean> {
    return this.#write(saveScript, record);
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
    // Each renewal is armed once the previous one has answered, so renewals never pile up
    // behind a slow Redis.
    let released = false;
    let timer: unknown;
    const arm = () => {
      timer = this.#clock.setTimeout(
        () => {
          extendLock(this.#runner, key, token, this.#lockTtl).catch(() => {}).finally(() => {
            if (!released) arm();
          });
        },
        Math.floor(this.#lockTtl / 3),
        true,
      );
    };
    arm();
    return {
      release: async () => {
        if (released) return;
        released = true;
        this.#clock.clearTimeout(timer);
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

  /** Runs the create or the save script, which take the same keys and arguments. */
  async #write(script: typeof saveScript, record: UploadRecord): Promise<boolean> {
    const reply = await this.#runner.run(
      script,
      [this.#record(record.id), this.#keys.key("sweep")],
      [record.id, JSON.stringify(record), record.sweepAt ?? ""],
    );
    return reply === 1;
  }

  #record(id: string): string {
    return this.#keys.key("record", id);
  }
}
