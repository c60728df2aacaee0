/**
 * Shared helpers for the queue tests: a controllable clock and quiet workers.
 *
 * @module
 */
import {
  type Clock,
  type Queue,
  silentLogger,
  systemClock,
  Worker,
  type WorkerOptions,
} from "../../src/queue/mod.ts";

/**
 * A clock whose time tests move by hand, with real timers (polls and renewals
 * still run): for cases about run-at times rather than timers.
 */
export class FakeClock implements Clock {
  time = 1_700_000_000_000;
  /** The current time. */
  now = (): number => this.time;
  /** A real timer. */
  setTimeout = systemClock.setTimeout;
  /** Clears a real timer. */
  clearTimeout = systemClock.clearTimeout;
  /** Moves the clock forward. */
  advance(ms: number): void {
    this.time += ms;
  }
}

/** A worker that logs nothing. */
export function quietWorker(queue: Queue, options: WorkerOptions): Worker {
  return new Worker(queue, { logger: silentLogger, ...options });
}

/** Resolves after `ms` of real time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 10 ms until it is true or `timeoutMs` passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}
