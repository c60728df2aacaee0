/**
 * Validates a `Scheduler`'s options once, at construction, and fills in the
 * defaults.
 *
 * @module
 */
import { isTimezone } from "./_patterns.ts";
import { type Clock, systemClock } from "../clock.ts";
import { MemoryHistory, type SchedulerHistory } from "./history.ts";
import { MemoryMutex, type SchedulerMutex } from "./mutex.ts";
import { MemoryPauses, type TaskPauses } from "./pauses.ts";
import type { SchedulerOptions } from "./scheduler_options.ts";
import type { SchedulerErrorHandler } from "./types.ts";

/** A scheduler's options with every default filled in. */
export interface SchedulerSettings {
  timezone: string;
  clock: Clock;
  mutex: SchedulerMutex;
  history: SchedulerHistory;
  /** From the history, else the mutex, else in memory. */
  pauses: TaskPauses;
  onError: SchedulerErrorHandler;
  fetch: typeof fetch;
  window: number;
  maxWait: number;
  claimTtl: number;
  instance: string;
}

/**
 * Checks the options in the order they are documented and fills in defaults.
 *
 * @throws {RangeError} When the time zone is unknown or a duration is not a positive integer.
 * @throws {TypeError} When a collaborator lacks the methods it needs.
 */
export function resolveOptions(options: SchedulerOptions): SchedulerSettings {
  const timezone = options.timezone ?? "UTC";
  if (!isTimezone(timezone)) {
    throw new RangeError(`Scheduler timezone: unknown time zone ${JSON.stringify(timezone)}`);
  }
  const clock = options.clock ?? systemClock;
  for (const method of ["now", "setTimeout", "clearTimeout"] as const) {
    if (typeof clock[method] !== "function") {
      throw new TypeError(`Scheduler clock must have a ${method}() method`);
    }
  }
  const mutex: SchedulerMutex = options.mutex ?? new MemoryMutex({ clock });
  if (typeof mutex.acquire !== "function" || typeof mutex.release !== "function") {
    throw new TypeError("Scheduler mutex must have acquire() and release() methods");
  }
  const history: SchedulerHistory = options.history ?? new MemoryHistory();
  for (const method of ["record", "list", "recent"] as const) {
    if (typeof history[method] !== "function") {
      throw new TypeError(`Scheduler history must have a ${method}() method`);
    }
  }
  const pauses = history.pauses ?? mutex.pauses ?? new MemoryPauses();
  for (const method of ["paused", "pause", "resume"] as const) {
    if (typeof pauses?.[method] !== "function") {
      throw new TypeError(
        `Scheduler pauses (of its history or mutex) must have a ${method}() method`,
      );
    }
  }
  return {
    timezone,
    clock,
    mutex,
    history,
    pauses,
    onError: options.onError ?? ((error, info) => {
      console.error(`Scheduler: ${info.phase} of task "${info.task}" failed`, error);
    }),
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    window: positive("window", options.window ?? 60_000),
    maxWait: positive("maxWait", options.maxWait ?? 30_000),
    claimTtl: positive("claimTtl", options.claimTtl ?? 3_600_000),
    instance: options.instance ?? crypto.randomUUID(),
  };
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(
      `Scheduler ${name} must be a positive integer of milliseconds, got ${value}`,
    );
  }
  return value;
}
