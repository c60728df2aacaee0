/**
 * A request body read that can be ended from outside: by the idle timeout
 * when no bytes arrive for a while, or by another request for the same
 * upload asking this one to stop. Either way the read in flight returns
 * `null` (end of body), and `stopped` says why.
 */
import type { Clock } from "../clock.ts";
import type { BodyReader } from "./_body.ts";

/** Why a body was ended early. */
export type StopReason = "idle" | "superseded";

/** Settings of a {@linkcode WatchedBody}. */
export interface WatchOptions {
  /** Runs the idle timer. */
  clock: Clock;
  /** Milliseconds a read may wait for bytes. */
  idleTimeout: number;
  /** Aborted when another request for the same upload asks this one to stop. */
  signal?: AbortSignal;
}

/** A {@linkcode BodyReader} that stops when idle for too long or when asked to. */
export class WatchedBody {
  #reader: BodyReader;
  #options: WatchOptions;
  #stopped: StopReason | null = null;
  #onAbort = () => this.#stop("superseded");

  constructor(reader: BodyReader, options: WatchOptions) {
    this.#reader = reader;
    this.#options = options;
    if (options.signal?.aborted) this.#stopped = "superseded";
    else options.signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Why the body was ended early, or `null` while it was not. */
  get stopped(): StopReason | null {
    return this.#stopped;
  }

  /** The next bytes (valid until the next call), or `null` at the end or once stopped. */
  async read(): Promise<Uint8Array | null> {
    if (this.#stopped) return null;
    const { clock, idleTimeout } = this.#options;
    // Armed only while waiting for bytes: a slow store never counts against the client.
    const timer = clock.setTimeout(() => this.#stop("idle"), idleTimeout, true);
    try {
      const value = await this.#reader.read();
      return this.#stopped ? null : value;
    } finally {
      clock.clearTimeout(timer);
    }
  }

  /** Stops reading and tells the sender. */
  cancel(reason?: unknown): Promise<void> {
    return this.#reader.cancel(reason);
  }

  /** Lets go of the body and its buffer. */
  release(): void {
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    this.#reader.release();
  }

  #stop(reason: StopReason): void {
    if (this.#stopped) return;
    this.#stopped = reason;
    // Ends the read in flight; the stream's own failure, if any, is of no interest now.
    this.#reader.cancel(reason).catch(() => {});
  }
}
