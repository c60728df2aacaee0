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
import type { JobFlow } from "./flow.ts";

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
  /** Labels to find the job by (`defineJob({ tags })`), indexed on every state. */
  readonly tags?: readonly string[];
  /** How long its id and unique key stay reserved after it ends, in milliseconds. */
  readonly dedupeFor?: number;
  /**
   * Whether to index it by name, tags and dispatch time for searches
   * (`QueueOptions.search`); an unindexed job is found by id and state only.
   * @default true
   */
  readonly indexed?: boolean;
  /** Its flow rules (`defineJob({ concurrency, rateLimit })`, `dispatch({ debounce, throttle })`). */
  readonly flow?: JobFlow;
  /** The trace context to store with it (`QueueOptions.tracing`): none when not traced. */
  readonly trace?: Readonly<Record<string, string>>;
  /** The chain or batch it belongs to, when it is a step, member or callback of one. */
  readonly workflow?: WorkflowMark;
}

/** Which chain or batch a job belongs to, as it is stored with the job. */
export interface WorkflowMark {
  /** The chain, its step number (1-based; 0 for the chain's `catch`) and its length. */
  readonly chain?: { readonly id: string; readonly step: number; readonly steps: number };
  /** The batch's id, for its members and callbacks. */
  readonly batch?: string;
}

/** A chain step that did not complete: its job's id and its last error. */
export interface ChainFailure {
  /** The failed step's job id. */
  readonly jobId: string;
  /** Its last error (for a removed step, a `JobRemovedError`). */
  readonly error: AttemptError;
}

/** A job's chain or batch as its handler sees it; see {@linkcode WorkflowMark}. */
export interface JobWorkflow {
  /** The chain, with the failed step for the chain's `catch`. */
  readonly chain?: {
    readonly id: string;
    readonly step: number;
    readonly steps: number;
    readonly failed: ChainFailure | null;
  };
  /** The previous step's result, for a chain's steps after the first (`null` when none). */
  readonly previous?: unknown;
  /** The batch, and whether this callback runs because the batch was cancelled. */
  readonly batch?: { readonly id: string; readonly cancelled: boolean };
}

/** A chain or batch change for {@linkcode QueueBackend.workflow}; the jobs are all of one queue. */
export type WorkflowRequest =
  & {
    /** The chain's or batch's id. */
    readonly id: string;
    /** The caller's clock. */
    readonly now: number;
    /** Finished chains and batches are kept as long as failed jobs. */
    readonly retain?: Retention;
  }
  & (
    | {
      readonly action: "chain";
      readonly steps: readonly NewJob[];
      readonly catch?: NewJob;
    }
    | {
      readonly action: "batch";
      readonly name: string | null;
      readonly allowFailures: boolean;
      readonly then?: NewJob;
      readonly catch?: NewJob;
      readonly finally?: NewJob;
      readonly jobs: readonly NewJob[];
      /**
       * Names a hold that keeps the batch open after this call (more jobs follow in
       * later calls), or `null`. Taking a hold twice takes it once.
       */
      readonly open: string | null;
      /** Releases the hold of this name, if it is held (so a replay releases nothing), or `null`. */
      readonly close: string | null;
    }
    | {
      readonly action: "add";
      readonly jobs: readonly NewJob[];
      /** As for `"batch"`. */
      readonly open: string | null;
      /** As for `"batch"`. */
      readonly close: string | null;
    }
    | { readonly action: "cancel" }
  );

/** Where a chain is, as {@linkcode QueueBackend.chainInfo} reads it. */
export interface ChainInfo {
  /** The chain's id. */
  readonly id: string;
  /** Its queue. */
  readonly queue: string;
  /** Running, completed (every step did), or failed (a step was dead-lettered or removed). */
  readonly state: "running" | "completed" | "failed";
  /** The step dispatched last (1-based): the running one, or where it ended. */
  readonly step: number;
  /** How many steps it has. */
  readonly steps: number;
  /** Every step's job id, in order (later steps' jobs exist only once dispatched). */
  readonly jobIds: readonly string[];
  /**
   * The `catch` job's id, if it has one (the job exists once a step failed):
   * `<id>-catch`, then `<id>-catch-2`… once an operator retried the failed step.
   */
  readonly catchId: string | null;
  /** The step that failed, or `null`. */
  readonly failed: ChainFailure | null;
  /** When it was dispatched, epoch ms. */
  readonly createdAt: number;
  /** When it completed or failed, epoch ms, or `null` (also while a retried step runs). */
  readonly finishedAt: number | null;
}

