/**
 * The upload locks of one tus server: the state's per-upload lock, plus a
 * registry of the requests in this process that hold one, so that a new
 * request for the same upload can ask a holder whose client went quiet to
 * stop, rather than answering 423 until that request ends by itself (as
 * `lockDrainTimeout` does in @tus/server).
 *
 * A holder in another process (with shared state such as RedisUploadState)
 * is not asked: the new request gets 423 at once, and the holder's own idle
 * timeout ends its request (or, if its process died, the lock's TTL lapses).
 */
import type { Clock } from "../clock.ts";
import type { Config } from "./_config.ts";
import type { UploadLock, UploadState } from "./state.ts";

/** A held lock that another request may ask to stop. */
export interface HeldLock {
  /** Aborted when another request for the same upload asks this one to stop. */
  readonly signal: AbortSignal;
  /** Releases the lock. Safe to call twice; never rejects (a lock that cannot be released lapses). */
  release(): Promise<void>;
}

interface Holder {
  controller: AbortController;
  released: Promise<void>;
}

/** Per-upload locks whose holders in this process can be asked to stop. */
export class UploadLocks {
  #state: UploadState;
  #clock: Clock;
  #drainTimeout: number;
  #holders = new Map<string, Holder>();

  constructor(state: UploadState, clock: Clock, drainTimeout: number) {
    this.#state = state;
    this.#clock = clock;
    this.#drainTimeout = drainTimeout;
  }

  /** Whether a request in this process holds the upload's lock (and would stop for a new one). */
  heldHere(id: string): boolean {
    return this.#holders.has(id);
  }

  /**
   * Takes the upload's lock. When a request in this process holds it, asks
   * that request to stop and waits up to the drain timeout for it to let go.
   *
   * @returns The lock, or `null` when it is still held.
   */
  async acquire(id: string): Promise<HeldLock | null> {
    let lock = await this.#state.lock(id);
    if (!lock) {
      const holder = this.#holders.get(id);
      // Held elsewhere (another instance, the cleanup sweep): not ours to stop.
      if (!holder) return null;
      holder.controller.abort();
      if (await this.#drained(holder)) lock = await this.#state.lock(id);
      // Another waiter got it first: this request does not stop that one in turn.
      if (!lock) return null;
    }
    return this.#hold(id, lock);
  }

  #hold(id: string, lock: UploadLock): HeldLock {
    let resolve!: () => void;
    const holder: Holder = {
      controller: new AbortController(),
      released: new Promise<void>((done) => (resolve = done)),
    };
    this.#holders.set(id, holder);
    let released = false;
    return {
      signal: holder.controller.signal,
      release: async () => {
        if (released) return;
        released = true;
        try {
          await lock.release();
        } catch {
          // Redis went away mid-request: the lock lapses by its TTL, and the request's own
          // answer (its bytes may be saved) matters more than a failed release.
        } finally {
          // Kept registered until the lock is free, so a request arriving meanwhile waits too.
          if (this.#holders.get(id) === holder) this.#holders.delete(id);
          resolve();
        }
      },
    };
  }

  /** Whether the holder let go within the drain timeout. */
  async #drained(holder: Holder): Promise<boolean> {
    if (this.#drainTimeout === 0) return false;
    let timer: unknown;
    const timedOut = new Promise<false>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve(false), this.#drainTimeout, true);
    });
    try {
      return await Promise.race([holder.released.then(() => true), timedOut]);
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }
}

const registries = new WeakMap<Config, UploadLocks>();

/** The locks of the server `config` belongs to (one registry per `uploads()` server). */
export function locksOf(config: Config): UploadLocks {
  let locks = registries.get(config);
  if (!locks) {
    locks = new UploadLocks(config.state, config.clock, config.lockDrainTimeout);
    registries.set(config, locks);
  }
  return locks;
}
