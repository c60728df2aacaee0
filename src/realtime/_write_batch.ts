/**
 * Write batching for Node's `ws`, where one write per frame per client
 * dominates a broadcast's cost.
 *
 * @module
 */

import { type Corkable, corkableStream, nextTick } from "./adapters/node.ts";

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
