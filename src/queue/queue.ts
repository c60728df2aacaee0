/**
 * The producer side: dispatching jobs, counting queues and managing the failed store.
 *
 * @module
 */
import type {
  BatchInfo,
  ChainInfo,
  DispatchResult,
  FailedJob,
  JobAction,
  JobInfo,
  NewJob,
  QueueBackend,
  QueueCounts,
  RetainLimit,
  Retention,
  WorkerInfo,
} from "./backend.ts";
import {
  type AnyJob,
  isLabel,
  type JobDefinition,
  MAX_TAGS,
  type PayloadInput,
  type PayloadSchema,
  PRIORITIES,
  type Priority,
} from "./job.ts";
import { JobValidationError, PayloadTooLargeError } from "./errors.ts";
import type { DebounceOptions, ThrottleOptions } from "./flow.ts";
import { flowOf } from "./_flow.ts";
import { type Clock, systemClock } from "../clock.ts";
import { jsonIssues, parsePayload, utf8Length } from "./_payload.ts";
import { assertRetention, DEFAULT_RETENTION } from "./_constants.ts";
import { forEachPage, type JobPage, type JobQuery, searchPage } from "./_search.ts";
import { mergeBuckets, type MetricPoint, RESOLUTIONS, toPoint } from "./_metrics.ts";
import { type EventsOptions, type JobEventStream, watchJobs } from "./_events.ts";
import type { BatchOptions, ChainOptions, Workflow, WorkflowJob } from "./workflow.ts";
import { addJobs, startBatch, startChain, type WorkflowQueue } from "./_workflow_dispatch.ts";
import { checkPartitions, partitionOf } from "./_partition_keys.ts";
import { PartitionedBackend } from "./_partitions.ts";
import {
  bindTracing,
  sendTraced,
  type TraceCarrier,
  tracedWorkflows,
  type TracingApi,
  withTrace,
} from "./_tracing.ts";

/** Options for {@linkcode Queue}. */
export interface QueueOptions {
  /** Where jobs are kept: a `MemoryBackend` or a `RedisBackend`. */
  backend: QueueBackend;
  /**
   * The time and the timers of this queue and its workers (polling, lease
   * renewal, timeouts, `drain()`'s deadline), in one object; inject one in
   * tests to move time by hand.
   * @default systemClock
   */
  clock?: Clock;
  /**
   * The largest payload accepted, as UTF-8 bytes of its JSON. Larger payloads
   * are refused at dispatch with a `PayloadTooLargeError`, whatever the
   * backend, and `dispatchMany()` keeps each request under this much payload.
   * Keep it below your Redis endpoint's request size limit.
   * @default 1_048_576 (1 MiB)
   */
  maxPayloadBytes?: number;
  /**
   * What is kept of finished jobs, per queue, so an operator can see them:
   * completed jobs with their result and logs, failed jobs with their errors.
   * The oldest beyond `count`, and any older than `age` ms, are deleted by the
   * same scripts that complete and fail jobs. `completed: false` deletes
   * completed jobs at once (only the counter remains).
   * @default { completed: { count: 1_000, age: 86_400_000 }, failed: { count: 10_000, age: 604_800_000 } }
   */
  retain?: { completed?: RetainLimit | false; failed?: RetainLimit };
  /**
   * Whether jobs are indexed for `jobs()` searches by name, tag and dispatch
   * time, and each attempt's start time and worker kept (`JobInfo.startedAt`,
   * `workerId`). `false` saves Redis that work on every job: `jobs()` then
   * finds jobs by `id` and `state` only, and such jobs read `startedAt` and
   * `workerId` as `null`. Jobs dispatched while it was on stay indexed.
   * @default true
   */
  search?: boolean;
  /**
   * Whether workers count per-minute and per-hour metrics (`metrics()`).
   * `false` saves Redis those writes; `metrics()` then answers what was
   * counted before, if anything.
   * @default true
   */
  metrics?: boolean;
  /**
   * OpenTelemetry spans for dispatching and running jobs (docs/QUEUES.md,
   * "Traces"): pass the `@opentelemetry/api` module itself (`import * as otel
   * from "@opentelemetry/api"`). Kiln never imports the package, so without
   * this there are no spans and nothing is loaded.
   * @default no spans
   */
  tracing?: TracingApi;
  /**
   * Queues spread over several partitions, by name: `{ reports: 6 }`. Each
   * partition has its own keys under its own hash tag (`kiln:{reports#0}:…`),
   * so on Redis Cluster a queue's work is spread over the shards instead of
   * capped by one. A job's partition is a hash of its id; a job with a
   * `uniqueKey` gets an id of its key's partition, so it cannot also take a
   * `jobId`. Workers read one partition per poll, in turn. Order within a
   * priority band holds per partition, not across them. Every process using
   * the queue must declare the same count, and changing it strands the jobs
   * of partitions that move: drain the queue first.
   * @default {} (every queue in one partition)
   */
  partitions?: Readonly<Record<string, number>>;
}

/** The default of {@linkcode QueueOptions.maxPayloadBytes}: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576;

/** Options for {@linkcode Queue.dispatch}. */
export interface DispatchOptions {
  /** Run no earlier than this many milliseconds from now. */
  delay?: number;
  /** Run no earlier than this time (a `Date` or epoch milliseconds). Overrides `delay`. */
  at?: Date | number;
  /** The priority band. @default the job's priority */
  priority?: Priority;
  /** Your id for the job: dispatching the same id again enqueues nothing new while it exists. */
  jobId?: string;
  /** While a job with this key is pending or running, a second dispatch returns its id instead. */
  uniqueKey?: string;
  /**
   * Keeps `jobId` and `uniqueKey` reserved for this many milliseconds after
   * the job completes or fails, so a dispatch in that window enqueues nothing
   * (a webhook redelivered an hour later). Without it a completed job's id and
   * key are free again at once.
   * @default 0
   */
  dedupeFor?: number;
  /**
   * Dispatches with the same key within `delay` of each other collapse into
   * one job that runs `delay` after the last, with the last payload: a
   * dispatch while the key's job is still delayed answers that job's id with
   * `created: false`, and the job takes this dispatch's payload, priority and
   * tags (keeping its id and dispatch time) and runs `delay` from now.
   * Not with `delay`, `at`, `jobId` or `uniqueKey`.
   * @default no debounce
   */
  debounce?: DebounceOptions;
  /**
   * The first dispatch with the key runs; the others within `window` of it
   * are dropped, answered `created: false` with the first job's id.
   * @default no throttle
   */
  throttle?: ThrottleOptions;
}

