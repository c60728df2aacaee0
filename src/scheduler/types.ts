/**
 * The shapes a task's handler, conditions and hooks receive.
 *
 * @module
 */

/** Which occurrence of which task a callback is about. */
export interface TaskRunInfo {
  /** The task's name. */
  readonly task: string;
  /** The occurrence being run: the time the schedule named, not the time it started. */
  readonly scheduledAt: Date;
}

/** What a task's handler receives. */
export interface TaskContext extends TaskRunInfo {
  /** 1 for the first attempt, 2 for the first retry, and so on. */
  readonly attempt: number;
  /**
   * Aborted when the attempt times out or the scheduler stops with `abort: true`;
   * pass it to `fetch` and other cancellable work.
   */
  readonly signal: AbortSignal;
}

/** The work a task does; may be async. A throw or rejection fails the attempt. */
export type TaskHandler = (context: TaskContext) => unknown;

/** A `when()`/`skip()` condition; may be async. */
export type TaskCondition = (info: TaskRunInfo) => boolean | Promise<boolean>;

/** Why an occurrence did not run. */
export type TaskSkipReason =
  /** Outside the task's `between()` window or inside its `unlessBetween()` window. */
  | "filtered"
  /** This scheduler already ran this occurrence (a tick delivered twice, or late). */
  | "duplicate"
  /** `onOneServer()`: another scheduler instance claimed this occurrence. */
  | "claimed"
  /** A `when()` condition was false or a `skip()` condition was true. */
  | "condition"
  /** `withoutOverlapping()`: the previous run still holds the lock. */
  | "overlapping"
  /** An operator paused the task (`scheduler.pause(name)`). */
  | "paused";

/** What happened to one occurrence of one task. */
export type TaskRunOutcome =
  | {
    readonly task: string;
    readonly scheduledAt: Date;
    readonly status: "succeeded";
    /** How many attempts it took. */
    readonly attempts: number;
  }
  | {
    readonly task: string;
    readonly scheduledAt: Date;
    readonly status: "failed";
    readonly attempts: number;
    /** What the last attempt threw (a {@linkcode import("./errors.ts").TaskTimeoutError} on timeout). */
    readonly error: unknown;
  }
  | {
    readonly task: string;
    readonly scheduledAt: Date;
    readonly status: "skipped";
    readonly reason: TaskSkipReason;
  };

/** Called for errors that are not a task's own failure: hooks, pings, history, the mutex. */
export type SchedulerErrorHandler = (error: unknown, info: TaskRunInfo & { phase: string }) => void;