/** A batch's counters, as {@linkcode QueueBackend.batchInfo} reads them. */
export interface BatchInfo {
  /** The batch's id. */
  readonly id: string;
  /** Its queue. */
  readonly queue: string;
  /** Its name, if given. */
  readonly name: string | null;
  /** How many jobs it has had. */
  readonly total: number;
  /** How many have not ended yet (0 once cancelled). */
  readonly pending: number;
  /** How many completed. */
  readonly completed: number;
  /** How many were dead-lettered (or removed), less those an operator retried since. */
  readonly failed: number;
  /** The share of jobs that ended, as a whole percentage (100 for an empty batch). */
  readonly progress: number;
  /** Whether `cancelBatch()` cancelled it. */
  readonly cancelled: boolean;
  /** When it was dispatched, epoch ms. */
  readonly createdAt: number;
  /** When nothing was pending any more (or it was cancelled), epoch ms, or `null` (also while a retried member runs). */
  readonly finishedAt: number | null;
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
  /** Its tags, if its definition has any. */
  readonly tags?: readonly string[];
  /** How long its id and unique key stay reserved after it ends, if dispatched with `dedupeFor`. */
  readonly dedupeFor?: number;
  /**
   * The trace context its dispatch stored, as the OpenTelemetry propagator
   * wrote it (W3C `traceparent`, `tracestate`), if it was dispatched with tracing on.
   */
  readonly trace?: Readonly<Record<string, string>>;
  /** Its chain or batch, if it is a step, member or callback of one. */
  readonly workflow?: JobWorkflow;
  /** The flow rules it was dispatched under, if any. */
  readonly flow?: JobFlow;
}

/**
 * Where a job is: waiting for a worker, delayed, leased to a worker
 * (active), kept after completing, or in the failed store.
 */
export type JobState = "waiting" | "delayed" | "active" | "completed" | "failed";

/** A job as an operator sees it: its record, state, result, logs and last run. */
export interface JobInfo extends StoredJob {
  /** Where the job is now. */
  readonly state: JobState;
  /** The latest value a handler passed to `ctx.progress()`, or `null` if none. */
  readonly progress: number | null;
  /** The handler's return value as JSON keeps it, for a completed job; `null` otherwise or when too large. */
  readonly result: unknown;
  /** The lines its handler logged with `ctx.log()`, oldest first (the newest 100 are kept). */
  readonly logs: readonly string[];
  /** Its tags (empty when none). */
  readonly tags: readonly string[];
  /** When its last attempt started, in epoch milliseconds, or `null` if it never ran. */
  readonly startedAt: number | null;
  /** When it completed or failed for good, in epoch milliseconds, or `null`. */
  readonly finishedAt: number | null;
  /** When a delayed job becomes due, in epoch milliseconds, or `null` for other states. */
  readonly runAt: number | null;
  /** The id of the worker that ran its last attempt, or `null` if it never ran. */
  readonly workerId: string | null;
}

/** How long finished jobs are kept: at most `count` per queue, none older than `age` ms. */
export interface RetainLimit {
  /** The most kept per queue; the oldest go first. */
  readonly count: number;
  /** The longest a job is kept after it finished, in milliseconds. */
  readonly age: number;
}

/** What a queue keeps of finished jobs; `completed: false` deletes completed jobs at once. */
export interface Retention {
  /** Completed jobs, with their results and logs. */
  readonly completed: RetainLimit | false;
  /** Failed jobs (the dead letters). */
  readonly failed: RetainLimit;
}

/** What {@linkcode QueueBackend.findJobs} reads: one queue's jobs, filtered. */
export interface BackendJobQuery {
  /** Only jobs in this state. */
  readonly state?: JobState;
  /** Only jobs of this definition. */
  readonly name?: string;
  /** Only jobs carrying this tag. */
  readonly tag?: string;
  /** Only the job with this id. */
  readonly id?: string;
  /** Only jobs dispatched at or after this time (epoch ms). */
  readonly since?: number;
  /** Only jobs dispatched before this time (epoch ms). */
  readonly until?: number;
  /** At most this many. */
  readonly limit: number;
  /** Where the previous page ended: the sort value and id of its last job. */
  readonly after?: JobPosition;
}

