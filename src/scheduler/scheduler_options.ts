/**
 * What the `Scheduler` constructor and methods take, and what `list()`
 * returns.
 *
 * @module
 */
// Types only: job() dispatches through the queue it is given, so the scheduler never
// loads the queue module (or valibot) at run time.
import type {
  DispatchOptions,
  DispatchResult,
  JobDefinition,
  PayloadInput,
  PayloadSchema,
} from "../queue/mod.ts";
import type { Clock } from "../clock.ts";
import type { SchedulerHistory, TaskRunRecord } from "./history.ts";
import type { SchedulerMutex } from "./mutex.ts";
import type { SchedulerErrorHandler } from "./types.ts";

/** Options for {@linkcode Scheduler}. */
export interface SchedulerOptions {
  /**
   * The IANA time zone schedules are read in, unless a task sets its own.
   * @default "UTC"
   */
  timezone?: string;
  /**
   * Where overlap locks and one-server claims live. Share a `RedisMutex`
   * between instances for `onOneServer()` to mean anything across processes.
   * @default new MemoryMutex()
   */
  mutex?: SchedulerMutex;
  /**
   * Where run history is kept.
   * @default new MemoryHistory()
   */
  history?: SchedulerHistory;
  /**
   * The time source and timer; inject one in tests.
   * @default systemClock
   */
  clock?: Clock;
  /**
   * Receives errors that are not a task's own failure: hooks after the run,
   * pings, history writes and the mutex.
   * @default console.error
   */
  onError?: SchedulerErrorHandler;
  /**
   * The `fetch` used by `pingBefore()` and `thenPing()`.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /**
   * How far back `runDue(at)` looks for an occurrence, in milliseconds: set it
   * to the platform's tick interval. Each task runs at most once per tick, for
   * its latest occurrence in `(at - window, at]`.
   * @default 60_000
   */
  window?: number;
  /**
   * The longest the timer waits before checking the clock again, so a machine
   * waking from sleep notices within this long.
   * @default 30_000
   */
  maxWait?: number;
  /**
   * How long an `onOneServer()` claim on an occurrence lives: longer than the
   * clock skew between servers plus `window`.
   * @default 3_600_000
   */
  claimTtl?: number;
  /**
   * This instance's name in history records.
   * @default crypto.randomUUID()
   */
  instance?: string;
}

/** Options for {@linkcode Scheduler.start}. */
export interface SchedulerStartOptions {
  /**
   * Keep the process alive while waiting. By default the timer is unref'd
   * (Deno, Node, Bun), so a scheduler never keeps a finished program running;
   * a process that only schedules must pass `true`.
   * @default false
   */
  keepAlive?: boolean;
}

/** Options for {@linkcode Scheduler.stop}. */
export interface SchedulerStopOptions {
  /**
   * Abort the `signal` of runs in progress instead of letting them finish.
   * `stop()` still waits for them to settle.
   * @default false
   */
  abort?: boolean;
}

/** Options for {@linkcode Scheduler.list}. */
export interface TaskListOptions {
  /**
   * The time to list next runs from.
   * @default the clock's now
   */
  from?: Date;
  /**
   * How many next runs to list per task, at most 100.
   * @default 3
   */
  count?: number;
}

/** One task as {@linkcode Scheduler.list} shows it. */
export interface ScheduledTaskInfo {
  /** The task's unique name. */
  name: string;
  /** `call` for a function, `job` for a queue dispatch. */
  kind: "call" | "job";
  /** The description set with `description()`. */
  description?: string;
  /** The cron expression, seconds first. */
  expression: string;
  /** The time zone it is read in. */
  timezone: string;
  /** The next occurrences that pass the `between()` filters. */
  nextRuns: Date[];
  /** The newest run in history, if any. */
  lastRun?: TaskRunRecord;
  /** Whether `withoutOverlapping()` is on. */
  withoutOverlapping: boolean;
  /** Whether `onOneServer()` is on. */
  onOneServer: boolean;
}

/** Options for {@linkcode Scheduler.tasks}. */
export interface TaskStatusOptions extends TaskListOptions {
  /**
   * How many recent runs to show per task.
   * @default 10
   */
  history?: number;
}

/** One task as {@linkcode Scheduler.tasks} shows it to an operator. */
export interface TaskStatus extends ScheduledTaskInfo {
  /**
   * The schedule in words, with its windows and the time zone when local time
   * matters: "daily at 08:00, Europe/Berlin", "every 10 seconds",
   * "weekdays at 09:30, UTC". Outside the builder's words: "cron <expression>, <zone>".
   */
  schedule: string;
  /** The next occurrence that passes the task's windows, or `null` when there is none. */
  nextRunAt: Date | null;
  /** Whether an operator paused it: due occurrences are skipped (reason `paused`). */
  paused: boolean;
  /** The recent runs, newest first (the first is {@linkcode ScheduledTaskInfo.lastRun}). */
  history: TaskRunRecord[];
}

/**
 * What {@linkcode Scheduler.job} dispatches on: the queue module's `Queue`,
 * or anything with the same `dispatch()`.
 */
export interface JobDispatcher {
  /**
   * Validates the payload and enqueues one job.
   *
   * @param job The job definition.
   * @param payload The payload.
   * @param options Delay, priority, id and unique key.
   * @returns The job's id, and whether a new job was enqueued.
   */
  dispatch<S extends PayloadSchema>(
    job: JobDefinition<S>,
    payload: PayloadInput<S>,
    options?: DispatchOptions,
  ): Promise<DispatchResult>;
}

/** Options for {@linkcode Scheduler.job}. */
export interface JobTaskOptions {
  /**
   * The task's name.
   * @default `job:<job name>`
   */
  name?: string;
  /** Passed to `dispatch()` as its options (delay, priority, …). */
  dispatch?: DispatchOptions;
}
