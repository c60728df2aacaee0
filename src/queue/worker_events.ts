/**
 * What a worker reports as it runs: completions, retries, dead
 * letters, stalls, progress and backend failures.
 *
 * @module
 */
import type { StoredJob } from "./backend.ts";
import { describeError, type Logger } from "./logger.ts";

/** The events a worker emits and what each carries. */
export interface WorkerEvents {
  /** A job completed. */
  completed: { job: StoredJob; result: unknown; duration: number };
  /** An attempt failed and the job will run again at `retryAt`. */
  retrying: { job: StoredJob; error: unknown; retryAt: number };
  /** A job went to the failed store. */
  failed: { job: StoredJob; error: unknown };
  /**
   * A lease expired or was lost: the job will be served again, or, when
   * `failed` is true, it stalled more than its max stalls and went to the
   * failed store. `failed` is known only to the worker that reclaimed the job;
   * a worker that finds its own lease lost reports `false`.
   */
  stalled: { jobId: string; queue: string; failed: boolean };
  /** A handler reported progress. */
  progress: { job: StoredJob; value: number };
  /** The backend failed; the worker backs off and carries on. */
  error: { error: unknown };
}

/** Listeners by event; a listener that throws is logged and the others still run. */
export class WorkerEventEmitter {
  #logger: Logger;
  #listeners = new Map<keyof WorkerEvents, Set<(event: never) => void>>();

  /** @param logger Where listener exceptions are logged. */
  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof WorkerEvents>(
    event: E,
    listener: (event: WorkerEvents[E]) => void,
  ): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (event: never) => void);
    return () => set.delete(listener as (event: never) => void);
  }

  /** Calls every listener of `event` with `detail`. */
  emit<E extends keyof WorkerEvents>(event: E, detail: WorkerEvents[E]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as (event: WorkerEvents[E]) => void)(detail);
      } catch (error) {
        this.#logger.error(`A ${event} listener threw`, { error: describeError(error) });
      }
    }
  }
}
