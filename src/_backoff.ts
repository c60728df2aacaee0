/**
 * The one back-off formula every Kiln module uses: job retries, worker pauses
 * after a backend failure, fan-out resubscribes, client reconnects and the
 * Redis adapter's retries all wait `initial × factor^attempt`, capped, with an
 * optional jitter so that many waiters that failed together do not come back
 * together.
 *
 * @module
 */

/** How a wait is randomised. */
export type Jitter =
  /** The computed wait, exactly. */
  | "none"
  /** Uniform between zero and the wait ("full jitter"): spreads waiters furthest. */
  | "full"
  /** Uniform between half the wait and the wait: spreads waiters, never comes back at once. */
  | "equal";

/** The shape of a back-off. */
export interface BackoffShape {
  /** The first wait, in milliseconds. */
  initial: number;
  /** What each further attempt multiplies the wait by; `1` waits the same every time. @default 2 */
  factor?: number;
  /** The longest wait, in milliseconds, before jitter. @default Infinity */
  max?: number;
  /** How the wait is randomised. @default "none" */
  jitter?: Jitter;
}

/**
 * The wait before retry number `attempt` (0 for the first retry).
 *
 * @param shape The back-off's first wait, growth, cap and jitter.
 * @param attempt How many retries came before this one.
 * @param random A source of numbers in [0, 1), injectable for tests.
 * @returns A whole number of milliseconds, at least 0.
 */
export function backoff(shape: BackoffShape, attempt: number, random = Math.random): number {
  const factor = shape.factor ?? 2;
  // A huge attempt makes factor^attempt Infinity, and 0 × Infinity is NaN: a zero wait stays zero.
  const grown = shape.initial === 0 ? 0 : shape.initial * factor ** Math.max(0, attempt);
  const wait = Math.min(grown, shape.max ?? Infinity);
  if (!Number.isFinite(wait)) return Number.MAX_SAFE_INTEGER;
  switch (shape.jitter ?? "none") {
    case "full":
      return Math.round(random() * wait);
    case "equal":
      return Math.round(wait / 2 + random() * (wait / 2));
    default:
      return Math.round(wait);
  }
}

/** A back-off that counts its own attempts and starts over after a success. */
export class Backoff {
  #shape: BackoffShape;
  #random: () => number;
  #attempt = 0;

  /**
   * @param shape The back-off's first wait, growth, cap and jitter.
   * @param random A source of numbers in [0, 1), injectable for tests.
   */
  constructor(shape: BackoffShape, random: () => number = Math.random) {
    this.#shape = shape;
    this.#random = random;
  }

  /** The wait before the next attempt; each call counts one more attempt. */
  next(): number {
    return backoff(this.#shape, this.#attempt++, this.#random);
  }

  /** Starts over from the first wait (call after a success). */
  reset(): void {
    this.#attempt = 0;
  }
}