/** Options for {@linkcode Queue.dispatchMany}: shared settings plus per-payload ids and keys. */
export interface DispatchManyOptions<P> {
  /** Run no earlier than this many milliseconds from now. */
  delay?: number;
  /** Run no earlier than this time. Overrides `delay`. */
  at?: Date | number;
  /** The priority band of every job. @default the job's priority */
  priority?: Priority;
  /** Your id for each job, from its payload and index. */
  jobId?: (payload: P, index: number) => string;
  /** The unique key of each job, from its payload and index. */
  uniqueKey?: (payload: P, index: number) => string | undefined;
  /** How long each job's id and unique key stay reserved after it ends, in ms. @default 0 */
  dedupeFor?: number;
}

/** Options for {@linkcode FailedJobs.list}. */
export interface ListFailedOptions {
  /** Only this queue. @default every queue that has had jobs */
  queue?: string;
  /** At most this many. @default 50 */
  limit?: number;
  /** Skip this many of the most recent. @default 0 */
  offset?: number;
}

/** What {@linkcode Queue.metrics} reads. */
export interface MetricsQuery {
  /** The queue. @default every queue, added up */
  queue?: string;
  /** From, epoch milliseconds. @default an hour (minutes) or 30 days (hours) before `until` */
  since?: number;
  /** To, epoch milliseconds. @default now */
  until?: number;
  /** Minute or hour buckets. @default "minute" */
  resolution?: "minute" | "hour";
}

/** One queue as {@linkcode Queue.queues} lists it. */
export interface QueueSummary {
  /** The queue's name. */
  readonly name: string;
  /** Its size per state. */
  readonly counts: QueueCounts;
  /** Whether workers are kept from taking its jobs. */
  readonly paused: boolean;
}

/** The largest batch sent in one round trip by {@linkcode Queue.dispatchMany}. */
export const DISPATCH_BATCH_SIZE = 1_000;

/**
 * The failed store (dead letters) of a {@linkcode Queue}: jobs that used up
 * their retries, or could not run at all.
 */
export class FailedJobs {
  #backend: QueueBackend;
  #clock: Clock;
  #retain: Retention;

  /**
   * Wraps a backend's failed store. Reach it as `queue.failed`.
   *
   * @param backend The queue's backend.
   * @param clock The queue's clock.
   * @param retain What the queue keeps of failed jobs.
   */
  constructor(backend: QueueBackend, clock: Clock, retain: Retention = DEFAULT_RETENTION) {
    this.#backend = backend;
    this.#clock = clock;
    this.#retain = retain;
  }

  #manage(action: JobAction, ids: readonly string[] | "all", queue?: string): Promise<number> {
    return manageIn(this.#backend, queue, action, ids, this.#clock.now(), this.#retain);
  }

  /**
   * Lists failed jobs, most recently failed first, with every attempt's error.
   *
   * @param options Queue, limit and offset.
   * @returns The failed jobs.
   * @throws {RangeError} When `limit` or `offset` is negative or not an integer.
   *
   * @example Listing failed jobs
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const boom = defineJob({
   *   name: "boom",
   *   schema: v.null(),
   *   queue: "mail",
   *   maxRetries: 0,
   *   handle() {
   *     throw new Error("SMTP refused");
   *   },
   * });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * await queue.dispatch(boom, null);
   * await new Worker(queue, { jobs: [boom], logger: { debug() {}, info() {}, warn() {}, error() {} } })
   *   .drain();
   * const failed = await queue.failed.list({ limit: 10 });
   * assert.deepEqual(failed.map((job) => job.errors.at(-1)?.message), ["SMTP refused"]);
   * ```
   */
  async list(options: ListFailedOptions = {}): Promise<FailedJob[]> {
    const limit = options.limit ?? 50;
    const offset = options.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
    }
    if (!Number.isInteger(offset) || offset < 0) {
      throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
    }
    const queues = options.queue === undefined ? await this.#backend.queues() : [options.queue];
    const lists = await Promise.all(queues.map(async (queue) => {
      const jobs: JobInfo[] = [];
      let after;
      while (jobs.length < offset + limit) {
        const want = Math.min(offset + limit - jobs.length, 1_000);
        const page = await this.#backend.findJobs(queue, { state: "failed", limit: want, after });
        jobs.push(...page.jobs);
        if (page.next === null) break;
        after = page.next;
      }
      return jobs;
    }));
    return lists.flat()
      .map((job) => ({ ...job, failedAt: job.finishedAt ?? 0 }))
      .sort((a, b) => b.failedAt - a.failedAt)
      .slice(offset, offset + limit);
  }

  /**
   * Moves a failed job back to its queue with a fresh retry budget.
   *
   * @param id The job's id.
   * @param queue Its queue, when known (saves looking through every queue).
   * @returns `true` when the job was in the failed store and is queued again.
   *
   * @example Retrying one job
   * ```ts
   * import { MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue({ backend: new MemoryBackend() });
   * assert.equal(await queue.failed.retry("no-such-job"), false);
   * ```
   */
  async retry(id: string, queue?: string): Promise<boolean> {
    return await this.#manage("retry", [id], queue) > 0;
  }

  /**
   * Moves every failed job of a queue (or of all queues) back with a fresh retry budget.
   *
   * @param queue The queue. @default every queue
   * @returns How many jobs were queued again.
   *
   * @example Retrying a queue's failed jobs
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const boom = defineJob({
   *   name: "boom",
   *   schema: v.null(),
   *   queue: "mail",
   *   maxRetries: 0,
   *   handle() {
   *     throw new Error("SMTP refused");
   *   },
   * });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * await queue.dispatch(boom, null);
   * await new Worker(queue, { jobs: [boom], logger: { debug() {}, info() {}, warn() {}, error() {} } })
   *   .drain();
   * assert.equal(await queue.failed.retryAll("mail"), 1);
   * assert.equal((await queue.counts("mail")).ready, 1);
   * ```
   */
  retryAll(queue?: string): Promise<number> {
    return this.#manage("retry", "all", queue);
  }

  /**
   * Deletes a failed job for good.
   *
   * @param id The job's id.
   * @param queue Its queue, when known.
   * @returns `true` when the job was in the failed store and is now gone.
   *
   * @example Forgetting a job
   * ```ts
   * import { MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue({ backend: new MemoryBackend() });
   * assert.equal(await queue.failed.forget("no-such-job"), false);
   * ```
   */
  async forget(id: string, queue?: string): Promise<boolean> {
    return await this.#manage("forget", [id], queue) > 0;
  }

  /**
   * Deletes every failed job of a queue (or of all queues).
   *
   * @param queue The queue. @default every queue
   * @returns How many jobs were deleted.
   *
   * @example Emptying the failed store
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const boom = defineJob({
   *   name: "boom",
   *   schema: v.null(),
   *   queue: "mail",
   *   maxRetries: 0,
   *   handle() {
   *     throw new Error("SMTP refused");
   *   },
   * });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * await queue.dispatch(boom, null);
   * await new Worker(queue, { jobs: [boom], logger: { debug() {}, info() {}, warn() {}, error() {} } })
   *   .drain();
   * assert.equal(await queue.failed.flush(), 1);
   * assert.equal((await queue.counts("mail")).failed, 0);
   * ```
   */
  flush(queue?: string): Promise<number> {
    return this.#manage("forget", "all", queue);
  }
}

