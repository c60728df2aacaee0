/**
 * The contract between queues, workers and the stores behind them.
 *
 * Every operation is shaped for batching, because with Redis over HTTP each
 * call is a round trip: one call reserves many jobs (promoting due delayed
 * jobs and reclaiming expired leases on the way), and one call completes a
 * batch and reserves the next. "Now" comes from the caller for everything a
 * dispatcher or worker decides (run-at times, failure times), so a clock can
 * be injected and a replayed request means the same thing. Lease deadlines are
 * the exception: a backend times them on its own clock (Redis's `TIME` for
 * `RedisBackend`; in one process, `MemoryBackend` has one clock, its callers'),
 * so a worker with a skewed clock can neither reclaim a live lease nor be
 * handed one already over.
 *
 * @module
 */
import type { Priority } from "./job.ts";

/** A job as handed to a backend for enqueueing. */
export interface NewJob {
  /** Unique within its queue; a second enqueue with the same id is ignored. */
  readonly id: string;
  /** The job definition's name. */
  readonly name: string;
  /** The queue. */
  readonly queue: string;
  /** The payload as JSON text. */
  readonly payload: string;
  /** The priority band. */
  readonly priority: Priority;
  /** Handler failures retried before dead-lettering. */
  readonly maxRetries: number;
  /** Lease expiries tolerated before dead-lettering; `undefined` leaves it to the worker's `maxStalls`. */
  readonly maxStalls?: number;
  /** When it was dispatched, in epoch milliseconds. */
  readonly createdAt: number;
  /** When it becomes due, in epoch milliseconds. */
  readonly runAt: number;
  /** While a job with this key is pending or running, no other is enqueued. */
  readonly uniqueKey?: string;
  /**
   * Unique per dispatch call and shared by its jobs: enqueueing a job that
   * exists with the same token is a replay of that call, answered `created`
   * as the first time, while a job that exists under another token (or none)
   * is a genuine duplicate, answered not created.
   */
  readonly dispatchToken?: string;
}

/** The error of one failed attempt, kept with the job. */
export interface AttemptError {
  /** The attempt that failed (1 for the first). */
  readonly attempt: number;
  /** The error's name, such as `"TypeError"`. */
  readonly name: string;
  /** The error's message. */
  readonly message: string;
  /** The stack, when there was one. */
  readonly stack?: string;
  /** When the attempt failed, in epoch milliseconds. */
  readonly at: number;
}

/** A job as a backend returns it. */
export interface StoredJob {
  /** The job's id. */
  readonly id: string;
  /** The job definition's name. */
  readonly name: string;
  /** The queue. */
  readonly queue: string;
  /** The payload, parsed from its JSON (a fresh copy each time). */
  readonly payload: unknown;
  /** The priority band. */
  readonly priority: Priority;
  /** Retries allowed at dispatch time. */
  readonly maxRetries: number;
  /** When it was dispatched, in epoch milliseconds. */
  readonly createdAt: number;
  /** How many times it has been reserved, this reservation included. */
  readonly attempts: number;
  /** How many times its lease expired before a worker answered (a stall costs no retry). */
  readonly stalls: number;
  /** Every failed attempt's error, oldest first (and the stall error, if it stalled out). */
  readonly errors: readonly AttemptError[];
  /** Its unique key, if dispatched with one. */
  readonly uniqueKey?: string;
}

/** Where a job is: waiting, delayed, leased to a worker, or in the failed store. */
export type JobState = "ready" | "delayed" | "active" | "failed";

/** A job as {@linkcode QueueBackend.getJob} returns it: its record, state and progress. */
export interface JobInfo extends StoredJob {
  /** Where the job is now. */
  readonly state: JobState;
  /** The latest value a handler passed to `ctx.progress()`, or `null` if none. */
  readonly progress: number | null;
}

/** A dead-lettered job. */
export interface FailedJob extends StoredJob {
  /** When it was moved to the failed store, in epoch milliseconds. */
  readonly failedAt: number;
}

/** What dispatching one job did. */
export interface DispatchResult {
  /** The job's id: the new one, or the existing job's for a replay or a taken unique key. */
  readonly id: string;
  /**
   * `false` when nothing new was enqueued: another dispatch already used the
   * `jobId`, or the `uniqueKey` is taken. A replay of the same dispatch call
   * (the HTTP client retrying after a lost response) answers as the first did.
   */
  readonly created: boolean;
}

/** A job's lease: its id and the token of the reservation holding it. */
export interface Lease {
  /** The job's id. */
  readonly id: string;
  /** The reservation's token. */
  readonly token: string;
}

/** A completion sent to {@linkcode QueueBackend.take}. */
export interface Completion extends Lease {
  /** The job's unique key, released with it. */
  readonly uniqueKey?: string;
}

/** One round trip: complete some jobs, then reserve up to `reserve` due jobs. */
export interface TakeRequest {
  /** The queue. */
  readonly queue: string;
  /**
   * The caller's clock, epoch milliseconds: which delayed jobs are due, and
   * `nextDueAt`. Lease deadlines are on the backend's clock.
   */
  readonly now: number;
  /** Jobs finished successfully; only those whose lease the token still holds complete. */
  readonly complete: readonly Completion[];
  /** How many jobs to reserve (0 to only complete). */
  readonly reserve: number;
  /** How long the new leases last, in milliseconds of the backend's clock. */
  readonly leaseDuration: number;
  /** The token of the new reservation: unique per call, so a replayed call returns the same jobs. */
  readonly token: string;
  /** Stalls tolerated for jobs dispatched without their own `maxStalls`. @default 1 */
  readonly maxStalls?: number;
}

