/**
 * The Redis queue backend: every change is one Lua script on one queue's
 * hash tag, reached over HTTP (Upstash or Kiln's gateway) or any RedisLike.
 *
 * @module
 */
import { type RedisInput, toRedisLike } from "../redis/connect.ts";
import { Keyspace } from "../redis/keys.ts";
import { acquireLock, releaseLock } from "../redis/lock.ts";
import type { RedisLike, RedisReply } from "../redis/redis_like.ts";
import { defineScript, ScriptRunner } from "../redis/script.ts";
import { RedisError } from "../errors.ts";
import type {
  AttemptError,
  DispatchResult,
  FailedJob,
  FailRequest,
  FailResult,
  JobInfo,
  JobState,
  Lease,
  NewJob,
  QueueBackend,
  QueueCounts,
  StoredJob,
  TakeRequest,
  TakeResult,
} from "./backend.ts";
import type { Priority } from "./job.ts";
import { PayloadTooLargeError } from "./errors.ts";
import { utf8Length } from "./_payload.ts";
import { asArray, asCount, asStatus, unexpected } from "./_replies.ts";
import * as scripts from "./_scripts.ts";
import {
  assertFailedLimit,
  BANDS,
  DEFAULT_FAILED_LIMIT,
  DEFAULT_MAX_STALLS,
  REPLAY_MEMO_MS,
} from "./_constants.ts";

const enqueueScript = defineScript(scripts.enqueue);
const takeScript = defineScript(scripts.take);
const failScript = defineScript(scripts.fail);
const extendScript = defineScript(scripts.extend);
const retryFailedScript = defineScript(scripts.retryFailed);
const forgetFailedScript = defineScript(scripts.forgetFailed);
const listFailedScript = defineScript(scripts.listFailed);
const rateHitScript = defineScript(scripts.rateHit);
const progressScript = defineScript(scripts.progress);
const getJobScript = defineScript(scripts.getJob);

/** How many failed jobs one `retryAll`/`flush` script call handles. */
const FAILED_CHUNK = 500;

/** Options for {@linkcode RedisBackend}. */
export interface RedisBackendOptions {
  /** An `@upstash/redis` `Redis` instance (Upstash or Kiln's gateway), or any RedisLike. */
  redis: RedisInput;
  /** The first part of every key, to share one Redis between apps. @default "kiln" */
  prefix?: string;
  /**
   * Start scripts with Upstash's `allow-key-locking` flag, so Upstash locks
   * only the queue's keys instead of the whole database. A plain
   * `redis-server` rejects the flag: leave it off there.
   * @default false
   */
  allowKeyLocking?: boolean;
  /** How many failed jobs each queue keeps; the oldest are trimmed beyond it. @default 10000 */
  failedLimit?: number;
}

interface QueueKeys {
  jobs: string;
  attempts: string;
  errors: string;
  ready: string;
  delayed: string;
  active: string;
  leases: string;
  failed: string;
  unique: string;
  stats: string;
  stalls: string;
  progress: string;
  /** KEYS[1..12] of the take and fail scripts, which share this layout. */
  lifecycle: readonly string[];
  space: Keyspace;
}

/**
 * Keeps queues in Redis. Lease deadlines are set and compared on Redis's own
 * clock (`TIME`, inside the scripts), never a worker's, so workers with skewed
 * clocks cannot reclaim each other's live leases; run-at times of delayed jobs
 * and retries are the dispatching process's clock. Per queue, one hash tag
 * holds: `jobs` (HASH id → record), `ready` (ZSET, priority band then FIFO),
 * `delayed` (ZSET by run-at), `active` (ZSET by lease deadline) with `leases` (HASH id →
 * token), `failed` (ZSET, the dead letters), `unique` keys, `stats`
 * counters, and per job `attempts`, `errors`, `stalls` and `progress`.
 * Completed jobs are deleted at once.
 *
 * @example Queues on Redis over HTTP
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import * as v from "valibot";
 * import { defineJob, Queue, RedisBackend } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * // UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN name Upstash or Kiln's gateway.
 * const redis = Redis.fromEnv();
 * const backend = new RedisBackend({ redis, prefix: `docs-${crypto.randomUUID()}` });
 * const queue = new Queue({ backend });
 * const mail = defineJob({ name: "mail", schema: v.string(), queue: "mail", handle() {} });
 * await queue.dispatch(mail, "ada@example.com", { delay: 60_000 });
 * assert.equal((await queue.counts("mail")).delayed, 1);
 * ```
 */
