/**
 * Run history: the last runs of every task, in memory or in Redis
 * ({@linkcode import("./redis_history.ts").RedisHistory}).
 *
 * @module
 */
import type { TaskPauses } from "./pauses.ts";

/** One finished run of a task, as history keeps it. Times are epoch milliseconds. */
export interface TaskRunRecord {
  /** The task's name. */
  task: string;
  /** The occurrence that ran. */
  scheduledAt: number;
  /** When the run started. */
  startedAt: number;
  /** When it finished. */
  finishedAt: number;
  /** `finishedAt - startedAt`. */
  duration: number;
  /** `skipped` only for a run kept out by `withoutOverlapping()`. */
  status: "succeeded" | "failed" | "skipped";
  /** How many attempts were made (0 when skipped). */
  attempts: number;
  /** The last attempt's error message when failed, the skip reason when skipped. */
  error?: string;
  /** The scheduler instance that ran it. */
  instance: string;
  /**
   * What started it: its `schedule`, another task's `then()` (`chain`), or an
   * operator's `run(name)` (`manual`, with `scheduledAt` the time it was asked).
   */
  trigger: "schedule" | "chain" | "manual";
}

/** Where a scheduler keeps its run history. */
export interface SchedulerHistory {
  /** Records a finished run, dropping the task's oldest runs beyond the limit. */
  record(run: TaskRunRecord): Promise<void>;
  /** The task's recent runs, newest occurrence first. */
  list(task: string, limit?: number): Promise<TaskRunRecord[]>;
  /** Each task's recent runs, newest first, in the order asked (`[]` for a task that never ran). */
  recent(tasks: readonly string[], limit: number): Promise<TaskRunRecord[][]>;
  /**
   * Where the scheduler keeps paused tasks when this is its history, so they
   * live beside the runs (in Redis for `RedisHistory`). Without one, a
   * scheduler keeps them in the mutex's store or in memory.
   */
  readonly pauses?: TaskPauses;
}

/** Options for {@linkcode MemoryHistory}. */
export interface MemoryHistoryOptions {
  /**
   * How many runs to keep per task.
   * @default 20
   */
  limit?: number;
}

/**
 * Keeps the last runs of each task in this process's memory.
 *
 * @example Recording and reading a run
 * ```ts
 * import { MemoryHistory } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * const history = new MemoryHistory({ limit: 2 });
 * for (const at of [1, 2, 3]) {
 *   await history.record({
 *     task: "t", scheduledAt: at, startedAt: at, finishedAt: at, duration: 0,
 *     status: "succeeded", attempts: 1, instance: "a", trigger: "schedule",
 *   });
 * }
 * assert.deepEqual((await history.list("t")).map((run) => run.scheduledAt), [3, 2]);
 * ```
 */
export class MemoryHistory implements SchedulerHistory {
  #limit: number;
  #runs = new Map<string, TaskRunRecord[]>();

  /**
   * Creates an empty history.
   *
   * @param options How many runs to keep per task.
   * @throws {RangeError} When `limit` is not a positive integer.
   */
  constructor(options: MemoryHistoryOptions = {}) {
    this.#limit = assertLimit(options.limit ?? 20);
  }

  /**
   * Records a finished run.
   *
   * @param run The run.
   */
  record(run: TaskRunRecord): Promise<void> {
    let runs = this.#runs.get(run.task);
    if (!runs) this.#runs.set(run.task, runs = []);
    // Newest occurrence first, as RedisHistory orders them, whatever order runs finish in.
    let index = 0;
    while (index < runs.length && runs[index].scheduledAt > run.scheduledAt) index++;
    runs.splice(index, 0, { ...run });
    if (runs.length > this.#limit) runs.length = this.#limit;
    return Promise.resolve();
  }

  /**
   * Lists a task's recent runs, newest first.
   *
   * @param task The task's name.
   * @param limit At most this many.
   * @returns Copies of the records.
   */
  list(task: string, limit: number = this.#limit): Promise<TaskRunRecord[]> {
    return Promise.resolve((this.#runs.get(task) ?? []).slice(0, limit).map((run) => ({ ...run })));
  }

  /**
   * Each task's recent runs, newest first.
   *
   * @param tasks The tasks' names.
   * @param limit At most this many per task.
   * @returns One list per task, in order.
   */
  recent(tasks: readonly string[], limit: number): Promise<TaskRunRecord[][]> {
    return Promise.all(tasks.map((task) => this.list(task, limit)));
  }
}

/** Checks a per-task history limit. */
export function assertLimit(limit: unknown): number {
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`History limit must be a positive integer, got ${String(limit)}`);
  }
  return limit;
}
