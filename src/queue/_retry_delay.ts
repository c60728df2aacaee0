/**
 * The back-off a worker applies when its backend fails: start short, double
 * on every failure, never wait longer than the idle poll interval. The
 * formula is the shared one in `src/_backoff.ts`.
 *
 * @module
 */
import { Backoff } from "../_backoff.ts";
import type { Clock } from "../clock.ts";

/** The first wait after a backend failure, in milliseconds. */
const FIRST_DELAY = 100;

/**
 * A doubling delay from 100 ms, capped at `max`, that starts over after a
 * success (`reset()`). No jitter: one worker's own retries need no spreading,
 * and its polls are already spread by their own timing.
 *
 * @param max The longest delay, in milliseconds.
 */
export function retryDelay(max: number): Backoff {
  return new Backoff({ initial: FIRST_DELAY, factor: 2, max, jitter: "none" });
}

/** Resolves after `ms` milliseconds of `clock`'s time. */
export function pause(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
