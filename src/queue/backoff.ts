/**
 * How long a failed job waits before its next attempt.
 *
 * @module
 */
import { backoff as backoffWait, type Jitter } from "../_backoff.ts";

export type { Jitter };

/** Waits the same time before every retry. */
export interface FixedBackoff {
  /** Always `"fixed"`. */
  type: "fixed";
  /** The wait in milliseconds. */
  delay: number;
  /**
   * How each wait is randomised, so retries of many jobs that failed together
   * spread out: `"equal"` waits between half and all of it, `"full"` between
   * none and all of it.
   * @default "none"
   */
  jitter?: Jitter;
  /** The longest wait, in milliseconds. @default Infinity */
  max?: number;
}

/** Doubles the wait after every failure: `delay`, `2 × delay`, `4 × delay`, … */
export interface ExponentialBackoff {
  /** Always `"exponential"`. */
  type: "exponential";
  /** The first wait in milliseconds. */
  delay: number;
  /**
   * How each wait is randomised: `"equal"` waits between half and all of it,
   * `"full"` between none and all of it.
   * @default "none"
   */
  jitter?: Jitter;
  /** The longest wait, in milliseconds. @default Infinity */
  max?: number;
}

/**
 * Computes the wait itself: receives the number of the retry to come (1 for
 * the first retry) and the error of the attempt that just failed, and returns
 * milliseconds.
 */
export type BackoffFunction = (retry: number, error: unknown) => number;

/** A job's backoff: fixed, exponential or computed. */
export type Backoff = FixedBackoff | ExponentialBackoff | BackoffFunction;

/**
 * Computes the wait before a retry.
 *
 * @param backoff The job's backoff.
 * @param retry The number of the retry to come: 1 after the first failure.
 * @param error The error that failed the attempt.
 * @param random A source of numbers in [0, 1), for jitter.
 * @returns The wait in whole milliseconds, never negative.
 * @throws {RangeError} When a backoff function returns something other than a finite number.
 *
 * @example Exponential backoff with a cap
 * ```ts
 * import { backoffDelay } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const backoff = { type: "exponential", delay: 1_000, max: 5_000 } as const;
 * assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelay(backoff, n, null)), [1_000, 2_000, 4_000, 5_000]);
 * ```
 */
export function backoffDelay(
  backoff: Backoff,
  retry: number,
  error: unknown,
  random: () => number = Math.random,
): number {
  if (typeof backoff === "function") {
    const wait = backoff(retry, error);
    if (typeof wait !== "number" || !Number.isFinite(wait)) {
      throw new RangeError(`Backoff function must return a finite number, got ${String(wait)}`);
    }
    return Math.max(0, Math.round(wait));
  }
  // The shared formula: delay × factor^(retry - 1), capped, then jittered.
  return backoffWait(
    {
      initial: backoff.delay,
      factor: backoff.type === "fixed" ? 1 : 2,
      max: backoff.max,
      jitter: backoff.jitter,
    },
    retry - 1,
    random,
  );
}

/** Throws when a backoff option is malformed. */
export function assertBackoff(backoff: unknown, job: string): asserts backoff is Backoff {
  if (typeof backoff === "function") return;
  const value = backoff as Partial<FixedBackoff> | null;
  if (
    typeof value !== "object" || value === null ||
    (value.type !== "fixed" && value.type !== "exponential")
  ) {
    throw new TypeError(
      `Job ${job}: backoff must be { type: "fixed" | "exponential", delay } or a function`,
    );
  }
  if (typeof value.delay !== "number" || !(value.delay >= 0) || !Number.isFinite(value.delay)) {
    throw new RangeError(`Job ${job}: backoff delay must be a non-negative number of milliseconds`);
  }
  if (value.max !== undefined && !(typeof value.max === "number" && value.max >= 0)) {
    throw new RangeError(`Job ${job}: backoff max must be a non-negative number of milliseconds`);
  }
  if (value.jitter !== undefined && !JITTERS.includes(value.jitter)) {
    throw new TypeError(
      `Job ${job}: backoff jitter must be "none", "full" or "equal", got ${String(value.jitter)}`,
    );
  }
}

const JITTERS: readonly unknown[] = ["none", "full", "equal"];
