/**
 * Write batching for Node's `ws`, where one write per frame per client
 * dominates a broadcast's cost.
 *
 * @module
 */

/** A Node stream that can hold writes back and send them in one system call. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

// Node's process.nextTick, read from the global (src imports nothing runtime-specific):
// it runs once the current burst of promise jobs is done, so writes made by many
// broadcasts in a row go out together.
const nextTick = (globalThis as { process?: { nextTick?: (task: () => void) => void } })
  .process?.nextTick;

/**
 * Holds one socket's writes until the current burst of work is done, then
 * sends them in one go (several times the throughput of bursts; a lone
 * broadcast goes out after the same tick, without waiting for a timer).
 */
export class WriteBatch {
  static #holding: WriteBatch[] = [];
  #stream: Corkable;
  #onFlushed: () => void;
  #held = false;

  /**
   * The batch for a socket, or `null` where writes cannot be batched (anything
   * but Node's `ws`).
   *
   * @param raw The runtime's socket (`WSContext.raw`).
   * @param onFlushed Called after each flush, once the held writes are handed to the stream.
   */
  static for(raw: unknown, onFlushed: () => void): WriteBatch | null {
    const stream = nextTick ? corkableStream(raw) : null;
    return stream ? new WriteBatch(stream, onFlushed) : null;
  }

  constructor(stream: Corkable, onFlushed: () => void) {
    this.#stream = stream;
    this.#onFlushed = onFlushed;
  }

  /** Whether writes are being held for the end of the tick. */
  get held(): boolean {
    return this.#held;
  }

  /** Holds this socket's writes from now until the end of the tick. */
  hold(): void {
    if (this.#held) return;
    this.#held = true;
    this.#stream.cork();
    if (WriteBatch.#holding.push(this) === 1) nextTick!(WriteBatch.#flushAll);
  }

  static #flushAll = (): void => {
    const batches = WriteBatch.#holding;
    WriteBatch.#holding = [];
    for (const batch of batches) {
      batch.#held = false;
      try {
        batch.#stream.uncork();
      } catch {
        // The stream was destroyed; its close event ends the session.
      }
      batch.#onFlushed();
    }
  };
}

/** The TCP stream under a Node `ws` socket (its `_socket`), if that is what `raw` is. */
function corkableStream(raw: unknown): Corkable | null {
  if (typeof raw !== "object" || raw === null) return null;
  const stream = (raw as { _socket?: Partial<Corkable> })._socket;
  return typeof stream?.cork === "function" && typeof stream.uncork === "function"
    ? stream as Corkable
    : null;
}
