/**
 * What the dashboard reads and drives, typed by shape: a `Queue` of
 * `@kiln/core/queue` and a `Scheduler` of `@kiln/core/scheduler` fit as they
 * are. Workers, metrics and events are optional: a page or API route whose
 * call is missing says which call it needs (`501 NOT_SUPPORTED` from the API)
 * instead of pretending.
 *
 * @module
 */
import type { AttemptError, QueueCounts } from "../queue/mod.ts";
import type { TaskStatus } from "../scheduler/mod.ts";

/** The states a job search can ask for. */
export type JobSearchState = "waiting" | "delayed" | "active" | "completed" | "failed";

/** A job search, as `queue.jobs(query)` takes it. */
export interface JobQuery {
  /** Only this queue. */
  queue?: string;
  /** Only jobs in this state. */
  state?: JobSearchState;
  /** Only jobs of this definition. */
  name?: string;
  /** Only jobs carrying this tag. */
  tag?: string;
  /** Only the job with this id. */
  id?: string;
  /** Only jobs at or after this time, in epoch milliseconds. */
  since?: number;
  /** Only jobs before this time, in epoch milliseconds. */
  until?: number;
  /** At most this many. */
  limit?: number;
  /** Where the previous page ended. */
  cursor?: string;
}

/** A page of jobs, newest first. */
export interface JobPage {
  /** The jobs. */
  jobs: readonly DashboardJob[];
  /** Where the next page starts, or `null` on the last. */
  cursor: string | null;
}

/** A job as the dashboard shows it: a `JobInfo` or `FailedJob`, with what operating adds where known. */
export interface DashboardJob {
  /** The job's id. */
  readonly id: string;
  /** The job definition's name. */
  readonly name: string;
  /** The queue. */
  readonly queue: string;
  /** The payload. */
  readonly payload: unknown;
  /** The priority band. */
  readonly priority: string;
  /** Retries allowed at dispatch time. */
  readonly maxRetries: number;
  /** When it was dispatched, epoch milliseconds. */
  readonly createdAt: number;
  /** Reservations so far. */
  readonly attempts: number;
  /** Lease expiries so far. */
  readonly stalls: number;
  /** Every failed attempt's error, oldest first. */
  readonly errors: readonly AttemptError[];
  /** Where the job is: waiting, delayed, active, completed or failed. */
  readonly state: string;
  /** The latest progress, or `null`. */
  readonly progress?: number | null;
  /** The handler's result, for a completed job. */
  readonly result?: unknown;
  /** Lines the handler logged. */
  readonly logs?: readonly unknown[];
  /** Its tags. */
  readonly tags?: readonly string[];
  /** When it was moved to the failed store. */
  readonly failedAt?: number;
  /** When its last attempt started. */
  readonly startedAt?: number | null;
  /** When it finished. */
  readonly finishedAt?: number | null;
  /** When it is or was due. */
  readonly runAt?: number | null;
  /** The worker that ran it last. */
  readonly workerId?: string | null;
}

/** One queue as `queue.queues()` lists it. */
export interface QueueSummary {
  /** The queue's name. */
  readonly name: string;
  /** Jobs per state. */
  readonly counts: QueueCounts;
  /** Whether workers are kept from taking its jobs. */
  readonly paused?: boolean;
}

/** The queue the dashboard shows and drives: a `Queue` of `@kiln/core/queue`. */
export interface DashboardQueue {
  /** Every queue with its counts and paused flag. */
  queues(): Promise<readonly QueueSummary[]>;
  /** One job, or `null`. */
  job(id: string, queue?: string): Promise<DashboardJob | null>;
  /** A page of jobs matching a search, newest first. */
  jobs(query: JobQuery): Promise<JobPage>;
  /** Removes a job, cancelling it when active; `false` when there was none to remove. */
  remove(id: string, queue?: string): Promise<boolean>;
  /** Runs a delayed job now; `false` when it is not delayed. */
  promote(id: string, queue?: string): Promise<boolean>;
  /** Retries a failed job; `false` when it is not failed. */
  retry(id: string, queue?: string): Promise<boolean>;
  /** Retries the failed jobs a search matches; answers how many. */
  retryAll(query: JobQuery): Promise<number>;
  /** Removes what a search matches; answers how many. */
  removeAll(query: JobQuery): Promise<number>;
  /** Keeps workers from taking a queue's jobs. */
  pause(queue: string): Promise<unknown>;
  /** Lets workers take a paused queue's jobs again. */
  resume(queue: string): Promise<unknown>;
  /** The live workers, where the queue lists them. */
  workers?(): Promise<readonly unknown[]>;
  /** Figures over time, where the queue keeps them. */
  metrics?(query: MetricsQuery): Promise<unknown>;
  /** Job state changes as they happen, where the queue publishes them. */
  events?(options?: { signal?: AbortSignal }): AsyncIterable<unknown>;
}

/** A metrics query, as `queue.metrics()` takes it. */
export interface MetricsQuery {
  /** The queue. */
  queue?: string;
  /** From, epoch milliseconds. */
  since?: number;
  /** To, epoch milliseconds. */
  until?: number;
  /** Minute or hour buckets. */
  resolution?: "minute" | "hour";
}

/** The scheduler the dashboard shows and drives: a `Scheduler` of `@kiln/core/scheduler`. */
export interface DashboardScheduler {
  /** Every task with its schedule in words, next run, paused flag, last run and history. */
  tasks(options?: { history?: number }): Promise<TaskStatus[]>;
  /** Runs one occurrence of a task now. */
  run(name: string): Promise<unknown>;
  /** Skips a task's occurrences until resumed. */
  pause(name: string): Promise<unknown>;
  /** Lets a paused task run again. */
  resume(name: string): Promise<unknown>;
}
