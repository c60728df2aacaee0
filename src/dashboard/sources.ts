/**
 * What the dashboard reads and drives, typed by shape: a `Queue` of
 * `@kiln/core/queue` and a `Scheduler` of `@kiln/core/scheduler` fit as they
 * are, and a test or an adapter can pass anything that answers the same.
 *
 * @module
 */
import type {
  JobEvent,
  JobInfo,
  JobPage,
  JobQuery,
  MetricPoint,
  MetricsQuery,
  QueueSummary,
  WorkerInfo,
} from "../queue/mod.ts";
import type { TaskStatus } from "../scheduler/mod.ts";

/** The queue the dashboard shows and drives: a `Queue` of `@kiln/core/queue`. */
export interface DashboardQueue {
  /** Every queue with its counts and paused flag. */
  queues(): Promise<readonly QueueSummary[]>;
  /** One job, or `null`. */
  job(id: string, queue?: string): Promise<JobInfo | null>;
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
  /** The live workers. */
  workers(): Promise<readonly WorkerInfo[]>;
  /** Counts and latency percentiles per minute or hour. */
  metrics(query: MetricsQuery): Promise<readonly MetricPoint[]>;
  /** Job state changes as they happen, across instances. */
  events(options?: { signal?: AbortSignal }): AsyncIterable<JobEvent>;
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
