/**
 * A timer for an absolute moment that may be days away.
 *
 * @module
 */
import type { Clock } from "../clock.ts";

// setTimeout overflows past 2^31-1 ms (about 24.8 days): cap and re-arm, as croner does.
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Calls `callback` once the clock reaches `at`; returns a function that cancels it. */
export function scheduleAt(clock: Clock, at: number, callback: () => void): () => void {
  let handle: unknown;
  let cancelled = false;
  const arm = (): void => {
    const delay = at - clock.now();
    if (delay <= 0) {
      callback();
      return;
    }
    handle = clock.setTimeout(() => {
      if (!cancelled) arm();
    }, Math.min(delay, MAX_DELAY_MS));
  };
  arm();
  return () => {
    cancelled = true;
    clock.clearTimeout(handle);
  };
}
