/**
 * How a worker is configured, and what a drain reports: the public option
 * types, and their validation into the settings a worker runs with.
 *
 * @module
 */
import type { AnyJob } from "./job.ts";
import { consoleLogger, type Logger } from "./logger.ts";
import { DEFAULT_MAX_STALLS, MAX_TIMER_MS } from "./_constants.ts";

/** Options for {@linkcode Worker}. */
export interface WorkerOptions {
  /** The job definitions this worker can run; jobs with other names go to the failed store. */
  jobs: readonly AnyJob[];
  /**
   * The most handlers running at once. From 8 on, a worker on a single queue keeps two
   * round trips to the backend on their way, each reporting and reserving for half the slots, so
   * the backend's time overlaps the handlers' (about a third more commands per job
   * than one round trip at a time, for more jobs per second). @default 1
   */
  concurrency?: number;
  /** The queues to take jobs from, in order: a later queue is served only when earlier ones have nothing due. @default the queues of `jobs`, in order */
  queues?: readonly string[];
  /** How long a reserved job's lease lasts; running jobs renew it every third of this. @default 30000 */
  leaseDuration?: number;
  /**
   * How many times a job's lease may expire before the job is dead-lettered
   * with a `JobStalledError`, for jobs that set no `maxStalls` of their own
   * (like BullMQ's `maxStalledCount`). A stall is not a failed attempt: the
   * job is served again and costs no retry.
   * @default 1
   */
  maxStalls?: number;
  /** The longest wait between polls once idle: an idle worker costs at most one request per interval. @default 5000 */
  maxPollInterval?: number;
  /** The first wait after a poll found nothing; it doubles up to `maxPollInterval`. @default 50 */
  minPollInterval?: number;
  /** How long `stop()` waits for running handlers before aborting them and handing their jobs back. @default 10000 */
  gracePeriod?: number;
  /** Where the worker and handlers log. @default consoleLogger */
  logger?: Logger;
  /** A source of numbers in [0, 1) for backoff jitter. @default Math.random */
  random?: () => number;
}

/** Options for {@linkcode Worker.drain}. */
export interface DrainOptions {
  /** Start at most this many jobs. @default Infinity */
  maxJobs?: number;
  /**
   * Stop reserving after this many milliseconds. Running handlers get
   * `gracePeriod` more to finish; then `drain()` returns, abandoning the rest
   * (see {@linkcode DrainSummary.abandoned}). Without it, `drain()` waits for
   * every handler, however long it runs.
   * @default Infinity
   */
  maxTime?: number;
  /**
   * How long after `maxTime` running handlers may still finish before they are
   * abandoned, so `drain()` returns by `maxTime + gracePeriod` (plus one round
   * trip to report what finished).
   * @default the worker's `gracePeriod` (10000)
   */
  gracePeriod?: number;
}

/** A job whose handler was still running when `drain()` gave up on it. */
export interface AbandonedJob {
  /** The job's id. */
  readonly id: string;
  /** Its queue. */
  readonly queue: string;
  /** The job definition's name. */
  readonly name: string;
}

/** What one {@linkcode Worker.drain} did. */
export interface DrainSummary {
  /** Jobs started. */
  processed: number;
  /** Jobs completed. */
  completed: number;
  /** Attempts that failed and were scheduled again. */
  retried: number;
  /** Jobs moved to the failed store. */
  failed: number;
  /** Jobs put back without a failure (by middleware, or handed back). */
  released: number;
  /** Why it stopped: nothing due, `maxJobs` reached, or `maxTime` elapsed. */
  stoppedBy: "empty" | "maxJobs" | "maxTime";
  /**
   * Handlers still running at `maxTime + gracePeriod`: their `ctx.signal` was
   * aborted and `drain()` returned without them. A job whose outcome was not
   * reported yet keeps its lease, no longer renewed, so it comes back as a
   * stall when the lease expires (never twice at once while the lease holds);
   * one already failed by its `timeout` was retried or dead-lettered then.
   * Whatever an abandoned handler returns later is ignored.
   */
  abandoned: AbandonedJob[];
  /** How long it took, in milliseconds. */
  duration: number;
}

/** Options for {@linkcode Worker.stop}. */
export interface StopOptions {
  /** Overrides the worker's grace period for this stop. */
  gracePeriod?: number;
}

/** The counts a drain keeps as it goes. */
export type DrainCounts = Omit<DrainSummary, "stoppedBy" | "duration" | "abandoned">;

/** Counts at zero, for a new run. */
export function zeroCounts(): DrainCounts {
  return { processed: 0, completed: 0, retried: 0, failed: 0, released: 0 };
}

/** {@linkcode WorkerOptions} checked, with every default filled in. */
export interface WorkerSettings {
  readonly jobs: ReadonlyMap<string, AnyJob>;
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly leaseDuration: number;
  readonly maxStalls: number;
  readonly maxPoll: number;
  readonly minPoll: number;
  readonly grace: number;
  readonly logger: Logger;
  readonly random: () => number;
}

/**
 * Checks a worker's options and fills in the defaults.
 *
 * @throws {TypeError} When `jobs` is empty or holds two jobs with one name, or `queues` is empty.
 * @throws {RangeError} When a number option is out of range.
 */
export function resolveWorkerOptions(options: WorkerOptions): WorkerSettings {
  if (!Array.isArray(options?.jobs) || options.jobs.length === 0) {
    throw new TypeError("Worker needs at least one job definition in jobs");
  }
  const jobs = new Map<string, AnyJob>();
  for (const job of options.jobs) {
    if (jobs.has(job.name)) throw new TypeError(`Two job definitions are named ${job.name}`);
    jobs.set(job.name, job);
  }
  const queues = options.queues ?? [...new Set(options.jobs.map((job) => job.queue))];
  if (queues.length === 0) throw new TypeError("queues must name at least one queue");
  const concurrency = positiveInteger("concurrency", options.concurrency ?? 1);
  const leaseDuration = positiveInteger("leaseDuration", options.leaseDuration ?? 30_000);
  const maxStalls = options.maxStalls ?? DEFAULT_MAX_STALLS;
  if (!Number.isInteger(maxStalls) || maxStalls < 0) {
    throw new RangeError(`maxStalls must be a non-negative integer, got ${maxStalls}`);
  }
  const maxPoll = positiveInteger("maxPollInterval", options.maxPollInterval ?? 5_000);
  const minPoll = Math.min(
    positiveInteger("minPollInterval", options.minPollInterval ?? 50),
    maxPoll,
  );
  return {
    jobs,
    queues,
    concurrency,
    leaseDuration,
    maxStalls,
    maxPoll,
    minPoll,
    grace: nonNegative("gracePeriod", options.gracePeriod ?? 10_000),
    logger: options.logger ?? consoleLogger,
    random: options.random ?? Math.random,
  };
}

/**
 * Checks that `value` is a number of milliseconds a timer can hold: zero or
 * more, at most 2^31 - 1.
 *
 * @throws {RangeError} When it is not.
 */
export function nonNegative(name: string, value: number): number {
  if (typeof value !== "number" || !(value >= 0) || value > MAX_TIMER_MS) {
    throw new RangeError(
      `${name} must be a non-negative number of milliseconds, at most ${MAX_TIMER_MS}, got ${value}`,
    );
  }
  return value;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new RangeError(
      `${name} must be a positive integer, at most ${MAX_TIMER_MS}, got ${value}`,
    );
  }
  return value;
}
