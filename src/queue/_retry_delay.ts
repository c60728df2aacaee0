/**
 * The back-off a worker applies when its backend fails: start short, double
 * on every failure, never wait longer than the idle poll interval.
 *
 * @module
 */
import type { Clock } from "../clock.ts";

/** The first wait after a backend failure, in milliseconds. */
const FIRST_DELAY_MS = 100;

/** A doubling delay, capped, that starts over after a success. */
export class RetryDelay {
  #max: number;
  #current = FIRST_DELAY_MS;

  /** @param max The longest delay, in milliseconds. */
  constructor(max: number) {
    this.#max = max;
  }

  /** The delay to wait now; the next one is twice as long, up to the cap. */
  next(): number {
    const delay = this.#current;
    this.#current = Math.min(this.#current * 2, this.#max);
    return delay;
  }

  /** Starts over from the first delay. */
  reset(): void {
    this.#current = FIRST_DELAY_MS;
  }
}

/** Resolves after `ms` milliseconds of `clock`'s time. */
export function pause(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