/**
 * Dispatches jobs to a backend and inspects its queues.
 *
 * @example Dispatching with options
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const report = defineJob({ name: "report", schema: v.object({ day: v.string() }), handle() {} });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * await queue.dispatch(report, { day: "2025-01-01" }, { delay: 60_000, priority: "low" });
 * const first = await queue.dispatch(report, { day: "2025-01-02" }, { uniqueKey: "day-2" });
 * const again = await queue.dispatch(report, { day: "2025-01-02" }, { uniqueKey: "day-2" });
 * assert.equal(again.id, first.id);
 * assert.equal(again.created, false);
 * assert.equal((await queue.counts("default")).delayed, 1);
 * ```
 */
export class Queue {
  /** The backend jobs are kept in. */
  readonly backend: QueueBackend;
  /** The time and timers of this queue and its workers. */
  readonly clock: Clock;
  /** The failed store. */
  readonly failed: FailedJobs;
  /** The largest payload accepted, in UTF-8 bytes of JSON. */
  readonly maxPayloadBytes: number;
  /** What is kept of finished jobs, with the defaults filled in. */
  readonly retain: Retention;
  /** Whether jobs are indexed for search and metrics counted (`QueueOptions.search`, `metrics`). */
  readonly tracking: { readonly search: boolean; readonly metrics: boolean };

  /**
   * Creates a queue client over a backend.
   *
   * @param options The backend, clock, payload limit and retention.
   * @throws {TypeError} When the backend is missing, the clock lacks a method, or
   *   `partitions` is not a map of queue names.
   * @throws {RangeError} When `maxPayloadBytes` is not a positive integer, a
   *   retention count or age is negative or not an integer, or a partition
   *   count is not an integer from 1 to 256.
   * @throws {TypeError} When `tracing` is not the `@opentelemetry/api` module.
   */
  constructor(options: QueueOptions) {
    if (typeof options?.backend?.take !== "function") {
      throw new TypeError("Queue needs a backend, such as new MemoryBackend()");
    }
    const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    if (!Number.isSafeInteger(maxPayloadBytes) || maxPayloadBytes <= 0) {
      throw new RangeError(`maxPayloadBytes must be a positive integer, got ${maxPayloadBytes}`);
    }
    this.maxPayloadBytes = maxPayloadBytes;
    const partitions = checkPartitions(options.partitions);
    this.backend = [...partitions.values()].some((count) => count > 1)
      ? new PartitionedBackend(options.backend, (queue) => partitions.get(queue) ?? 1)
      : options.backend;
    this.clock = clockOf(options);
    this.retain = {
      completed: options.retain?.completed ?? DEFAULT_RETENTION.completed,
      failed: options.retain?.failed ?? DEFAULT_RETENTION.failed,
    };
    assertRetention(this.retain);
    this.tracking = { search: options.search ?? true, metrics: options.metrics ?? true };
    bindTracing(this, options.tracing);
    this.failed = new FailedJobs(this.backend, this.clock, this.retain);
  }

