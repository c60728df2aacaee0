/**
 * The clock the realtime module reads time from and sets timers on, so tests
 * can move time forward instead of waiting for it.
 *
 * @module
 */

/** A source of time and timers. */
export interface Clock {
  /** The current time, in milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `callback` after `ms` milliseconds; returns a handle for {@linkcode Clock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer set with {@linkcode Clock.setTimeout}. */
  clearTimeout(handle: unknown): void;
}

/** The real clock: `Date.now()` and the global timers (the default everywhere). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};
