/**
 * The producer side: dispatching jobs, counting queues and managing the failed store.
 *
 * @module
 */
import type {
  DispatchResult,
  FailedJob,
  JobInfo,
  NewJob,
  QueueBackend,
  QueueCounts,
} from "./backend.ts";
import {
  type AnyJob,
  type JobDefinition,
  type PayloadInput,
  type PayloadSchema,
  PRIORITIES,
  type Priority,
} from "./job.ts";
import { JobValidationError, PayloadTooLargeError } from "./errors.ts";
import { type Clock, systemClock } from "../clock.ts";
import { jsonIssues, parsePayload, utf8Length } from "./_payload.ts";

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

/** The largest batch sent in one round trip by {@linkcode Queue.dispatchMany}. */
export const DISPATCH_BATCH_SIZE = 1_000;

/**
 * The failed store (dead letters) of a {@linkcode Queue}: jobs that used up
 * their retries, or could not run at all.
 */
export class FailedJobs {
  #backend: QueueBackend;
  #clock: Clock;

  /**
   * Wraps a backend's failed store. Reach it as `queue.failed`.
   *
   * @param backend The queue's backend.
   * @param clock The queue's clock.
   */
  constructor(backend: QueueBackend, clock: Clock) {
    this.#backend = backend;
    this.#clock = clock;
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
    if (queues.length === 1) return await this.#backend.listFailed(queues[0], offset, limit);
    const lists = await Promise.all(
      queues.map((q) => this.#backend.listFailed(q, 0, offset + limit)),
    );
    return lists.flat().sort((a, b) => b.failedAt - a.failedAt).slice(offset, offset + limit);
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
    for (const name of queue === undefined ? await this.#backend.queues() : [queue]) {
      if (await this.#backend.retryFailed(name, [id], this.#clock.now()) > 0) return true;
    }
    return false;
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
  async retryAll(queue?: string): Promise<number> {
    let moved = 0;
    for (const name of queue === undefined ? await this.#backend.queues() : [queue]) {
      moved += await this.#backend.retryFailed(name, "all", this.#clock.now());
    }
    return moved;
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
    for (const name of queue === undefined ? await this.#backend.queues() : [queue]) {
      if (await this.#backend.forgetFailed(name, [id]) > 0) return true;
    }
    return false;
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
  async flush(queue?: string): Promise<number> {
    let deleted = 0;
    for (const name of queue === undefined ? await this.#backend.queues() : [queue]) {
      deleted += await this.#backend.forgetFailed(name, "all");
    }
    return deleted;
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

  /**
   * Creates a queue client over a backend.
   *
   * @param options The backend, clock and payload limit.
   * @throws {TypeError} When the backend is missing, or the clock lacks a method.
   * @throws {RangeError} When `maxPayloadBytes` is not a positive integer.
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
    this.backend = options.backend;
    this.clock = clockOf(options);
    this.failed = new FailedJobs(this.backend, this.clock);
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
    const runAt = runAtOf(options, now);
    const priority = priorityOf(job, options.priority);
    const { job: newJob } = await this.#prepare(job, payload, {
      now,
      runAt,
      priority,
      id: options.jobId,
      uniqueKey: options.uniqueKey,
      dispatchToken: crypto.randomUUID(),
    });
    const [result] = await this.backend.enqueue(job.queue, [newJob], now);
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
    for (const [index, payload] of payloads.entries()) {
      try {
        prepared.push(
          await this.#prepare(job, payload, {
            now,
            runAt,
            priority,
            id: options.jobId?.(payload, index),
            uniqueKey: options.uniqueKey?.(payload, index),
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
        results.push(...await this.backend.enqueue(job.queue, batch, now));
        batch = [];
        batchBytes = 0;
      }
      batch.push(next);
      batchBytes += bytes;
    }
    if (batch.length > 0) results.push(...await this.backend.enqueue(job.queue, batch, now));
    return results;
  }

  /**
   * Counts each part of a queue.
   *
   * @param queue The queue's name. @default "default"
   * @returns Ready, delayed, active, failed and completed counts.
   *
   * @example Counting
   * ```ts
   * import { MemoryBackend, Queue } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue({ backend: new MemoryBackend() });
   * assert.deepEqual(await queue.counts("mail"), { ready: 0, delayed: 0, active: 0, failed: 0, completed: 0 });
   * ```
   */
  counts(queue = "default"): Promise<QueueCounts> {
    return this.backend.counts(queue);
  }

  /**
   * Reads one job: its payload, state, attempts, stalls, errors and latest
   * progress. Completed jobs are deleted at once, so a job that completed (or
   * was forgotten, or never dispatched) reads as `null`.
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

  async #prepare(
    job: AnyJob,
    payload: unknown,
    meta: {
      now: number;
      runAt: number;
      priority: Priority;
      id?: string;
      uniqueKey?: string;
      dispatchToken: string;
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
    const id = meta.id ?? newJobId(meta.now);
    assertIdLike("jobId", id);
    if (meta.uniqueKey !== undefined) assertIdLike("uniqueKey", meta.uniqueKey);
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
      dispatchToken: meta.dispatchToken,
    };
    return { job: newJob, bytes };
  }
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
