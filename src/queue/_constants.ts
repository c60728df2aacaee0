/**
 * Values both backends must agree on, so they pass the same conformance suite.
 *
 * @module
 */

/** How many failed jobs a queue keeps before the oldest are trimmed. */
export const DEFAULT_FAILED_LIMIT = 10_000;

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

/** Checks the failed-store retention limit. */
export function assertFailedLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`failedLimit must be a positive integer, got ${limit}`);
  }
}
