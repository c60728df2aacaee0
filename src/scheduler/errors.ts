/**
 * Errors the scheduler records for a run, so `onFailure` hooks and history
 * readers can tell a timed-out run from one whose handler threw.
 *
 * @module
 */
import { KilnError } from "../errors.ts";

/**
 * A run took longer than the task's {@linkcode import("./task.ts").ScheduledTask.timeout}.
 * The handler's `signal` is aborted with this error; the run is recorded as failed.
 *
 * @example Recognising a timed-out run in a failure hook
 * ```ts
 * import { TaskTimeoutError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new TaskTimeoutError("backup", 5_000);
 * assert.equal(error.code, "SCHEDULER_TASK_TIMEOUT");
 * assert.equal(error.task, "backup");
 * ```
 */
export class TaskTimeoutError extends KilnError {
  /** The task whose run timed out. */
  readonly task: string;
  /** The timeout that was exceeded, in milliseconds. */
  readonly timeout: number;

  /**
   * Creates the error for one timed-out run.
   *
   * @param task The task's name.
   * @param timeout The timeout that was exceeded, in milliseconds.
   */
  constructor(task: string, timeout: number) {
    super("SCHEDULER_TASK_TIMEOUT", `Task "${task}" timed out after ${timeout} ms`);
    this.task = task;
    this.timeout = timeout;
  }
}

/**
 * `stop({ abort: true })` aborted a run in progress: the handler's `signal`
 * is aborted with this error.
 *
 * @example Recognising a stop in a handler
 * ```ts
 * import { SchedulerStoppedError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new SchedulerStoppedError();
 * assert.equal(error.code, "SCHEDULER_STOPPED");
 * ```
 */
export class SchedulerStoppedError extends KilnError {
  /** Creates the error. */
  constructor() {
    super("SCHEDULER_STOPPED", "Scheduler stopped");
  }
}

/**
 * A `pingBefore()` or `thenPing()` URL answered with an HTTP error status.
 * The run itself is not failed: the error goes to the scheduler's `onError`.
 *
 * @example Reading the status in onError
 * ```ts
 * import { PingFailedError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new PingFailedError("https://example.com/ping", 503);
 * assert.equal(error.code, "SCHEDULER_PING_FAILED");
 * assert.equal(error.status, 503);
 * ```
 */
export class PingFailedError extends KilnError {
  /** The URL pinged. */
  readonly url: string;
  /** The HTTP status it answered. */
  readonly status: number;

  /**
   * Creates the error.
   *
   * @param url The URL pinged.
   * @param status The HTTP status it answered.
   */
  constructor(url: string, status: number) {
    super("SCHEDULER_PING_FAILED", `Ping to ${url} answered HTTP ${status}`);
    this.url = url;
    this.status = status;
  }
}

/**
 * `pause()`, `resume()` or `run()` named a task this scheduler has not
 * registered (a dashboard answers it with 404).
 *
 * @example Telling an unknown task from a failed run
 * ```ts
 * import { Scheduler } from "@kiln/core/scheduler";
 * import { UnknownTaskError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const scheduler = new Scheduler();
 * await assert.rejects(scheduler.pause("nightly-typo"), (error: unknown) =>
 *   error instanceof UnknownTaskError && error.code === "SCHEDULER_UNKNOWN_TASK" &&
 *   error.task === "nightly-typo");
 * ```
 */
export class UnknownTaskError extends KilnError {
  /** The name that matched no task. */
  readonly task: string;

  /**
   * Creates the error.
   *
   * @param task The name that matched no task.
   */
  constructor(task: string) {
    // The name comes from whoever called (a dashboard's URL): a long one is cut in the message.
    const shown = task.length > 200
      ? `${JSON.stringify(task.slice(0, 200))}…`
      : JSON.stringify(task);
    super("SCHEDULER_UNKNOWN_TASK", `No task named ${shown} is registered`);
    this.task = task;
  }
}