/** What {@linkcode QueueBackend.take} did. */
export interface TakeResult {
  /** Ids whose completion was refused: the lease had been lost. */
  readonly lost: readonly string[];
  /** The jobs now leased to `token`, in queue order. */
  readonly jobs: readonly StoredJob[];
  /** Jobs whose lease had expired, reclaimed (back to ready, or dead-lettered) during this call. */
  readonly stalled: readonly string[];
  /** Those of `stalled` that had stalled more than their max stalls and went to the failed store. */
  readonly stalledOut: readonly string[];
  /**
   * When the earliest delayed job or lease comes due, if any (to sleep until
   * then), on the caller's clock.
   */
  readonly nextDueAt: number | null;
}

/** How a failed or interrupted attempt ends. */
export type FailOutcome = "retry" | "dead" | "release";

/** Ends an attempt that did not complete. */
export interface FailRequest extends Lease {
  /** The queue. */
  readonly queue: string;
  /** The caller's clock. */
  readonly now: number;
  /** `retry` (after `runAt`), `dead` (to the failed store) or `release` (back, no failure counted). */
  readonly outcome: FailOutcome;
  /** When a retried or released job becomes due again. */
  readonly runAt: number;
  /** The attempt's error, appended to the job's errors (none for a release). */
  readonly error?: AttemptError;
  /** For a release of a job that never started: undo the reservation's attempt count. */
  readonly undoAttempt?: boolean;
  /** The job's unique key, released when it is dead-lettered. */
  readonly uniqueKey?: string;
}

/**
 * What {@linkcode QueueBackend.fail} did; `lost` when the token no longer held
 * the lease. A replay of a call that succeeded answers as that call did.
 */
export type FailResult = "retried" | "failed" | "released" | "lost";

/** The size of each part of a queue. */
export interface QueueCounts {
  /** Due and waiting for a worker. */
  readonly ready: number;
  /** Waiting for their time (delays and retries). */
  readonly delayed: number;
  /** Leased to a worker. */
  readonly active: number;
  /** In the failed store. */
  readonly failed: number;
  /** Completed since the queue was created (a counter; completed jobs are not kept). */
  readonly completed: number;
}

/** Shared counters and locks for job middleware (`rateLimited`, `withoutOverlapping`). */
export interface Limiter {
  /** Takes a lock for `token` for `ttl` from `now`; `false` when another token holds it. */
  lock(key: string, token: string, ttl: number, now: number): Promise<boolean>;
  /** Releases a lock held by `token`. */
  unlock(key: string, token: string): Promise<void>;
  /**
   * Counts one hit in a sliding window of `window`; refused (and not
   * counted) once `max` hits are in the window. `token` identifies the hit, so
   * a replay counts once.
   */
  hit(
    key: string,
    token: string,
    max: number,
    window: number,
    now: number,
  ): Promise<{ allowed: boolean; retryAfter: number }>;
}

/**
 * A store for queues. {@linkcode import("./memory_backend.ts").MemoryBackend}
 * and {@linkcode import("./redis_backend.ts").RedisBackend} implement it and
 * pass the same conformance suite.
 */
export interface QueueBackend extends Limiter {
  /**
   * Enqueues jobs of one queue, all or nothing.
   *
   * @returns One result per job, in order.
   */
  enqueue(queue: string, jobs: readonly NewJob[], now: number): Promise<DispatchResult[]>;
  /** Completes and reserves in one call; see {@linkcode TakeRequest}. */
  take(request: TakeRequest): Promise<TakeResult>;
  /** Retries, dead-letters or releases a leased job. */
  fail(request: FailRequest): Promise<FailResult>;
  /** Stores a running job's latest progress; `false` when the token no longer holds the lease. */
  progress(queue: string, lease: Lease, value: number): Promise<boolean>;
  /** One job with its state and progress; `null` once completed, forgotten or never dispatched. */
  getJob(queue: string, id: string): Promise<JobInfo | null>;
  /**
   * Extends leases to `leaseDuration` from now on the backend's clock (0 ends them
   * at once); returns the ids whose lease was lost. `now` is the caller's
   * clock, which only `MemoryBackend` (one process, one clock) uses.
   */
  extend(
    queue: string,
    leases: readonly Lease[],
    leaseDuration: number,
    now: number,
  ): Promise<string[]>;
  /** The size of each part of a queue. */
  counts(queue: string): Promise<QueueCounts>;
  /** The names of every queue that has had a job enqueued. */
  queues(): Promise<string[]>;
  /** Failed jobs of one queue, most recently failed first. */
  listFailed(queue: string, offset: number, limit: number): Promise<FailedJob[]>;
  /** Moves failed jobs back to ready with a fresh retry budget; returns how many moved. */
  retryFailed(queue: string, ids: readonly string[] | "all", now: number): Promise<number>;
  /** Deletes failed jobs; returns how many were deleted. */
  forgetFailed(queue: string, ids: readonly string[] | "all"): Promise<number>;
  /**
   * Subscribes to enqueues made through this backend object, so a worker in
   * the same process wakes at once instead of at its next poll.
   */
  onEnqueue?(listener: (queue: string) => void): () => void;
}