  /**
   * Validates a payload and enqueues one job.
   *
   * @param job The job definition.
   * @param payload The payload; checked against the job's schema and for being plain JSON.
   * @param options Delay, priority, id and unique key.
   * @returns The job's id, and whether a new job was enqueued.
   * @throws {JobValidationError} When the payload fails the schema or is not plain JSON (nothing is enqueued).
   * @throws {PayloadTooLargeError} When the payload's JSON is over `maxPayloadBytes`, or the
   *   Redis endpoint refuses the request as too large (nothing is enqueued).
   * @throws {RangeError} When `delay` or `at` is not a valid time.
   * @throws {TypeError} When `priority`, `jobId` or `uniqueKey` is malformed.
   *
   * @example Dispatching a job
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const ping = defineJob({ name: "ping", schema: v.object({ url: v.string() }), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const { id, created } = await queue.dispatch(ping, { url: "https://example.com" }, {
   *   priority: "high",
   * });
   * assert.equal(created, true);
   * assert.equal((await queue.job(id))?.priority, "high");
   * ```
   */
  async dispatch<S extends PayloadSchema>(
    job: JobDefinition<S>,
    payload: PayloadInput<S>,
    options: DispatchOptions = {},
  ): Promise<DispatchResult> {
    const now = this.clock.now();
    const { debounce, throttle } = options;
    if (
      debounce !== undefined &&
      [options.delay, options.at, options.jobId, options.uniqueKey].some((o) => o !== undefined)
    ) {
      throw new TypeError("debounce cannot be combined with delay, at, jobId or uniqueKey");
    }
    const runAt = debounce !== undefined ? now + debounce?.delay : runAtOf(options, now);
    const priority = priorityOf(job, options.priority);
    const { job: newJob } = await this.#prepare(job, payload, {
      now,
      runAt,
      priority,
      id: options.jobId,
      uniqueKey: options.uniqueKey,
      dedupeFor: dedupeOf(options),
      dispatchToken: crypto.randomUUID(),
      debounce,
      throttle,
    });
    const [result] = await sendTraced(
      this,
      job.queue,
      job.name,
      1,
      (trace) => this.backend.enqueue(job.queue, [withTrace(newJob, trace)], now),
    );
    return result;
  }

  /**
   * Validates every payload first, then enqueues them in batches of up to
   * 1,000 jobs and `maxPayloadBytes` of payload, one round trip and
   * all-or-nothing per batch. If any payload is invalid or too large nothing
   * is enqueued. Should a later batch fail to reach the backend, earlier
   * batches stay enqueued: pass `jobId` to make a retry of the whole call
   * idempotent.
   *
   * @param job The job definition.
   * @param payloads The payloads.
   * @param options Shared delay and priority; per-payload ids and unique keys.
   * @returns One result per payload, in order.
   * @throws {JobValidationError} When any payload is invalid; its issues' paths start with its index.
   * @throws {PayloadTooLargeError} When a payload is over `maxPayloadBytes` (its `index` says which).
   *
   * @example Dispatching in bulk
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const index = defineJob({ name: "index", schema: v.object({ doc: v.number() }), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const results = await queue.dispatchMany(index, [{ doc: 1 }, { doc: 2 }], {
   *   jobId: (payload) => `doc-${payload.doc}`,
   * });
   * assert.deepEqual(results.map((r) => r.id), ["doc-1", "doc-2"]);
   * ```
   */
  async dispatchMany<S extends PayloadSchema>(
    job: JobDefinition<S>,
    payloads: readonly PayloadInput<S>[],
    options: DispatchManyOptions<PayloadInput<S>> = {},
  ): Promise<DispatchResult[]> {
    if (!Array.isArray(payloads)) throw new TypeError("payloads must be an array");
    const now = this.clock.now();
    const runAt = runAtOf(options, now);
    const priority = priorityOf(job, options.priority);
    const prepared: { job: NewJob; bytes: number }[] = [];
    const issues = [];
    const dispatchToken = crypto.randomUUID();
    const dedupeFor = dedupeOf(options);
    for (const [index, payload] of payloads.entries()) {
      try {
        prepared.push(
          await this.#prepare(job, payload, {
            now,
            runAt,
            priority,
            id: options.jobId?.(payload, index),
            uniqueKey: options.uniqueKey?.(payload, index),
            dedupeFor,
            dispatchToken,
          }),
        );
      } catch (error) {
        if (error instanceof PayloadTooLargeError) {
          throw new PayloadTooLargeError(job.name, error.bytes, error.limit, { index });
        }
        if (!(error instanceof JobValidationError)) throw error;
        for (const issue of error.issues) {
          issues.push({
            path: issue.path ? `${index}.${issue.path}` : `${index}`,
            message: issue.message,
          });
        }
      }
    }
    if (issues.length > 0) throw new JobValidationError(job.name, issues);
    return await sendTraced(
      this,
      job.queue,
      job.name,
      prepared.length,
      (trace) => this.#enqueueAll(job.queue, prepared, now, trace),
    );
  }

  /** Enqueues prepared jobs in batches, each within the request limits, in order. */
  async #enqueueAll(
    queue: string,
    prepared: readonly { job: NewJob; bytes: number }[],
    now: number,
    trace: TraceCarrier | undefined,
  ): Promise<DispatchResult[]> {
    const results: DispatchResult[] = [];
    let batch: NewJob[] = [];
    let batchBytes = 0;
    for (const { job: next, bytes } of prepared) {
      // One request carries at most maxPayloadBytes of payload (or one payload), so
      // payloads that each fit the endpoint's request limit also fit it together.
      if (
        batch.length === DISPATCH_BATCH_SIZE ||
        (batch.length > 0 && batchBytes + bytes > this.maxPayloadBytes)
      ) {
        results.push(...await this.backend.enqueue(queue, batch, now));
        batch = [];
        batchBytes = 0;
      }
      batch.push(withTrace(next, trace));
      batchBytes += bytes;
    }
    if (batch.length > 0) results.push(...await this.backend.enqueue(queue, batch, now));
    return results;
  }

  /**
   * Dispatches a chain: each step runs only after the one before completed,
   * and reads its result as `ctx.previous`. A step's retries do not restart
   * the chain; a step that is dead-lettered (or removed) stops it, and
   * `options.catch` is dispatched once, its handler reading the failed step's
   * job id and error in `ctx.chain.failed`. The next step is enqueued in the
   * same atomic step that completes the one before, so the chain survives
   * crashed workers and restarts. Every step (and `catch`) must run on one
   * queue, and their payloads together are at most `maxPayloadBytes`.
   *
   * @param steps The steps, in order: `[job, payload]` pairs.
   * @param options The `catch` job, and an `id` that makes calling again answer the chain that exists.
   * @returns The chain's id, queue and its steps' job ids.
   * @throws {TypeError} When `steps` is empty or malformed, the jobs run on different queues, or
   *   `options.id` is malformed or taken (by a batch, or by jobs of a chain retention forgot).
   * @throws {RangeError} When there are more than 1,000 steps.
   * @throws {JobValidationError} When a payload fails its schema (nothing is dispatched).
   * @throws {PayloadTooLargeError} When the payloads together are over `maxPayloadBytes`.
   *
   * @example A chain whose second step reads the first one's result
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const seen: unknown[] = [];
   * const fetchUser = defineJob({ name: "fetch-user", schema: v.number(), handle: (id) => `user ${id}` });
   * const greet = defineJob({
   *   name: "greet",
   *   schema: v.null(),
   *   handle: (_payload, ctx) => void seen.push(ctx.previous),
   * });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const chain = await queue.chain([[fetchUser, 7], [greet, null]]);
   * await new Worker(queue, { jobs: [fetchUser, greet] }).drain();
   * assert.deepEqual(seen, ["user 7"]);
   * assert.equal((await queue.chainInfo(chain.id))?.state, "completed");
   * ```
   */
  chain(steps: readonly WorkflowJob[], options: ChainOptions = {}): Promise<Workflow> {
    return startChain(this.#workflows(), steps, options);
  }

  /**
   * Reads a chain's state: running, completed or failed, the step it is at,
   * its steps' job ids and the failed step. Finished chains are kept as long
   * as failed jobs (`retain.failed`).
   *
   * @param id The chain's id.
   * @param queue Its queue, when known (saves looking through every queue).
   * @returns The chain, or `null` when unknown.
   *
   * @example Reading a chain before any worker ran
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const step = defineJob({ name: "step", schema: v.number(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const { id } = await queue.chain([[step, 1], [step, 2]]);
   * const info = await queue.chainInfo(id);
   * assert.deepEqual([info?.state, info?.step, info?.steps], ["running", 1, 2]);
   * ```
   */
  async chainInfo(id: string, queue?: string): Promise<ChainInfo | null> {
    for (const name of queue === undefined ? await this.backend.queues() : [queue]) {
      const found = await this.backend.chainInfo(name, id);
      if (found !== null) return found;
    }
    return null;
  }

  /**
   * Dispatches a batch: its jobs run in parallel, and its callbacks are
   * dispatched as jobs, each exactly once, by the atomic step that ends the
   * job crossing the threshold: `then` when every job completed, `catch` at
   * the first dead-lettered job (unless `allowFailures`), `finally` when none
   * is pending. Large batches are sent in several requests (of up to 1,000
   * jobs and `maxPayloadBytes`), the batch held open until the last is in.
   * Every job and callback must run on one queue.
   *
   * @param jobs The jobs: `[job, payload]` pairs (may be empty: `then` and `finally` follow at once).
   * @param options Name, `allowFailures`, the `then`, `catch` and `finally` jobs, and an `id`
   *   that makes calling again answer the batch that exists (for a batch sent in one request).
   * @returns The batch's id, queue and its jobs' ids.
   * @throws {TypeError} When a pair or the name (at most 200 characters) is malformed, the
   *   jobs run on different queues, or `options.id` is malformed, taken, or given for a batch
   *   that takes more than one request.
   * @throws {JobValidationError} When a payload fails its schema (nothing is dispatched).
   * @throws {PayloadTooLargeError} When a payload is over `maxPayloadBytes`.
   *
   * @example A batch with a `then` callback
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const done: string[] = [];
   * const resize = defineJob({ name: "resize", schema: v.string(), handle() {} });
   * const notify = defineJob({ name: "notify", schema: v.string(), handle: (to) => void done.push(to) });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const batch = await queue.batch([[resize, "a.png"], [resize, "b.png"]], {
   *   then: [notify, "ada@example.com"],
   * });
   * await new Worker(queue, { jobs: [resize, notify] }).drain();
   * assert.deepEqual(done, ["ada@example.com"]);
   * assert.equal((await queue.batchInfo(batch.id))?.progress, 100);
   * ```
   */
  batch(jobs: readonly WorkflowJob[], options: BatchOptions = {}): Promise<Workflow> {
    return startBatch(this.#workflows(), jobs, options);
  }

  /**
   * Reads a batch's counters: total, pending, completed, failed, progress (a
   * whole percentage), whether it was cancelled, when it was created and
   * finished. Finished batches are kept as long as failed jobs (`retain.failed`).
   *
   * @param id The batch's id.
   * @param queue Its queue, when known (saves looking through every queue).
   * @returns The batch, or `null` when unknown.
   *
   * @example Counting a batch's jobs
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const resize = defineJob({ name: "resize", schema: v.string(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const { id } = await queue.batch([[resize, "a.png"], [resize, "b.png"]], { name: "thumbs" });
   * const info = await queue.batchInfo(id);
   * assert.deepEqual([info?.name, info?.total, info?.pending, info?.progress], ["thumbs", 2, 2, 0]);
   * ```
   */
  async batchInfo(id: string, queue?: string): Promise<BatchInfo | null> {
    for (const name of queue === undefined ? await this.backend.queues() : [queue]) {
      const found = await this.backend.batchInfo(name, id);
      if (found !== null) return found;
    }
    return null;
  }

  /**
   * Adds jobs to a batch that is still running (they must run on its queue).
   *
   * @param id The batch's id.
   * @param jobs The jobs: `[job, payload]` pairs.
   * @returns `false` when no running batch has this id on the jobs' queue
   *   (unknown, finished or cancelled); nothing is added then.
   * @throws {TypeError} When `jobs` is empty or malformed, or the jobs run on different queues.
   * @throws {JobValidationError} When a payload fails its schema (nothing is added).
   *
   * @example Adding to a running batch
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const resize = defineJob({ name: "resize", schema: v.string(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const { id } = await queue.batch([[resize, "a.png"]]);
   * assert.equal(await queue.addToBatch(id, [[resize, "b.png"]]), true);
   * assert.equal((await queue.batchInfo(id))?.total, 2);
   * ```
   */
  addToBatch(id: string, jobs: readonly WorkflowJob[]): Promise<boolean> {
    return addJobs(this.#workflows(), id, jobs);
  }

  /**
   * Cancels a running batch: its pending jobs are removed, its running jobs
   * cancelled as `remove()` cancels them (their `ctx.signal` aborts with a
   * `JobCancelledError` at the worker's next lease renewal, and
   * `ctx.batch.cancelled` reads `true`); then `finally` is dispatched, and
   * neither `then` nor `catch`.
   *
   * @param id The batch's id.
   * @param queue Its queue, when known (saves looking through every queue).
   * @returns `true` when a running batch was cancelled.
   *
   * @example Cancelling a batch
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const resize = defineJob({ name: "resize", schema: v.string(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const { id } = await queue.batch([[resize, "a.png"], [resize, "b.png"]]);
   * assert.equal(await queue.cancelBatch(id), true);
   * const info = await queue.batchInfo(id);
   * assert.deepEqual([info?.cancelled, info?.pending], [true, 0]);
   * assert.equal((await queue.counts("default")).ready, 0);
   * ```
   */
  async cancelBatch(id: string, queue?: string): Promise<boolean> {
    for (const name of queue === undefined ? await this.backend.queues() : [queue]) {
      const request = { action: "cancel", id, now: this.clock.now(), retain: this.retain } as const;
      if (await this.backend.workflow(name, request)) return true;
    }
    return false;
  }

  /**
   * Counts each part of a queue.
   *
   * @param queue The queue's name. @default "default"
   * @returns Ready, delayed, active, failed and completed counts, and whether it is paused.
   *
   * @example Counting
   * ```ts
   * import { MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue({ backend: new MemoryBackend() });
   * assert.deepEqual(await queue.counts("mail"), {
   *   ready: 0,
   *   delayed: 0,
   *   active: 0,
   *   failed: 0,
   *   completed: 0,
   *   paused: false,
   * });
   * ```
   */
  counts(queue = "default"): Promise<QueueCounts> {
    return this.backend.counts(queue);
  }

  /**
   * Reads one job: its payload, state, attempts, stalls, errors, latest
   * progress, result, logs, tags and last run. Completed and failed jobs are
   * kept within `retain`, so a finished job reads with its state `completed`
   * or `failed`; a job removed, trimmed or never dispatched reads as `null`.
   *
   * @param id The job's id.
   * @param queue Its queue, when known (saves looking through every queue).
   * @returns The job, or `null`.
   *
   * @example Watching a job's progress
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const report = defineJob({ name: "report", schema: v.null(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const { id } = await queue.dispatch(report, null, { delay: 1_000 });
   * const job = await queue.job(id, "default");
   * assert.equal(job?.state, "delayed");
   * assert.equal(job?.progress, null);
   * assert.equal(await queue.job("no-such-job"), null);
   * ```
   */
  async job(id: string, queue?: string): Promise<JobInfo | null> {
    for (const name of queue === undefined ? await this.backend.queues() : [queue]) {
      const found = await this.backend.getJob(name, id);
      if (found !== null) return found;
    }
    return null;
  }

  /**
   * Searches jobs: a page, newest first, with a cursor for the next. Every
   * filter is optional; `since`/`until` bound when jobs were dispatched. A
   * plain state listing comes in that state's own order (completed and failed
   * by when they ended, delayed by run-at, active by lease deadline, waiting
   * in reverse queue order); anything else by dispatch time. Without `queue`,
   * the queues are read one after another, in name order. On Redis no search
   * scans every job: it reads one state's set or one index range (all jobs,
   * one name's or one tag's), written in the same step as each state change,
   * and checks the other filters on what it reads, at most 1,000 jobs per call
   * (a page may come back short, with a cursor).
   *
   * @param query Queue, state, name, tag, id, since, until, limit (1 to 1,000, default 50), cursor.
   * @returns The page and the cursor of the next (`null` on the last).
   * @throws {InvalidCursorError} When `cursor` was not handed out for these filters.
   * @throws {TypeError} When a filter is malformed.
   * @throws {RangeError} When `limit`, `since` or `until` is out of range.
   *
   * @example Finding a user's jobs in every state
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const invoice = defineJob({
   *   name: "invoice",
   *   schema: v.object({ user: v.number() }),
   *   tags: (payload) => [`user:${payload.user}`],
   *   handle() {},
   * });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * await queue.dispatch(invoice, { user: 42 });
   * await queue.dispatch(invoice, { user: 7 }, { delay: 60_000 });
   * const { jobs, cursor } = await queue.jobs({ tag: "user:42" });
   * assert.deepEqual(jobs.map((job) => [job.state, job.tags]), [["waiting", ["user:42"]]]);
   * assert.equal(cursor, null);
   * ```
   */
  jobs(query: JobQuery = {}): Promise<JobPage> {
    return searchPage(this.backend, query);
  }

  /**
   * Removes a job: a waiting, delayed, completed or failed job is deleted
   * with its data; an active job is cancelled: it goes to the failed store
   * with a `JobCancelledError`, without retry, and its handler's `ctx.signal`
   * aborts with that error at the worker's next lease renewal (within a third
   * of `leaseDuration`). Whatever the handler returns afterwards is refused.
   *
   * @param id The job's id.
   * @param queue Its queue, when known (saves looking through every queue).
   * @returns `true` when a job was removed or cancelled.
   *
   * @example Removing a delayed job
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const report = defineJob({ name: "report", schema: v.null(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const { id } = await queue.dispatch(report, null, { delay: 60_000 });
   * assert.equal(await queue.remove(id), true);
   * assert.equal(await queue.job(id), null);
   * assert.equal(await queue.remove(id), false);
   * ```
   */
  async remove(id: string, queue?: string): Promise<boolean> {
    return await this.#act("remove", [id], queue) > 0;
  }

  /**
   * Makes a delayed job due now.
   *
   * @param id The job's id.
   * @param queue Its queue, when known.
   * @returns `true` when a delayed job was made ready.
   *
   * @example Running a delayed job now
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const report = defineJob({ name: "report", schema: v.null(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const { id } = await queue.dispatch(report, null, { delay: 60_000 });
   * assert.equal(await queue.promote(id), true);
   * assert.equal((await queue.job(id))?.state, "waiting");
   * ```
   */
  async promote(id: string, queue?: string): Promise<boolean> {
    return await this.#act("promote", [id], queue) > 0;
  }

  /**
   * Moves a failed job back to waiting with a fresh retry budget (its errors,
   * attempts, stalls, progress and logs cleared); the same as `failed.retry()`.
   *
   * @param id The job's id.
   * @param queue Its queue, when known.
   * @returns `true` when a failed job was queued again.
   *
   * @example Retrying an unknown job
   * ```ts
   * import { MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue({ backend: new MemoryBackend() });
   * assert.equal(await queue.retry("no-such-job"), false);
   * ```
   */
  async retry(id: string, queue?: string): Promise<boolean> {
    return await this.#act("retry", [id], queue) > 0;
  }

  /**
   * Retries every failed job a search matches (its `state` is taken as
   * `"failed"`), page by page; a job that a worker or another operator moved
   * meanwhile is skipped, never retried twice.
   *
   * @param query The search, as {@linkcode Queue.jobs} takes it.
   * @returns How many jobs were queued again.
   *
   * @example Retrying one tenant's failures
   * ```ts
   * import { MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue({ backend: new MemoryBackend() });
   * assert.equal(await queue.retryAll({ tag: "tenant:acme" }), 0);
   * ```
   */
  retryAll(query: JobQuery = {}): Promise<number> {
    return forEachPage(
      this.backend,
      { ...query, state: "failed" },
      (queue, ids) => this.#act("retry", ids, queue),
    );
  }

  /**
   * Removes every job a search matches, as {@linkcode Queue.remove} does
   * (active ones are cancelled), page by page.
   *
   * @param query The search, as {@linkcode Queue.jobs} takes it.
   * @returns How many jobs were removed or cancelled.
   *
   * @example Clearing a queue's delayed jobs
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const report = defineJob({ name: "report", schema: v.number(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * await queue.dispatchMany(report, [1, 2, 3], { delay: 60_000 });
   * assert.equal(await queue.removeAll({ queue: "default", state: "delayed" }), 3);
   * ```
   */
  removeAll(query: JobQuery = {}): Promise<number> {
    return forEachPage(this.backend, query, (queue, ids) => this.#act("remove", ids, queue));
  }

  /**
   * Pauses a queue: workers everywhere (the flag lives in the backend, so in
   * Redis for `RedisBackend`) stop taking its jobs at their next poll and go
   * on with their other queues. Running jobs finish; dispatching still works.
   *
   * @param queue The queue's name.
   *
   * @example Pausing and resuming
   * ```ts
   * import { MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue({ backend: new MemoryBackend() });
   * await queue.pause("mail");
   * assert.equal((await queue.counts("mail")).paused, true);
   * await queue.resume("mail");
   * assert.equal((await queue.counts("mail")).paused, false);
   * ```
   */
  async pause(queue: string): Promise<void> {
    await this.backend.setPaused(queueName(queue), true);
  }

  /**
   * Lets workers take a paused queue's jobs again.
   *
   * @param queue The queue's name.
   *
   * @example Resuming a queue that was not paused
   * ```ts
   * import { MemoryBackend, Queue } from "@kiln/core/queue";
   *
   * await new Queue({ backend: new MemoryBackend() }).resume("mail");
   * ```
   */
  async resume(queue: string): Promise<void> {
    await this.backend.setPaused(queueName(queue), false);
  }

  /**
   * Lists every queue that has had a job (or a pause), with its counts and paused flag.
   *
   * @returns The queues in name order.
   *
   * @example Listing queues
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const mail = defineJob({ name: "mail", schema: v.null(), queue: "mail", handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * await queue.dispatch(mail, null);
   * await queue.pause("mail");
   * const [summary] = await queue.queues();
   * assert.equal(summary.name, "mail");
   * assert.equal(summary.paused, true);
   * assert.equal(summary.counts.ready, 1);
   * ```
   */
  async queues(): Promise<QueueSummary[]> {
    const names = await this.backend.queues();
    return await Promise.all(names.map(async (name) => {
      const counts = await this.backend.counts(name);
      return { name, counts, paused: counts.paused };
    }));
  }

  /**
   * Lists the live workers: every worker whose heartbeat (sent with the
   * requests it makes anyway) is younger than its ttl, three times its
   * longest gap between requests. A worker that died leaves the list once its
   * ttl has passed.
   *
   * @returns Each worker once, with the queues it serves and the jobs it runs.
   *
   * @example Listing workers
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const ping = defineJob({ name: "ping", schema: v.null(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const worker = new Worker(queue, { jobs: [ping], concurrency: 5 });
   * await worker.drain();
   * const [seen] = await queue.workers();
   * assert.equal(seen.id, worker.id);
   * assert.equal(seen.concurrency, 5);
   * ```
   */
  async workers(): Promise<WorkerInfo[]> {
    const now = this.clock.now();
    const byId = new Map<string, WorkerInfo>();
    for (const name of await this.backend.queues()) {
      for (const worker of await this.backend.workers(name, now)) {
        const known = byId.get(worker.id);
        if (known === undefined || known.lastSeen < worker.lastSeen) byId.set(worker.id, worker);
      }
    }
    return [...byId.values()].sort((a, b) => a.startedAt - b.startedAt);
  }

  /**
   * A queue's figures over time: completed, failed, retried and stalled
   * counts, and wait- and run-time percentiles, per minute (kept 24 hours)
   * or per hour (kept 30 days). Only periods with activity are returned.
   *
   * @param query The queue (default: every queue, added up), the time range
   *   (default: the last hour, or the last day for hours) and the resolution.
   * @returns The points, oldest first.
   * @throws {RangeError} When `since`/`until` are not epoch milliseconds.
   * @throws {TypeError} When `resolution` is neither `"minute"` nor `"hour"`.
   *
   * @example Reading the last hour
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const ping = defineJob({ name: "ping", schema: v.null(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * await queue.dispatchMany(ping, [null, null, null]);
   * await new Worker(queue, { jobs: [ping] }).drain();
   * const [point] = await queue.metrics({ queue: "default" });
   * assert.equal(point.completed, 3);
   * assert.equal(point.run.count, 3);
   * ```
   */
  async metrics(query: MetricsQuery = {}): Promise<MetricPoint[]> {
    const resolution = query.resolution ?? "minute";
    if (!(resolution in RESOLUTIONS)) {
      throw new TypeError(`resolution must be "minute" or "hour", got ${String(resolution)}`);
    }
    const { size, keep } = RESOLUTIONS[resolution];
    const until = query.until ?? this.clock.now();
    const since = query.since ?? until - (resolution === "minute" ? 3_600_000 : keep);
    for (const [field, value] of [["since", since], ["until", until]] as const) {
      if (!Number.isSafeInteger(value)) {
        throw new RangeError(`${field} must be epoch milliseconds, got ${value}`);
      }
    }
    const from = Math.floor(since / size) * size;
    const names = query.queue === undefined ? await this.backend.queues() : [query.queue];
    const lists = await Promise.all(
      names.map((name) => this.backend.metrics(name, resolution, from, until)),
    );
    return mergeBuckets(lists).map(toPoint);
  }

  /**
   * Job state changes as they happen, from every process on the same store:
   * on Redis one pub/sub channel per queue (through the gateway's SSE
   * subscription, one message per script call), in memory an in-process
   * emitter. A `ReadableStream` (a dashboard can forward it, for instance as
   * server-sent events) that is also an async iterable; cancel it, or abort
   * `signal`, to stop listening. Its `ready` settles once it listens: changes
   * made before, or while nobody listens, are not replayed. A reader that falls
   * more than 10,000 changes behind loses the newest. Over Redis, a
   * subscription lost to an outage is opened again by itself (with the shared
   * back-off), so the stream goes on; changes made during the gap are missed.
   *
   * @param options The queues (default: every queue seen now) and an abort signal.
   * @returns The stream of changes.
   *
   * @example Watching a job complete
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const ping = defineJob({ name: "ping", schema: v.null(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const controller = new AbortController();
   * const events = queue.events({ queues: ["default"], signal: controller.signal });
   * await events.ready;
   * const { id } = await queue.dispatch(ping, null);
   * await new Worker(queue, { jobs: [ping] }).drain();
   * const states: string[] = [];
   * for await (const event of events) {
   *   if (event.id === id) states.push(event.state);
   *   if (event.state === "completed") break;
   * }
   * assert.deepEqual(states, ["waiting", "active", "completed"]);
   * ```
   */
  events(options: EventsOptions = {}): JobEventStream {
    return watchJobs(this.backend, options);
  }

  /** What chains and batches are dispatched with: this queue's checks and limits. */
  #workflows(): WorkflowQueue {
    const now = this.clock.now();
    const dispatchToken = crypto.randomUUID();
    return {
      backend: tracedWorkflows(this, this.backend),
      retain: this.retain,
      maxPayloadBytes: this.maxPayloadBytes,
      batchSize: DISPATCH_BATCH_SIZE,
      now: () => this.clock.now(),
      prepare: async (job, payload, id, workflow) => {
        const prepared = await this.#prepare(job, payload, {
          now,
          runAt: now,
          priority: job.priority,
          id,
          dedupeFor: 0,
          dispatchToken,
        });
        return { ...prepared, job: { ...prepared.job, workflow } };
      },
    };
  }

  #act(action: JobAction, ids: readonly string[], queue?: string): Promise<number> {
    return manageIn(this.backend, queue, action, ids, this.clock.now(), this.retain);
  }

  #partitions(queue: string): number {
    return this.backend instanceof PartitionedBackend ? this.backend.partitions(queue) : 1;
  }

  /**
   * A new job id; on a partitioned queue, for a job with a unique key, one
   * whose partition is the key's (drawn again until it is: partitions tries
   * on average), so the key is held in one partition and the job is found by id.
   */
  #newId(queue: string, now: number, uniqueKey: string | undefined): string {
    const count = this.#partitions(queue);
    let id = newJobId(now);
    if (uniqueKey === undefined || count === 1) return id;
    const home = partitionOf(uniqueKey, count);
    while (partitionOf(id, count) !== home) id = newJobId(now);
    return id;
  }

  async #prepare(
    job: AnyJob,
    payload: unknown,
    meta: {
      now: number;
      runAt: number;
      priority: Priority;
      id?: string;
      uniqueKey?: string;
      dedupeFor: number;
      dispatchToken: string;
      debounce?: DebounceOptions;
      throttle?: ThrottleOptions;
    },
  ): Promise<{ job: NewJob; bytes: number }> {
    const notJson = jsonIssues(payload);
    if (notJson.length > 0) throw new JobValidationError(job.name, notJson);
    await parsePayload(job.name, job.schema, payload);
    const json = JSON.stringify(payload);
    const bytes = utf8Length(json);
    if (bytes > this.maxPayloadBytes) {
      throw new PayloadTooLargeError(job.name, bytes, this.maxPayloadBytes);
    }
    if (meta.uniqueKey !== undefined) assertIdLike("uniqueKey", meta.uniqueKey);
    const id = meta.id ?? this.#newId(job.queue, meta.now, meta.uniqueKey);
    assertIdLike("jobId", id);
    if (meta.id !== undefined && meta.uniqueKey !== undefined && this.#partitions(job.queue) > 1) {
      throw new TypeError(
        `Queue "${job.queue}" is partitioned: a job with a uniqueKey cannot take a jobId (its id must land in its key's partition)`,
      );
    }
    const tags = tagsOf(job, payload);
    const flow = flowOf(job, payload, meta);
    if (flow !== undefined && this.#partitions(job.queue) > 1) {
      // A key's jobs would spread over the partitions, each keeping its own count.
      throw new TypeError(
        `Queue "${job.queue}" is partitioned: flow control (concurrency, rateLimit, debounce, throttle) needs a queue of one partition`,
      );
    }
    const newJob: NewJob = {
      id,
      name: job.name,
      queue: job.queue,
      payload: json,
      priority: meta.priority,
      maxRetries: job.maxRetries,
      ...(job.maxStalls !== undefined ? { maxStalls: job.maxStalls } : {}),
      createdAt: meta.now,
      runAt: meta.runAt,
      ...(meta.uniqueKey !== undefined ? { uniqueKey: meta.uniqueKey } : {}),
      ...(tags.length > 0 ? { tags } : {}),
      ...(meta.dedupeFor > 0 ? { dedupeFor: meta.dedupeFor } : {}),
      dispatchToken: meta.dispatchToken,
      ...(this.tracking.search ? {} : { indexed: false }),
      ...(flow !== undefined ? { flow } : {}),
    };
    return { job: newJob, bytes };
  }
}

