/**
 * Values both backends must agree on, so they pass the same conformance suite.
 *
 * @module
 */
import type { RetainLimit, Retention } from "./backend.ts";

/** What a queue keeps of finished jobs unless told otherwise (the defaults). */
export const DEFAULT_RETENTION: Retention = {
  completed: { count: 1_000, age: 24 * 3_600_000 },
  failed: { count: 10_000, age: 7 * 24 * 3_600_000 },
};

/** What a backend keeps when a caller passes no retention: completed jobs deleted at once. */
export const BACKEND_RETENTION: Retention = {
  completed: false,
  failed: { count: 10_000, age: 0 },
};

/** The largest handler result kept with a completed job, in UTF-8 bytes of JSON. */
export const MAX_RESULT_BYTES = 65_536;

/** The most log lines a job keeps (the newest; jobs.lua keeps the same number). */
export const MAX_LOG_LINES = 100;

/** The longest log line kept, in UTF-16 units; longer lines are cut. */
export const MAX_LOG_LINE = 2_000;

/** The error name recorded when an operator cancels a running job. */
export const CANCELLED_ERROR_NAME = "JobCancelledError";

/** The error message recorded when an operator cancels a running job (manage-19.lua says the same). */
export const CANCELLED_MESSAGE = "The job was cancelled while it ran";

/** How many stalls a job survives unless it or its worker says otherwise. */
export const DEFAULT_MAX_STALLS = 1;

/** How long a `fail` outcome is remembered, so a replayed request answers the same. */
export const REPLAY_MEMO_MS = 60_000;

/** The error name recorded when a job stalled more than its max stalls. */
export const STALL_ERROR_NAME = "JobStalledError";

/**
 * The error message recorded when a job stalled more than its max stalls
 * (take-13.lua builds the same text).
 */
export function stallErrorMessage(stalls: number, maxStalls: number): string {
  return `The job stalled too many times: its lease expired ${stalls} times before it finished (maxStalls ${maxStalls})`;
}

/**
 * The longest delay a timer can hold (2^31 - 1 ms, about 24.8 days): runtimes
 * fire a longer `setTimeout` at once, so longer durations are refused.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** The index of each priority band, best first. */
export const BANDS = { high: 0, normal: 1, low: 2 } as const;

/** Checks a retention setting, naming the bad field. */
export function assertRetention(retain: Retention): void {
  const check = (what: string, limit: RetainLimit) => {
    if (!Number.isSafeInteger(limit?.count) || limit.count < 0) {
      throw new RangeError(
        `retain.${what}.count must be a non-negative integer, got ${limit?.count}`,
      );
    }
    if (!Number.isSafeInteger(limit.age) || limit.age < 0) {
      throw new RangeError(
        `retain.${what}.age must be a non-negative integer of ms, got ${limit.age}`,
      );
    }
  };
  if (retain.completed !== false) check("completed", retain.completed);
  check("failed", retain.failed);
}
