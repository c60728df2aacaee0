/**
 * Values both backends must agree on, so they pass the same conformance suite.
 *
 * @module
 */

/** How many failed jobs a queue keeps before the oldest are trimmed. */
export const DEFAULT_FAILED_LIMIT = 10_000;

/** The error name recorded when a lease expires without an answer from its worker. */
export const STALL_ERROR_NAME = "LeaseExpired";

/** The error message recorded when a lease expires without an answer from its worker. */
export const STALL_ERROR_MESSAGE =
  "The lease expired before the job finished (worker crashed or stalled)";

/** The index of each priority band, best first. */
export const BANDS = { high: 0, normal: 1, low: 2 } as const;

/** Checks the failed-store retention limit. */
export function assertFailedLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`failedLimit must be a positive integer, got ${limit}`);
  }
}
