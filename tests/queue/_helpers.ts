/**
 * Shared helpers for the queue tests: a controllable clock and quiet workers.
 *
 * @module
 */
import { type Queue, silentLogger, Worker, type WorkerOptions } from "../../src/queue/mod.ts";

/** A clock tests move by hand. */
export class FakeClock {
  time = 1_700_000_000_000;
  /** The current time; pass as `now`. */
  now = (): number => this.time;
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