export class RedisBackend implements QueueBackend {
  /** The Redis port scripts run on. */
  readonly redis: RedisLike;
  #runner: ScriptRunner;
  #prefix: string;
  #failedLimit: number;
  #keys = new Map<string, QueueKeys>();
  #registered = new Map<string, Promise<void>>();
  #registry: string;
  #limits: Keyspace;
  #listeners = new Set<(queue: string) => void>();

  /**
   * Creates a backend over a Redis handle.
   *
   * @param options The Redis handle, key prefix, key-locking and retention.
   * @throws {TypeError} When `redis` is not a Redis handle or `prefix` is malformed.
   * @throws {RangeError} When `failedLimit` is not a positive integer.
   */
  constructor(options: RedisBackendOptions) {
    this.redis = toRedisLike(options?.redis);
    this.#runner = new ScriptRunner(this.redis, {
      allowKeyLocking: options.allowKeyLocking ?? false,
    });
    this.#prefix = options.prefix ?? "kiln";
    this.#failedLimit = options.failedLimit ?? DEFAULT_FAILED_LIMIT;
    assertFailedLimit(this.#failedLimit);
    this.#registry = new Keyspace("registry", this.#prefix).key("queues");
    this.#limits = new Keyspace("limits", this.#prefix);
  }

  #k(queue: string): QueueKeys {
    let keys = this.#keys.get(queue);
    if (!keys) {
      const space = new Keyspace(queue, this.#prefix);
      keys = {
        space,
        jobs: space.key("jobs"),
        attempts: space.key("attempts"),
        errors: space.key("errors"),
        ready: space.key("ready"),
        delayed: space.key("delayed"),
        active: space.key("active"),
        leases: space.key("leases"),
        failed: space.key("failed"),
        unique: space.key("unique"),
        stats: space.key("stats"),
        stalls: space.key("stalls"),
        progress: space.key("progress"),
        lifecycle: [],
      };
      keys.lifecycle = [
        keys.jobs,
        keys.attempts,
        keys.errors,
        keys.ready,
        keys.delayed,
        keys.active,
        keys.leases,
        keys.failed,
        keys.unique,
        keys.stats,
        keys.stalls,
        keys.progress,
      ];
      this.#keys.set(queue, keys);
    }
    return keys;
  }

  /** Records the queue's name once per process, so `failed.list()` can find it. */
  #register(queue: string): Promise<void> {
    let done = this.#registered.get(queue);
    if (!done) {
      done = this.redis.pipeline([["SADD", this.#registry, queue]]).then(() => {});
      done.catch(() => this.#registered.delete(queue));
      this.#registered.set(queue, done);
    }
    return done;
  }

  /**
   * {@inheritDoc QueueBackend.enqueue}
   *
   * @throws {PayloadTooLargeError} When the Redis endpoint refuses the request as too large (HTTP 413).
   */
  async enqueue(queue: string, jobs: readonly NewJob[], now: number): Promise<DispatchResult[]> {
    if (jobs.length === 0) return [];
    const k = this.#k(queue);
    await this.#register(queue);
    const args: (string | number)[] = [now, jobs.length];
    for (const job of jobs) {
      args.push(job.id, encodeRecord(job), BANDS[job.priority], job.runAt, job.uniqueKey ?? "");
    }
    let reply: RedisReply;
    try {
      reply = await this.#runner.run(
        enqueueScript,
        [k.jobs, k.ready, k.delayed, k.unique, k.stats],
        args,
      );
    } catch (error) {
      if (error instanceof RedisError && error.code === "REDIS_REQUEST_TOO_LARGE") {
        // The endpoint refused the whole request: nothing was enqueued.
        const bytes = jobs.reduce((sum, job) => sum + utf8Length(job.payload), 0);
        throw new PayloadTooLargeError(jobs[0].name, bytes, null, { cause: error });
      }
      throw error;
    }
    const flat = asArray(reply, "enqueue");
    if (flat.length !== jobs.length * 2) throw unexpected("enqueue", reply);
    const results: DispatchResult[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      results.push({ id: String(flat[i]), created: asStatus(flat[i + 1], "enqueue", 1) === 1 });
    }
    if (results.some((result) => result.created)) {
      for (const listener of this.#listeners) listener(queue);
    }
    return results;
  }

  /** {@inheritDoc QueueBackend.take} */
  async take(request: TakeRequest): Promise<TakeResult> {
    const k = this.#k(request.queue);
    if (request.reserve > 0) await this.#register(request.queue);
    const args: (string | number)[] = [
      request.now,
      request.reserve,
      request.leaseDuration,
      request.token,
      this.#failedLimit,
      request.maxStalls ?? DEFAULT_MAX_STALLS,
      request.complete.length,
    ];
    for (const completion of request.complete) {
      args.push(completion.id, completion.token, completion.uniqueKey ?? "");
    }
    const reply = await this.#runner.run(
      takeScript,
      [...k.lifecycle, k.space.key("reservation", request.token)],
      args,
    );
    const parts = asArray(reply, "take");
    if (parts.length !== 5 || typeof parts[3] !== "number") throw unexpected("take", reply);
    const lost = asArray(parts[0], "take (lost)");
    const stalled = asArray(parts[1], "take (stalled)");
    const flat = asArray(parts[2], "take (jobs)", 5);
    const nextDue = parts[3];
    const stalledOut = asArray(parts[4], "take (stalled out)");
    const jobs: StoredJob[] = [];
    for (let i = 0; i < flat.length; i += 5) {
      jobs.push(
        decodeJob(request.queue, flat[i], flat[i + 1], flat[i + 2], flat[i + 3], flat[i + 4]),
      );
    }
    return {
      lost: lost.map(String),
      stalled: stalled.map(String),
      stalledOut: stalledOut.map(String),
      jobs,
      nextDueAt: Number(nextDue) >= 0 ? Number(nextDue) : null,
    };
  }

  /** {@inheritDoc QueueBackend.fail} */
  async fail(request: FailRequest): Promise<FailResult> {
    const k = this.#k(request.queue);
    const reply = await this.#runner.run(failScript, [
      ...k.lifecycle,
      k.space.key("outcomes", request.token),
    ], [
      request.now,
      request.id,
      request.token,
      request.outcome,
      request.runAt,
      request.error ? JSON.stringify(request.error) : "",
      request.undoAttempt ? "1" : "0",
      request.uniqueKey ?? "",
      this.#failedLimit,
      REPLAY_MEMO_MS,
    ]);
    // A status outside 0..3 (a tampered replay memo, another version's script) is
    // not "lost": the job may still be leased, so say so rather than guess.
    return (["lost", "retried", "failed", "released"] as const)[asStatus(reply, "fail", 3)];
  }

  /** {@inheritDoc QueueBackend.progress} */
  async progress(queue: string, lease: Lease, value: number): Promise<boolean> {
    const k = this.#k(queue);
    const reply = await this.#runner.run(progressScript, [k.leases, k.progress], [
      lease.id,
      lease.token,
      JSON.stringify(value),
    ]);
    return asStatus(reply, "progress", 1) === 1;
  }

  /** {@inheritDoc QueueBackend.getJob} */
  async getJob(queue: string, id: string): Promise<JobInfo | null> {
    const k = this.#k(queue);
    const reply = asArray(
      await this.#runner.run(getJobScript, [
        k.jobs,
        k.attempts,
        k.errors,
        k.stalls,
        k.progress,
        k.ready,
        k.delayed,
        k.active,
        k.failed,
      ], [id]),
      "getJob",
    );
    if (reply.length === 0) return null;
    const [record, attempts, errors, stalls, progress, state] = reply;
    return {
      ...decodeJob(queue, id, record, attempts, errors, stalls),
      state: String(state) as JobState,
      progress: progress === "" || progress === null ? null : Number(progress),
    };
  }

  /** {@inheritDoc QueueBackend.extend} */
  async extend(
    queue: string,
    leases: readonly Lease[],
    leaseDuration: number,
    _now: number,
  ): Promise<string[]> {
    if (leases.length === 0) return [];
    const k = this.#k(queue);
    // Deadlines are set on Redis's clock: the caller's does not enter into it.
    const args: (string | number)[] = [leaseDuration];
    for (const lease of leases) args.push(lease.id, lease.token);
    return asArray(await this.#runner.run(extendScript, [k.active, k.leases], args), "extend")
      .map(String);
  }

  /** {@inheritDoc QueueBackend.counts} */
  async counts(queue: string): Promise<QueueCounts> {
    const k = this.#k(queue);
    const results = await this.redis.pipeline([
      ["ZCARD", k.ready],
      ["ZCARD", k.delayed],
      ["ZCARD", k.active],
      ["ZCARD", k.failed],
      ["HGET", k.stats, "completed"],
    ]);
    const numbers = results.map((result) => {
      if (!result.ok) throw new RedisError("REDIS_COMMAND_FAILED", result.error);
      return Number(result.reply ?? 0);
    });
    const [ready, delayed, active, failed, completed] = numbers;
    return { ready, delayed, active, failed, completed };
  }

  /** {@inheritDoc QueueBackend.queues} */
  async queues(): Promise<string[]> {
    const [result] = await this.redis.pipeline([["SMEMBERS", this.#registry]]);
    if (!result.ok) throw new RedisError("REDIS_COMMAND_FAILED", result.error);
    return asArray(result.reply, "SMEMBERS").map(String).sort();
  }

  /** {@inheritDoc QueueBackend.listFailed} */
  async listFailed(queue: string, offset: number, limit: number): Promise<FailedJob[]> {
    const k = this.#k(queue);
    const flat = asArray(
      await this.#runner.run(
        listFailedScript,
        [k.jobs, k.attempts, k.errors, k.failed, k.stalls, k.progress],
        [offset, limit],
      ),
      "listFailed",
    );
    const jobs: FailedJob[] = [];
    for (let i = 0; i < flat.length; i += 7) {
      jobs.push({
        ...decodeJob(queue, flat[i], flat[i + 1], flat[i + 2], flat[i + 3], flat[i + 5]),
        failedAt: Number(flat[i + 4]),
      });
    }
    return jobs;
  }

  /** {@inheritDoc QueueBackend.retryFailed} */
  async retryFailed(queue: string, ids: readonly string[] | "all", _now: number): Promise<number> {
    const k = this.#k(queue);
    const keys = [
      k.jobs,
      k.attempts,
      k.errors,
      k.ready,
      k.failed,
      k.unique,
      k.stats,
      k.stalls,
      k.progress,
    ];
    let moved = 0;
    if (ids === "all") {
      for (;;) {
        const count = await this.#failedScript(retryFailedScript, k, keys, ["all", FAILED_CHUNK]);
        moved += count;
        if (count < FAILED_CHUNK) break;
      }
    } else if (ids.length > 0) {
      moved = await this.#failedScript(retryFailedScript, k, keys, ["ids", 0], ids);
    }
    if (moved > 0) { for (const listener of this.#listeners) listener(queue); }
    return moved;
  }

  /** {@inheritDoc QueueBackend.forgetFailed} */
  async forgetFailed(queue: string, ids: readonly string[] | "all"): Promise<number> {
    const k = this.#k(queue);
    const keys = [k.jobs, k.attempts, k.errors, k.failed, k.stalls, k.progress];
    if (ids !== "all") {
      return ids.length === 0
        ? 0
        : await this.#failedScript(forgetFailedScript, k, keys, ["ids", 0], ids);
    }
    let deleted = 0;
    for (;;) {
      const count = await this.#failedScript(forgetFailedScript, k, keys, ["all", FAILED_CHUNK]);
      deleted += count;
      if (count < FAILED_CHUNK) return deleted;
    }
  }

  /** Runs a failed-store script with a fresh token, under which its answer is remembered for a replay. */
  async #failedScript(
    script: typeof retryFailedScript,
    k: QueueKeys,
    keys: string[],
    head: (string | number)[],
    ids: readonly string[] = [],
  ): Promise<number> {
    const memo = k.space.key("admin", crypto.randomUUID());
    return asCount(
      await this.#runner.run(script, [...keys, memo], [...head, REPLAY_MEMO_MS, ...ids]),
      script.name,
    );
  }

  /** {@inheritDoc QueueBackend.onEnqueue} */
  onEnqueue(listener: (queue: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** {@inheritDoc Limiter.lock} */
  lock(key: string, token: string, ttl: number, _now: number): Promise<boolean> {
    return acquireLock(
      this.#runner,
      this.#limits.key("lock", encodeURIComponent(key)),
      token,
      Math.max(1, Math.ceil(ttl)),
    );
  }

  /** {@inheritDoc Limiter.unlock} */
  async unlock(key: string, token: string): Promise<void> {
    await releaseLock(this.#runner, this.#limits.key("lock", encodeURIComponent(key)), token);
  }

  /** {@inheritDoc Limiter.hit} */
  async hit(
    key: string,
    token: string,
    max: number,
    window: number,
    now: number,
  ): Promise<{ allowed: boolean; retryAfter: number }> {
    const reply = asArray(
      await this.#runner.run(
        rateHitScript,
        [this.#limits.key("rate", encodeURIComponent(key))],
        [now, window, max, token],
      ),
      "rateHit",
    );
    if (reply.length !== 2) throw unexpected("rateHit", reply);
    return {
      allowed: asStatus(reply[0], "rateHit", 1) === 1,
      retryAfter: asCount(reply[1], "rateHit"),
    };
  }
}

/**
 * The stored record: band, max retries, max stalls (-1: the worker's) and
 * dispatch token first, in a fixed form the Lua scripts read with a pattern
 * instead of decoding the whole payload.
 */
function encodeRecord(job: NewJob): string {
  const meta = JSON.stringify({
    id: job.id,
    name: job.name,
    priority: job.priority,
    createdAt: job.createdAt,
    ...(job.uniqueKey !== undefined ? { u: job.uniqueKey } : {}),
  });
  const token = JSON.stringify(job.dispatchToken ?? "");
  return `{"b":${BANDS[job.priority]},"m":${job.maxRetries},"s":${
    job.maxStalls ?? -1
  },"d":${token},${meta.slice(1, -1)},"payload":${job.payload}}`;
}

function decodeJob(
  queue: string,
  id: RedisReply,
  record: RedisReply,
  attempts: RedisReply,
  errors: RedisReply,
  stalls: RedisReply,
): StoredJob {
  const parsed = JSON.parse(String(record)) as {
    m: number;
    name: string;
    priority: Priority;
    createdAt: number;
    u?: string;
    payload: unknown;
  };
  return {
    id: String(id),
    name: parsed.name,
    queue,
    payload: parsed.payload,
    priority: parsed.priority,
    maxRetries: parsed.m,
    createdAt: parsed.createdAt,
    attempts: Number(attempts),
    stalls: Number(stalls ?? 0),
    errors: errors ? JSON.parse(String(errors)) as AttemptError[] : [],
    ...(parsed.u !== undefined ? { uniqueKey: parsed.u } : {}),
  };
}