/** The job's tags for a payload: computed by its definition, checked, duplicates dropped. */
function tagsOf(job: AnyJob, payload: unknown): string[] {
  if (job.tags === undefined) return [];
  const tags = job.tags(payload);
  if (!Array.isArray(tags) || tags.length > MAX_TAGS || !tags.every(isLabel)) {
    throw new TypeError(
      `Job ${job.name}: tags must return at most ${MAX_TAGS} strings of 1 to 200 characters without control characters`,
    );
  }
  return [...new Set(tags)];
}

/** Acts on jobs in one queue, or in each queue in turn (a single id: until one changes). */
async function manageIn(
  backend: QueueBackend,
  queue: string | undefined,
  action: JobAction,
  ids: readonly string[] | "all",
  now: number,
  retain: Retention,
): Promise<number> {
  let changed = 0;
  for (const name of queue === undefined ? await backend.queues() : [queue]) {
    changed += await backend.manage(name, { action, ids, now, retain });
    if (changed > 0 && ids !== "all" && ids.length === 1) break;
  }
  return changed;
}

function queueName(queue: unknown): string {
  if (typeof queue !== "string" || queue.length === 0) {
    throw new TypeError("queue must be a queue's name");
  }
  return queue;
}

function dedupeOf(options: { dedupeFor?: number }): number {
  const ms = options.dedupeFor ?? 0;
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new RangeError(`dedupeFor must be a non-negative integer of milliseconds, got ${ms}`);
  }
  return ms;
}