/** A place in a job listing: the sort value and id of a job. */
export interface JobPosition {
  /** The job's sort value (dispatch time, or its state's own order). */
  readonly value: number;
  /** The job's id. */
  readonly id: string;
}

/** A page of one queue's jobs. */
export interface BackendJobPage {
  /** The jobs, newest first. */
  readonly jobs: JobInfo[];
  /** Where to go on from, or `null` when the listing is over. */
  readonly next: JobPosition | null;
}

/** A running worker as its heartbeat describes it. */
export interface WorkerInfo {
  /** The worker's id (`worker.id`). */
  readonly id: string;
  /** The machine or isolate it runs on, as far as the runtime tells. */
  readonly host: string;
  /** The runtime and its version, such as `"Deno/2.1.4"`. */
  readonly runtime: string;
  /** The queues it serves, in order. */
  readonly queues: readonly string[];
  /** How many handlers it runs at once. */
  readonly concurrency: number;
  /** The ids of the jobs it was running at its last heartbeat. */
  readonly active: readonly string[];
  /** When it started, in epoch milliseconds. */
  readonly startedAt: number;
  /** When it was last seen, in epoch milliseconds. */
  readonly lastSeen: number;
}

/** A heartbeat riding on a worker's request: its details, and how long they last. */
export interface Heartbeat {
  /** The worker's details; `lastSeen` is the request's `now`. */
  readonly info: Omit<WorkerInfo, "lastSeen">;
  /** How long the heartbeat lasts, in milliseconds: a worker not seen for this long is gone. */
  readonly ttl: number;
}

/** One bucket of a queue's metrics: counters and latency histograms. */
export interface MetricBucket {
  /** The bucket's start, in epoch milliseconds. */
  readonly at: number;
  /** Counts by name: `completed`, `failed`, `retried`, `stalled`, `w<bin>` and `r<bin>`. */
  readonly counts: Readonly<Record<string, number>>;
}

/** A job's change of state, as `queue.events()` delivers it. */
export interface JobEvent {
  /** The queue. */
  readonly queue: string;
  /** The job's id. */
  readonly id: string;
  /** Its new state, or `"removed"` when it was deleted. */
  readonly state: JobState | "removed";
  /** When it changed, in epoch milliseconds (the changing process's clock). */
  readonly at: number;
}

/** An operator's action on jobs; see {@linkcode QueueBackend.manage}. */
export type JobAction = "remove" | "promote" | "retry" | "forget";

/** What {@linkcode QueueBackend.manage} does, to which jobs. */
export interface ManageRequest {
  /** The action. */
  readonly action: JobAction;
  /** The jobs' ids, or `"all"`: the oldest failed jobs (for `retry` and `forget`). */
  readonly ids: readonly string[] | "all";
  /** The caller's clock, epoch milliseconds. */
  readonly now: number;
  /** What to keep of failed jobs (a cancelled job goes to the failed store). */
  readonly retain?: Retention;
}

/** A dead-lettered job. */
export interface FailedJob extends JobInfo {
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
  /** The job's dedupe window, which starts now. */
  readonly dedupeFor?: number;
  /** The handler's result as JSON, kept with a retained job. */
  readonly resultJson?: string;
  /** Lines the handler logged in this attempt. */
  readonly logs?: readonly string[];
  /** How long the handler ran, in milliseconds (for the run-time metric). */
  readonly runTime?: number;
  /** The job's flow rules: its key's concurrency slot frees with it. */
  readonly flow?: JobFlow;
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
  /** What to keep of finished jobs. @default the backend's: completed deleted, 10,000 failed */
  readonly retain?: Retention;
  /** The reserving worker's id, kept with each job it starts. */
  readonly worker?: string;
  /** The worker's heartbeat, written by this call. */
  readonly heartbeat?: Heartbeat;
  /** Whether to count this call's completions, stalls and wait times (`QueueOptions.metrics`). @default true */
  readonly metrics?: boolean;
  /** Whether to keep each reserved job's start time and worker (`QueueOptions.search`). @default true */
  readonly runs?: boolean;
  /**
   * On a partitioned queue (`QueueOptions.partitions`), whether to read the
   * other partitions in turn when the first has fewer than `reserve` due jobs:
   * `drain()` sets it, so an empty answer means an empty queue. Otherwise a
   * take reads one partition, and an idle worker's poll stays one request.
   * @default false
   */
  readonly sweep?: boolean;
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
   * then), on the caller's clock; at or before `now` when the call stopped
   * short of jobs due now (a backend looks at a bounded number per call), so
   * the caller asks again. `null` for a call that reserves nothing or a paused queue.
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
  /** The job's dedupe window, which starts when it is dead-lettered. */
  readonly dedupeFor?: number;
  /** What to keep of failed jobs. @default 10,000, no age limit */
  readonly retain?: Retention;
  /** Lines the handler logged in this attempt. */
  readonly logs?: readonly string[];
  /** How long the handler ran, in milliseconds, when it ran (not for a release). */
  readonly runTime?: number;
  /** Whether to count this outcome and run time (`QueueOptions.metrics`). @default true */
  readonly metrics?: boolean;
}

