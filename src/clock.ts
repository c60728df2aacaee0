/**
 * Where Kiln's scheduler and realtime hub read the time and set their timers,
 * injectable so tests move time forward instead of waiting for it.
 *
 * @module
 */
import { unrefTimer } from "./_unref_timer.ts";

/**
 * A source of time and timers (for a `Scheduler`, a `Hub` or a `RedisFanout`).
 * Replace it in tests to drive time by hand.
 */
export interface Clock {
  /** The current time in milliseconds since the epoch. */
  now(): number;
  /**
   * Calls `callback` once after `ms` milliseconds.
   *
   * @param callback What to call.
   * @param ms The delay, in milliseconds.
   * @param unref Whether the timer should let the process exit while it waits.
   * @returns A handle for {@linkcode Clock.clearTimeout}.
   */
  setTimeout(callback: () => void, ms: number, unref?: boolean): unknown;
  /** Cancels a timer set with {@linkcode Clock.setTimeout}. */
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock: `Date.now()` and the runtime's timers, unref'd on request
 * where the runtime supports it (Deno, Node, Bun).
 *
 * @example Reading the time
 * ```ts
 * import { systemClock } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * assert.ok(Math.abs(systemClock.now() - Date.now()) < 1_000);
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms, unref = false) {
    const handle = setTimeout(callback, ms);
    if (unref) unrefTimer(handle);
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as number);
  },
};