function clockOf(options: QueueOptions): Clock {
  const clock = options.clock ?? systemClock;
  for (const method of ["now", "setTimeout", "clearTimeout"] as const) {
    if (typeof clock[method] !== "function") {
      throw new TypeError(`Queue clock must have a ${method}() method`);
    }
  }
  return clock;
}

function runAtOf(options: { delay?: number; at?: Date | number }, now: number): number {
  if (options.at !== undefined) {
    const at = options.at instanceof Date ? options.at.getTime() : options.at;
    if (typeof at !== "number" || !Number.isFinite(at)) {
      throw new RangeError(
        `at must be a valid Date or epoch milliseconds, got ${String(options.at)}`,
      );
    }
    return Math.round(at);
  }
  const delay = options.delay ?? 0;
  if (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0) {
    throw new RangeError(`delay must be a non-negative number of milliseconds, got ${delay}`);
  }
  return now + Math.round(delay);
}

function priorityOf(job: AnyJob, priority: Priority | undefined): Priority {
  if (priority === undefined) return job.priority;
  if (!PRIORITIES.includes(priority)) {
    throw new TypeError(`priority must be "high", "normal" or "low", got ${String(priority)}`);
  }
  return priority;
}

function assertIdLike(what: string, value: unknown): void {
  if (typeof value !== "string" || value.length === 0 || value.length > 512) {
    throw new TypeError(`${what} must be a non-empty string of at most 512 characters`);
  }
}

/** A time-ordered, random id: sorts by dispatch time, unique without coordination. */
function newJobId(now: number): string {
  return `${now.toString(36).padStart(9, "0")}-${crypto.randomUUID().slice(0, 18)}`;
}
