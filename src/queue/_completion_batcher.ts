/**
 * Completions are reported in batches, one round trip per queue, so a busy
 * worker does not pay a request per job.
 *
 * @module
 */
import type { Completion, StoredJob } from "./backend.ts";
import type { WorkerEventEmitter } from "./worker_events.ts";
import type { Clock } from "../clock.ts";
import { describeError, type Logger } from "./logger.ts";
import { pause, retryDelay } from "./_retry_delay.ts";

/** The most completions sent in one round trip. */
const MAX_BATCH = 1_000;
/** The most promise turns a report waits for jobs of its takes that are finishing. */
const SETTLE_TURNS = 64;

/** A completed job waiting to be reported, with what its `completed` event carries. */
export interface PendingCompletion extends Completion {
  readonly job: StoredJob;
  readonly result: unknown;
  readonly duration: number;
}

/** What a {@linkcode CompletionBatcher} works with. */
export interface CompletionBatcherOptions {
  /** Reports one batch of one queue's completions (and may reserve more jobs on the way). */
  readonly send: (queue: string, batch: readonly PendingCompletion[]) => Promise<unknown>;
  readonly events: WorkerEventEmitter;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The cap on the wait between attempts. */
  readonly maxDelay: number;
  /** Whether the worker has given up on reports (at the end of a stop's grace period). */
  readonly gaveUp: () => boolean;
  /** Called after every flush, when the worker may have room to reserve again. */
  readonly flushed: () => void;
  /**
   * How many flushes of one queue may be under way at once, asked each time one
   * could start. A worker that keeps two round trips going (two halves of its slots
   * taking turns) lets each half's report go without waiting for the other's, and
   * reserve the half's next jobs on the way; its own reservation on the way takes
   * one of the two. Call {@linkcode CompletionBatcher.resume} when it may have grown.
   * @default () => 1
   */
  readonly flushes?: () => number;
}

/** Collects completions by queue and flushes each queue's batch in the background. */
export class CompletionBatcher {
  #options: CompletionBatcherOptions;
  #pending = new Map<string, PendingCompletion[]>();
  /** How many flushes of each queue are under way (queues with none are absent). */
  #flushing = new Map<string, number>();
  /** The flushes under way, for flushAll() to wait on. */
  #underWay = new Set<Promise<void>>();
  /** Running jobs whose outcome is not known yet, by the lease token of their take. */
  #undecided = new Map<string, number>();

  constructor(options: CompletionBatcherOptions) {
    this.#options = options;
  }

  /** Whether completions are waiting or being reported. */
  get busy(): boolean {
    return this.#flushing.size > 0 || this.#hasPending();
  }

  /**
   * Registers a running job that may complete soon, so a flush of completions from
   * the same take (`token`) waits for it; returns the function to call once its
   * outcome is known.
   */
  hold(token: string): () => void {
    this.#undecided.set(token, (this.#undecided.get(token) ?? 0) + 1);
    let decided = false;
    return () => {
      if (decided) return;
      decided = true;
      const left = this.#undecided.get(token)! - 1;
      if (left > 0) this.#undecided.set(token, left);
      else this.#undecided.delete(token);
    };
  }

  /** Queues a completion and makes sure its queue's flush is on its way. */
  add(completion: PendingCompletion): void {
    const queue = completion.job.queue;
    let list = this.#pending.get(queue);
    if (!list) {
      list = [];
      this.#pending.set(queue, list);
    }
    list.push(completion);
    this.#schedule(queue);
  }

  /** Whether completions of `queue` wait that no flush has taken yet. */
  pending(queue: string): boolean {
    return (this.#pending.get(queue)?.length ?? 0) > 0;
  }

  /** How many flushes of `queue` are under way. */
  flushing(queue: string): number {
    return this.#flushing.get(queue) ?? 0;
  }

  /** Starts the flushes that pending completions wait for, where there is room now. */
  resume(): void {
    for (const [queue, list] of this.#pending) if (list.length > 0) this.#schedule(queue);
  }

  /** Reports every pending completion, until none is left or the worker gives up. */
  async flushAll(): Promise<void> {
    while (this.busy) {
      for (const queue of this.#pending.keys()) this.#schedule(queue, true);
      await Promise.all(this.#underWay);
      if (this.#options.gaveUp()) break;
    }
  }

  /** Whether a pending completion of `queue` came with jobs whose outcome is not known yet. */
  #awaitsOthers(queue: string): boolean {
    if (this.#undecided.size === 0) return false;
    for (const completion of this.#pending.get(queue) ?? []) {
      if (this.#undecided.has(completion.token)) return true;
    }
    return false;
  }

  #hasPending(): boolean {
    for (const list of this.#pending.values()) if (list.length > 0) return true;
    return false;
  }

  /** Starts a flush of `queue` if there is room (`anyway`: if none is under way). */
  #schedule(queue: string, anyway = false): void {
    const under = this.#flushing.get(queue) ?? 0;
    if (under >= (anyway ? 1 : (this.#options.flushes?.() ?? 1))) return;
    this.#flushing.set(queue, under + 1);
    const flush = this.#flush(queue);
    this.#underWay.add(flush);
    const forget = () => void this.#underWay.delete(flush);
    flush.then(forget, forget);
  }

  async #flush(queue: string): Promise<void> {
    const { events, logger } = this.#options;
    // Let the other jobs of the same takes that are finishing now join the batch: a
    // take's instant jobs end a few promise turns apart (5 to 8 with middleware and
    // logs, measured), so up to SETTLE_TURNS turns, no timer. Only those of the same
    // takes, and no longer: a slot whose job ended stays empty until its report leaves
    // with its reservation, and a timer would keep it so while other jobs run on.
    for (let turn = 0; turn < SETTLE_TURNS && this.#awaitsOthers(queue); turn++) await null;
    const delay = retryDelay(this.#options.maxDelay);
    try {
      for (;;) {
        const list = this.#pending.get(queue);
        if (!list || list.length === 0) break;
        const batch = list.splice(0, MAX_BATCH);
        // A batch that fails is retried by this flush, after its back-off: put back in
        // the list, another flush under way would send it again at once.
        for (;;) {
          try {
            await this.#options.send(queue, batch);
            delay.reset();
            break;
          } catch (error) {
            events.emit("error", { error });
            logger.warn("Could not report completed jobs; retrying", {
              error: describeError(error),
            });
            if (this.#options.gaveUp()) {
              list.unshift(...batch);
              return;
            }
            await pause(this.#options.clock, delay.next());
          }
        }
      }
    } finally {
      // Forgotten as the loop above finds nothing left, in the same turn: a completion
      // added a turn later must not find this flush still counted, and wait for it.
      const under = this.#flushing.get(queue)! - 1;
      if (under === 0) this.#flushing.delete(queue);
      else this.#flushing.set(queue, under);
      this.#options.flushed();
    }
  }
}
