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
import { HeldChanges } from "./_held_changes.ts";
import { RedisError } from "../errors.ts";
import { type Clock, systemClock } from "../clock.ts";
import { followChannel } from "./_channel_follower.ts";
import type {
  AttemptError,
  BackendJobPage,
  BackendJobQuery,
  BatchInfo,
  ChainInfo,
  DispatchResult,
  FailRequest,
  FailResult,
  Heartbeat,
  JobEvent,
  JobInfo,
  JobState,
  Lease,
  ManageRequest,
  MetricBucket,
  NewJob,
  QueueBackend,
  QueueCounts,
  StoredJob,
  TakeRequest,
  TakeResult,
  WorkerInfo,
  WorkflowRequest,
} from "./backend.ts";
import {
  decodeBatchInfo,
  decodeChainInfo,
  jobWorkflowOf,
  markFields,
  template,
} from "./_workflow_records.ts";
import { RESOLUTIONS } from "./_metrics.ts";
import { decodeFlow, encodeFlow } from "./_flow.ts";
import type { Priority } from "./job.ts";
import { PayloadTooLargeError } from "./errors.ts";
import { utf8Length } from "./_payload.ts";
import { traceOf } from "./_tracing.ts";
import { asArray, asCount, asStatus, unexpected } from "./_replies.ts";
import * as scripts from "./_scripts.ts";
import { BACKEND_RETENTION, BANDS, DEFAULT_MAX_STALLS, REPLAY_MEMO_MS } from "./_constants.ts";

const enqueueScript = defineScript(scripts.enqueue);
const takeScript = defineScript(scripts.take);
const failScript = defineScript(scripts.fail);
const extendScript = defineScript(scripts.extend);
const manageScript = defineScript(scripts.manage);
const jobsScript = defineScript(scripts.jobs);
const rateHitScript = defineScript(scripts.rateHit);
const progressScript = defineScript(scripts.progress);
const watchScript = defineScript(scripts.watch);
const workflowScript = defineScript(scripts.workflow);

/**
 * How long a watcher's mark lasts (`watch-2.lua`); it is renewed every third of
 * that, so a watcher that misses one renewal (a short outage) stays marked.
 */
const WATCH_MARK = 30_000;

/**
 * How long the gateway may hold a queue's change messages, once they are flowing, to
 * deliver them together (`SubscribeHandlers.gatherMs`). A busy queue publishes once per
 * script call, hundreds a second, and each delivery wakes the reader's process (often the
 * one running a worker too): at two messages a millisecond a subscriber spent 141 µs of
 * CPU per message without a window and 62 µs with this one (`bench/redis_http.ts`,
 * node-redis over TCP 121 µs in the same run).
 */
const EVENTS_GATHER_MS = 10;

/** The states of a published change by their letter (`STATE_CODES` in lua/includes/jobs.lua). */
const STATE_CODES: Readonly<Record<string, JobEvent["state"]>> = {
  w: "waiting",
  d: "delayed",
  a: "active",
  c: "completed",
  f: "failed",
  r: "removed",
};

/** How many failed jobs one `retry`/`forget` of "all" handles per script call. */
const FAILED_CHUNK = 500;

/** The most jobs one search call reads (a page may come back short, with a cursor). */
const SEARCH_BUDGET = 1_000;

/** The parts of the lifecycle keys, KEYS[1..28] of most scripts (see lua/includes/jobs.lua). */
const LIFECYCLE = [
  "jobs",
  "attempts",
  "errors",
  "ready",
  "delayed",
  "active",
  "leases",
  "failed",
  "unique",
  "stats",
  "stalls",
  "progress",
  "completed",
  "results",
  "logs",
  "runs",
  "index",
  "dedupe",
  "workers",
  "seen",
  "minute", // the metric bucket of the call's minute: see #lifecycle()
  "hour", // and of its hour
  "labels",
  "workflows", // chains and batches (issue 16)
  "members", // batches' member jobs (issue 16)
  "flow", // per-key flow control: counts, limiter state, debounce (issue 16)
  "parked", // jobs waiting on a busy key or a rate limit (issue 16)
  "held", // job state changes takes held back from the queue's live views (includes/jobs.lua)
] as const;

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
  /**
   * Times the waits before `watch()` (`queue.events()`) subscribes again
   * after losing its subscription to an outage.
   * @default systemClock
   */
  clock?: Clock;
}

