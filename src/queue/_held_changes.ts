/**
 * Publishes the job state changes a take held back (`publish()` in
 * `lua/includes/jobs.lua`) when no later take of this backend carries them.
 *
 * A take that comes right after a published message holds its changes for the next
 * call, which usually follows within milliseconds. It need not: a worker whose slots
 * are all taken by long jobs sends nothing until one ends, and a live view would wait
 * for a change it should already show. So after a take that held changes, if no other
 * take on that queue has left this backend within {@linkcode FLUSH_AFTER_MS}, the
 * backend publishes them itself (one small script call). A process that dies first
 * leaves them to the next call on the queue or to a watcher's renewal.
 *
 * @module
 */
import type { Clock } from "../clock.ts";

/**
 * How long after a take that held changes the backend publishes them unless another
 * take left: a little over the scripts' 10 ms gathering window (GATHER_MS).
 */
export const FLUSH_AFTER_MS = 15;

/** Tracks, per queue, the takes sent and the last that held changes back. */
export class HeldChanges {
  #clock: Clock;
  #flush: (queue: string) => Promise<unknown>;
  #taken = 0;
  #lastSent = new Map<string, number>();
  #lastHeld = new Map<string, number>();
  /** Queues whose publish is timed: at most one wait per queue. */
  #waiting = new Set<string>();

  /**
   * @param clock times the wait
   * @param flush publishes a queue's held changes
   */
  constructor(clock: Clock, flush: (queue: string) => Promise<unknown>) {
    this.#clock = clock;
    this.#flush = flush;
  }

  /** Notes a take on its way to `queue`; answers its number for {@linkcode held}. */
  sending(queue: string): number {
    const take = ++this.#taken;
    this.#lastSent.set(queue, take);
    return take;
  }

  /** Take number `take` answered that it held its changes back. */
  held(queue: string, take: number): void {
    // The highest number: two takes on their way at once may answer in either order,
    // and the later one's answer must not make the earlier look like the last.
    this.#lastHeld.set(queue, Math.max(take, this.#lastHeld.get(queue) ?? 0));
    if (this.#waiting.has(queue)) return;
    this.#waiting.add(queue);
    this.#clock.setTimeout(
      () => {
        this.#waiting.delete(queue);
        // A take sent since carries them, or answers that it held them in turn.
        if (this.#lastSent.get(queue) !== this.#lastHeld.get(queue)) return;
        // Failing (an outage), they wait for the next call or a watcher's renewal.
        this.#flush(queue).catch(() => {});
      },
      FLUSH_AFTER_MS,
      true,
    );
  }
}