/**
 * What {@linkcode QueueBackend.fail} did; `lost` when the token no longer held
 * the lease. A replay of a call that succeeded answers as that call did.
 */
export type FailResult = "retried" | "failed" | "released" | "lost";

/** The size of each part of a queue. */
export interface QueueCounts {
  /** Due and waiting for a worker, jobs waiting behind a busy key (flow control) included. */
  readonly ready: number;
  /** Waiting for their time (delays and retries). */
  readonly delayed: number;
  /** Leased to a worker. */
  readonly active: number;
  /** In the failed store. */
  readonly failed: number;
  /** Completed since the queue was created (a counter, whatever retention keeps). */
  readonly completed: number;
  /** Whether workers are kept from taking its jobs (`queue.pause()`). */
  readonly paused: boolean;
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
  /** One job with its state, result and logs; `null` once deleted, or never dispatched. */
  getJob(queue: string, id: string): Promise<JobInfo | null>;
  /** A page of one queue's jobs, newest first; see {@linkcode BackendJobQuery}. */
  findJobs(queue: string, query: BackendJobQuery): Promise<BackendJobPage>;
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
    heartbeat?: Heartbeat,
  ): Promise<string[]>;
  /** The workers whose heartbeat on this queue is younger than its ttl at `now`. */
  workers(queue: string, now: number): Promise<WorkerInfo[]>;
  /**
   * A queue's metric buckets of one resolution whose start is in `[from, to]`
   * (kept 24 hours per minute and 30 days per hour), oldest first.
   */
  metrics(
    queue: string,
    resolution: "minute" | "hour",
    from: number,
    to: number,
  ): Promise<MetricBucket[]>;
  /**
   * Delivers a queue's job state changes, from every process on the same
   * store, until the returned function is called. Resolves once listening.
   */
  watch(queue: string, listener: (event: JobEvent) => void): Promise<() => Promise<void>>;
  /** The size of each part of a queue. */
  counts(queue: string): Promise<QueueCounts>;
  /** The names of every queue that has had a job enqueued. */
  queues(): Promise<string[]>;
  /**
   * Acts on jobs of one queue, each checked against its state in one atomic
   * step: `remove` deletes a waiting, delayed, completed or failed job and
   * cancels an active one (it goes to the failed store with a
   * `JobCancelledError`, and its worker's lease is taken away); `promote` makes
   * a delayed job ready; `retry` moves a failed job back to ready with a fresh
   * retry budget; `forget` deletes a failed job.
   *
   * @returns How many jobs the action changed.
   */
  manage(queue: string, request: ManageRequest): Promise<number>;
  /** Keeps workers from taking a queue's jobs (`true`), or lets them again. */
  setPaused(queue: string, paused: boolean): Promise<void>;
  /**
   * Starts a chain or a batch, adds jobs to a running batch, or cancels one,
   * atomically with the jobs it enqueues or removes.
   *
   * @returns `false` when refused: the id is taken (chain, batch), or no
   *   running batch has it (add, cancel).
   */
  workflow(queue: string, request: WorkflowRequest): Promise<boolean>;
  /** A chain's state, or `null` when unknown (or trimmed after it finished). */
  chainInfo(queue: string, id: string): Promise<ChainInfo | null>;
  /** A batch's counters, or `null` when unknown (or trimmed after it finished). */
  batchInfo(queue: string, id: string): Promise<BatchInfo | null>;
  /**
   * Subscribes to enqueues made through this backend object, so a worker in
   * the same process wakes at once instead of at its next poll.
   */
  onEnqueue?(listener: (queue: string) => void): () => void;
}