type QueueKeys = Record<typeof LIFECYCLE[number], string> & {
  /** KEYS[1..28] of the scripts that include jobs.lua, in its order. */
  lifecycle: readonly string[];
  space: Keyspace;
};

/**
 * Keeps queues in Redis. Lease deadlines are set and compared on Redis's own
 * clock (`TIME`, inside the scripts), never a worker's, so workers with skewed
 * clocks cannot reclaim each other's live leases; run-at times of delayed jobs
 * and retries are the dispatching process's clock. Per queue, one hash tag
 * holds: `jobs` (HASH id → record), `ready` (ZSET, priority band then FIFO),
 * `delayed` (ZSET by run-at), `active` (ZSET by lease deadline) with `leases` (HASH id →
 * token), `failed` and `completed` (ZSETs by when they ended, trimmed to the
 * queue's retention by the same scripts), `unique` keys, `dedupe` windows,
 * `stats` counters and the paused flag, per job `attempts`, `errors`,
 * `stalls`, `progress`, `results`, `logs` and `runs`, and `index`: one ZSET
 * sorted as text by dispatch time, by name and by tag (a search over every
 * job merges the names' ranges), which the scripts that change a job's state
 * keep in the same atomic step.
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
  #clock: Clock;
  #keys = new Map<string, QueueKeys>();
  #registered = new Map<string, Promise<void>>();
  #registry: string;
  #limits: Keyspace;
  #listeners = new Set<(queue: string) => void>();
  #heldChanges: HeldChanges;

  /**
   * Creates a backend over a Redis handle.
   *
   * @param options The Redis handle, key prefix, key-locking and clock.
   * @throws {TypeError} When `redis` is not a Redis handle or `prefix` is malformed.
   */
  constructor(options: RedisBackendOptions) {
    this.redis = toRedisLike(options?.redis);
    this.#runner = new ScriptRunner(this.redis, {
      allowKeyLocking: options.allowKeyLocking ?? false,
    });
    this.#prefix = options.prefix ?? "kiln";
    this.#clock = options.clock ?? systemClock;
    this.#registry = new Keyspace("registry", this.#prefix).key("queues");
    this.#limits = new Keyspace("limits", this.#prefix);
    this.#heldChanges = new HeldChanges(
      this.#clock,
      (queue) => this.#runner.run(watchScript, this.#watchKeys(queue), [0]),
    );
  }

  #k(queue: string): QueueKeys {
    let keys = this.#keys.get(queue);
    if (!keys) {
      const space = new Keyspace(queue, this.#prefix);
      const lifecycle = LIFECYCLE.map((part) => space.key(part));
      const named = Object.fromEntries(LIFECYCLE.map((part, i) => [part, lifecycle[i]]));
      keys = { ...named as Record<typeof LIFECYCLE[number], string>, lifecycle, space };
      this.#keys.set(queue, keys);
    }
    return keys;
  }

  /** The lifecycle keys of a call made at `now`: its minute's and hour's metric buckets included. */
  #lifecycle(k: QueueKeys, now: number): string[] {
    const keys = [...k.lifecycle];
    keys[LIFECYCLE.indexOf("minute")] = this.#bucket(k, "minute", now);
    keys[LIFECYCLE.indexOf("hour")] = this.#bucket(k, "hour", now);
    return keys;
  }

  /** The keys of watch-2.lua: the queue's stats and its held changes. */
  #watchKeys(queue: string): string[] {
    const k = this.#k(queue);
    return [k.stats, k.held];
  }

  /** The key of the metric bucket holding `at`. */
  #bucket(k: QueueKeys, resolution: "minute" | "hour", at: number): string {
    const { size, prefix } = RESOLUTIONS[resolution];
    return k.space.key("metrics", prefix, String(Math.floor(at / size) * size));
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
      // Name, dispatch time and tags serve only the search labels: an unindexed job sends
      // them empty, so the script is not handed text it never reads (each argument costs).
      const indexed = job.indexed !== false;
      args.push(
        job.id,
        encodeRecord(job),
        BANDS[job.priority],
        job.runAt,
        job.uniqueKey ?? "",
        indexed ? job.name : "",
        indexed ? job.createdAt : "",
        indexed && job.tags?.length ? JSON.stringify(job.tags) : "",
        indexed ? "1" : "0",
      );
    }
    let reply: RedisReply;
    try {
      reply = await this.#runner.run(enqueueScript, k.lifecycle, args);
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
    const retain = request.retain ?? BACKEND_RETENTION;
    const args: (string | number)[] = [
      request.now,
      request.reserve,
      request.leaseDuration,
      request.token,
      retain.completed === false ? -1 : retain.completed.count,
      retain.completed === false ? 0 : retain.completed.age,
      retain.failed.count,
      retain.failed.age,
      request.maxStalls ?? DEFAULT_MAX_STALLS,
      request.worker ?? "",
      request.heartbeat ? heartbeatJson(request.heartbeat) : "",
      request.heartbeat?.ttl ?? 0,
      request.complete.length,
      request.metrics === false ? "0" : "1",
      request.runs === false ? "0" : "1",
    ];
    for (const completion of request.complete) {
      args.push(
        completion.id,
        completion.token,
        completion.uniqueKey ?? "",
        completion.dedupeFor ?? 0,
        completion.resultJson ?? "",
        completion.logs?.length ? JSON.stringify(completion.logs) : "",
        Math.round(completion.runTime ?? 0),
        completion.flow ? encodeFlow(completion.flow) : "",
      );
    }
    const sent = this.#heldChanges.sending(request.queue);
    const reply = await this.#runner.run(
      takeScript,
      [...this.#lifecycle(k, request.now), k.space.key("reservation", request.token)],
      args,
    );
    const parts = asArray(reply, "take");
    if (parts.length !== 6 || typeof parts[3] !== "number") throw unexpected("take", reply);
    if (parts[5] === 1) this.#heldChanges.held(request.queue, sent);
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
    const failed = (request.retain ?? BACKEND_RETENTION).failed;
    const reply = await this.#runner.run(failScript, [
      ...this.#lifecycle(k, request.now),
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
      failed.count,
      failed.age,
      REPLAY_MEMO_MS,
      request.dedupeFor ?? 0,
      request.logs?.length ? JSON.stringify(request.logs) : "",
      request.runTime === undefined ? "" : Math.round(request.runTime),
      request.metrics === false ? "0" : "1",
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
    const page = await this.findJobs(queue, { id, limit: 1 });
    return page.jobs[0] ?? null;
  }

  /** {@inheritDoc QueueBackend.findJobs} */
  async findJobs(queue: string, query: BackendJobQuery): Promise<BackendJobPage> {
    if (query.limit <= 0) return { jobs: [], next: null };
    const k = this.#k(queue);
    // The source a search reads: one job, an index range, or a state's set; the
    // other filters are checked on each job read (see jobs-28.lua).
    const plainState = query.state !== undefined && query.since === undefined &&
      query.until === undefined;
    const [source, key] = query.id !== undefined
      ? ["id", query.id]
      : query.tag !== undefined
      ? ["index", `t\0${query.tag}`]
      : query.name !== undefined
      ? ["index", `n\0${query.name}`]
      : plainState
      ? ["state", query.state!]
      : ["index", "a"];
    const reply = asArray(
      await this.#runner.run(jobsScript, k.lifecycle, [
        source,
        key,
        query.since ?? "",
        query.until ?? "",
        query.state ?? "",
        query.name ?? "",
        query.tag ?? "",
        query.limit,
        SEARCH_BUDGET,
        query.after?.value ?? "",
        query.after?.id ?? "",
      ]),
      "jobs",
    );
    if (reply.length !== 3) throw unexpected("jobs", reply);
    const rows = asArray(reply[0], "jobs (rows)", 11);
    const jobs: JobInfo[] = [];
    for (let i = 0; i < rows.length; i += 11) jobs.push(decodeInfo(queue, rows.slice(i, i + 11)));
    const next = String(reply[1] ?? "");
    return {
      jobs,
      next: next === "" ? null : { value: Number(next), id: String(reply[2]) },
    };
  }

  /** {@inheritDoc QueueBackend.manage} */
  async manage(queue: string, request: ManageRequest): Promise<number> {
    const { action, ids, now, retain = BACKEND_RETENTION } = request;
    const k = this.#k(queue);
    // A count above what was asked for is not a count this script could give.
    const run = async (head: (string | number)[], list: readonly string[] = []) =>
      asStatus(
        await this.#runner.run(
          manageScript,
          [...this.#lifecycle(k, now), k.space.key("admin", crypto.randomUUID())],
          [
            action,
            ...head,
            REPLAY_MEMO_MS,
            now,
            retain.failed.count,
            retain.failed.age,
            ...list,
          ],
        ),
        "manage",
        list.length || FAILED_CHUNK,
      );
    let changed = 0;
    if (ids === "all") {
      for (;;) {
        const count = await run(["all", FAILED_CHUNK]);
        changed += count;
        if (count < FAILED_CHUNK) break;
      }
    } else if (ids.length > 0) {
      changed = await run(["ids", 0], ids);
    }
    if (changed > 0 && (action === "retry" || action === "promote")) {
      for (const listener of this.#listeners) listener(queue);
    }
    return changed;
  }

  /** {@inheritDoc QueueBackend.workflow} */
  async workflow(queue: string, request: WorkflowRequest): Promise<boolean> {
    const k = this.#k(queue);
    await this.#register(queue);
    const failed = (request.retain ?? BACKEND_RETENTION).failed;
    const head = [
      request.action,
      request.now,
      request.id,
      failed.count,
      failed.age,
      REPLAY_MEMO_MS,
    ];
    const tpl = (job: NewJob) => template(job, encodeRecord(job), BANDS[job.priority]);
    let args: (string | number)[];
    switch (request.action) {
      case "chain":
        args = [
          ...head,
          JSON.stringify({
            steps: request.steps.map(tpl),
            ...(request.catch ? { catch: tpl(request.catch) } : {}),
            createdAt: request.now,
          }),
        ];
        break;
      case "batch":
      case "add": {
        const settings = request.action === "add" ? "" : JSON.stringify({
          name: request.name,
          allow: request.allowFailures,
          ...(request.then ? { ok: tpl(request.then) } : {}),
          ...(request.catch ? { ko: tpl(request.catch) } : {}),
          ...(request.finally ? { fin: tpl(request.finally) } : {}),
          createdAt: request.now,
        });
        args = [
          ...head,
          settings,
          request.open ?? "",
          request.close ?? "",
          ...request.jobs.map((job) => JSON.stringify(tpl(job))),
        ];
        break;
      }
      default:
        args = [...head, ""];
    }
    const reply = await this.#runner.run(
      workflowScript,
      [...this.#lifecycle(k, request.now), k.space.key("workflow", crypto.randomUUID())],
      args,
    );
    const done = asStatus(reply, "workflow", 1) === 1;
    if (done) { for (const listener of this.#listeners) listener(queue); }
    return done;
  }

  /** {@inheritDoc QueueBackend.chainInfo} */
  async chainInfo(queue: string, id: string): Promise<ChainInfo | null> {
    const base = `c\0${id}`;
    const [reply] = await this.redis.pipeline([
      [
        "HMGET",
        this.#k(queue).workflows,
        base,
        ...["p", "s", "e", "f", "r"].map((p) => `${base}\0${p}`),
      ],
    ]);
    if (!reply.ok) throw new RedisError("REDIS_COMMAND_FAILED", reply.error);
    return decodeChainInfo(queue, id, asArray(reply.reply, "chainInfo"));
  }

  /** {@inheritDoc QueueBackend.batchInfo} */
  async batchInfo(queue: string, id: string): Promise<BatchInfo | null> {
    const base = `b\0${id}`;
    const parts = ["t", "p", "c", "f", "x", "e"].map((p) => `${base}\0${p}`);
    const [reply] = await this.redis.pipeline([
      ["HMGET", this.#k(queue).workflows, base, ...parts],
    ]);
    if (!reply.ok) throw new RedisError("REDIS_COMMAND_FAILED", reply.error);
    return decodeBatchInfo(queue, id, asArray(reply.reply, "batchInfo"));
  }

  /** {@inheritDoc QueueBackend.setPaused} */
  async setPaused(queue: string, paused: boolean): Promise<void> {
    await this.#register(queue);
    const k = this.#k(queue);
    const [result] = await this.redis.pipeline([
      paused ? ["HSET", k.stats, "paused", "1"] : ["HDEL", k.stats, "paused"],
    ]);
    if (!result.ok) throw new RedisError("REDIS_COMMAND_FAILED", result.error);
    if (!paused) { for (const listener of this.#listeners) listener(queue); }
  }

  /** {@inheritDoc QueueBackend.extend} */
  async extend(
    queue: string,
    leases: readonly Lease[],
    leaseDuration: number,
    now: number,
    heartbeat?: Heartbeat,
  ): Promise<string[]> {
    if (leases.length === 0 && heartbeat === undefined) return [];
    const k = this.#k(queue);
    // Deadlines are set on Redis's clock; `now` only dates the heartbeat.
    const args: (string | number)[] = [
      leaseDuration,
      heartbeat?.info.id ?? "",
      heartbeat ? heartbeatJson(heartbeat) : "",
      heartbeat?.ttl ?? 0,
      now,
    ];
    for (const lease of leases) args.push(lease.id, lease.token);
    const keys = [k.active, k.leases, k.workers, k.seen];
    return asArray(await this.#runner.run(extendScript, keys, args), "extend").map(String);
  }

  /** {@inheritDoc QueueBackend.workers} */
  async workers(queue: string, now: number): Promise<WorkerInfo[]> {
    const k = this.#k(queue);
    const [seen, all] = await this.redis.pipeline([
      ["ZRANGE", k.seen, 0, -1, "WITHSCORES"],
      ["HGETALL", k.workers],
    ]);
    if (!seen.ok) throw new RedisError("REDIS_COMMAND_FAILED", seen.error);
    if (!all.ok) throw new RedisError("REDIS_COMMAND_FAILED", all.error);
    const lastSeen = new Map<string, number>();
    const pairs = asArray(seen.reply, "workers (seen)", 2);
    for (let i = 0; i < pairs.length; i += 2) lastSeen.set(String(pairs[i]), Number(pairs[i + 1]));
    const fields = asArray(all.reply, "workers", 2);
    const workers: WorkerInfo[] = [];
    for (let i = 0; i < fields.length; i += 2) {
      const { ttl, ...info } = JSON.parse(String(fields[i + 1])) as
        & Omit<WorkerInfo, "lastSeen">
        & { ttl: number };
      const at = lastSeen.get(String(fields[i]));
      if (at !== undefined && at + ttl > now) workers.push({ ...info, lastSeen: at });
    }
    return workers;
  }

  /** {@inheritDoc QueueBackend.metrics} */
  async metrics(
    queue: string,
    resolution: "minute" | "hour",
    from: number,
    to: number,
  ): Promise<MetricBucket[]> {
    const k = this.#k(queue);
    const { size, keep } = RESOLUTIONS[resolution];
    // Buckets older than they are kept have expired: do not ask for them.
    const first = Math.max(Math.floor(from / size) * size, Math.floor((to - keep) / size) * size);
    const starts: number[] = [];
    for (let at = first; at <= to; at += size) starts.push(at);
    if (starts.length === 0) return [];
    const replies = await this.redis.pipeline(
      starts.map((at) => ["HGETALL", this.#bucket(k, resolution, at)]),
    );
    const buckets: MetricBucket[] = [];
    replies.forEach((reply, i) => {
      if (!reply.ok) throw new RedisError("REDIS_COMMAND_FAILED", reply.error);
      const flat = asArray(reply.reply, "metrics", 2);
      if (flat.length === 0) return;
      const counts: Record<string, number> = {};
      for (let j = 0; j < flat.length; j += 2) counts[String(flat[j])] = Number(flat[j + 1]);
      buckets.push({ at: starts[i], counts });
    });
    return buckets;
  }

  /** {@inheritDoc QueueBackend.watch} */
  async watch(queue: string, listener: (event: JobEvent) => void): Promise<() => Promise<void>> {
    const channel = this.#k(queue).space.key("events");
    // The scripts publish only while the queue is marked watched: mark it once subscribed
    // (so every change after this resolves is heard), again after each resubscription (an
    // outage may have outlasted the mark), and renew it until unwatched.
    const mark = () => this.#runner.run(watchScript, this.#watchKeys(queue), [WATCH_MARK]);
    // Subscribed again after an outage, so a live view does not fall silent for good.
    const unfollow = await followChannel(
      this.redis,
      channel,
      {
        // Hundreds of messages a second while workers are busy: let the gateway deliver
        // those that follow one another within EVENTS_GATHER_MS together (a live view does
        // not see the wait; the first after a quiet spell is never held).
        gatherMs: EVENTS_GATHER_MS,
        onMessage: (message) => {
          // A script call's changes are one object, a letter per change in `states` and its
          // job in `ids`; changes a take held back come first in an array of such objects.
          let batches: unknown;
          try {
            batches = JSON.parse(message);
          } catch {
            return; // not a message the scripts wrote: ignore it rather than guess
          }
          for (const batch of Array.isArray(batches) ? batches : [batches]) {
            hearBatch(queue, batch, listener);
          }
        },
      },
      this.#clock,
      () => void mark().catch(() => {}),
    );
    try {
      await mark();
    } catch (error) {
      await unfollow().catch(() => {});
      throw error;
    }
    let stopped = false;
    let timer: unknown;
    const renew = () => {
      timer = this.#clock.setTimeout(() => {
        mark().catch(() => {}).finally(() => { // an outage: the next renewal tries again
          if (!stopped) renew();
        });
      }, WATCH_MARK / 3);
    };
    renew();
    return async () => {
      stopped = true;
      this.#clock.clearTimeout(timer);
      await unfollow();
    };
  }

  /** {@inheritDoc QueueBackend.counts} */
  async counts(queue: string): Promise<QueueCounts> {
    const k = this.#k(queue);
    const results = await this.redis.pipeline([
      ["ZCARD", k.ready],
      ["ZCARD", k.parked],
      ["ZCARD", k.delayed],
      ["ZCARD", k.active],
      ["ZCARD", k.failed],
      ["HGET", k.stats, "completed"],
      ["HEXISTS", k.stats, "paused"],
    ]);
    const numbers = results.map((result) => {
      if (!result.ok) throw new RedisError("REDIS_COMMAND_FAILED", result.error);
      return Number(result.reply ?? 0);
    });
    const [inLine, parked, delayed, active, failed, completed, paused] = numbers;
    // Jobs parked on a busy key (flow control) wait too.
    const ready = inLine + parked;
    return { ready, delayed, active, failed, completed, paused: paused === 1 };
  }

  /** {@inheritDoc QueueBackend.queues} */
  async queues(): Promise<string[]> {
    const [result] = await this.redis.pipeline([["SMEMBERS", this.#registry]]);
    if (!result.ok) throw new RedisError("REDIS_COMMAND_FAILED", result.error);
    return asArray(result.reply, "SMEMBERS").map(String).sort();
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

/** A heartbeat as the workers hash keeps it: the details and their ttl. */
function heartbeatJson(heartbeat: Heartbeat): string {
  return JSON.stringify({ ...heartbeat.info, ttl: heartbeat.ttl });
}

/**
 * The stored record: band, max retries, max stalls (-1: the worker's) and
 * dispatch token first, in a fixed form the Lua scripts read with a pattern
 * instead of decoding the whole payload; then the fields the scripts decode
 * when a job ends or leaves the index (unique key `u`, tags `t`, dedupe
 * window `x`), and the payload last.
 */
function encodeRecord(job: NewJob): string {
  const meta = JSON.stringify({
    id: job.id,
    name: job.name,
    priority: job.priority,
    createdAt: job.createdAt,
    runAt: job.runAt,
    ...(job.uniqueKey !== undefined ? { u: job.uniqueKey } : {}),
    ...(job.tags?.length ? { t: job.tags } : {}),
    ...(job.dedupeFor ? { x: job.dedupeFor } : {}),
    ...(job.workflow ? { w: markFields(job.workflow) } : {}),
  });
  const token = JSON.stringify(job.dispatchToken ?? "");
  // Flow rules sit right after the token, where flow.lua's anchored match finds them.
  const flow = job.flow ? `,"f":${JSON.stringify(encodeFlow(job.flow))}` : "";
  // The trace context goes last, after the payload, and only when there is one.
  const trace = job.trace === undefined ? "" : `,"tc":${JSON.stringify(job.trace)}`;
  return `{"b":${BANDS[job.priority]},"m":${job.maxRetries},"s":${
    job.maxStalls ?? -1
  },"d":${token}${flow},${meta.slice(1, -1)},"payload":${job.payload}${trace}}`;
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
    t?: string[];
    x?: number;
    payload: unknown;
    tc?: unknown;
    f?: string;
  } & Parameters<typeof jobWorkflowOf>[0];
  const trace = parsed.tc === undefined ? undefined : traceOf(parsed.tc);
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
    ...(parsed.t !== undefined ? { tags: parsed.t } : {}),
    ...(parsed.x !== undefined ? { dedupeFor: parsed.x } : {}),
    ...(trace !== undefined ? { trace } : {}),
    ...(parsed.w !== undefined ? { workflow: jobWorkflowOf(parsed) } : {}),
    ...(parsed.f !== undefined ? { flow: decodeFlow(parsed.f) } : {}),
  };
}

/** One row of jobs-28.lua: id, record, attempts, errors, stalls, progress, state, at, result, logs, run. */
function decodeInfo(queue: string, row: RedisReply[]): JobInfo {
  const [id, record, attempts, errors, stalls, progress, state, at, result, logs, run] = row;
  const job = decodeJob(queue, id, record, attempts, errors, stalls);
  const when = at === "" || at === null ? null : Number(at);
  const last = run ? JSON.parse(String(run)) as { startedAt: number; workerId: string } : null;
  const status = String(state) as JobState;
  return {
    ...job,
    state: status,
    progress: progress === "" || progress === null ? null : Number(progress),
    result: status === "completed" && result ? JSON.parse(String(result)) : null,
    logs: logs ? JSON.parse(String(logs)) as string[] : [],
    tags: job.tags ?? [],
    startedAt: last?.startedAt ?? null,
    finishedAt: status === "completed" || status === "failed" ? when : null,
    runAt: status === "delayed" ? when : null,
    workerId: last?.workerId || null,
  };
}

/** Hands each change of one script call's published object to `listener`, in order. */
function hearBatch(queue: string, batch: unknown, listener: (event: JobEvent) => void): void {
  const { at, states, ids } = (batch ?? {}) as { at?: unknown; states?: unknown; ids?: unknown };
  if (typeof states !== "string" || !Array.isArray(ids)) return; // not the scripts' shape
  const time = Number(at);
  for (let i = 0; i < ids.length && i < states.length; i++) {
    const state = STATE_CODES[states[i]];
    const id = ids[i];
    // A forged message's id may be anything: an object whose toString throws would end
    // the subscription, losing every change after it in the message.
    if (state !== undefined && (typeof id === "string" || typeof id === "number")) {
      listener({ queue, id: String(id), state, at: time });
    }
  }
}
