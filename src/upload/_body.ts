/**
 * Reads request bodies into reused buffers, so a large upload does not leave
 * a trail of garbage behind it, and a slow one does not sit on a large buffer.
 *
 * Why reuse: a default reader hands out a freshly allocated chunk per read
 * (64 KiB on Deno). Those are off-heap ArrayBuffers that V8 frees only when
 * it gets round to collecting their small on-heap wrappers, and it lets tens
 * of MiB of them pile up first: measured on Deno 2.9, a server that merely
 * discards a 1 GiB body grew by 39–58 MiB of RSS that way, and 9–10 MiB with
 * a BYOB reader filling one reused buffer (bench/upload.ts has the figures for
 * Kiln's server). Streams that are not byte streams (Node's and Bun's request
 * bodies, for instance) fall back to the default reader.
 *
 * Why two sizes: a BYOB read holds its buffer until bytes arrive, however
 * long that takes, so a client that trickles or goes silent would keep a
 * large buffer for as long as it likes (100 trickling clients held 100 MiB).
 * Each read therefore starts in a small buffer, and only a read that filled
 * it (bytes are flowing) lets the next read use a large one, from a pool with
 * a hard limit; a read that comes back short hands the large buffer back.
 */

/** Bytes per large buffer, used while bytes flow: few writes per chunk (1 MiB measured best on loopback). */
export const BODY_BUFFER_SIZE = 1 << 20;

/** Bytes per small buffer, used while waiting for bytes: what Deno's body stream reads at a time. */
export const WAIT_BUFFER_SIZE = 64 << 10;

/** Options for {@linkcode BufferPool}. */
export interface BufferPoolOptions {
  /** Idle buffers kept for the next request. @default 4 */
  keep?: number;
  /** Buffers lent out at once; past it `take()` returns `null`. @default Infinity */
  limit?: number;
}

/**
 * Buffers of one size, lent to reads and given back. Memory is at most the
 * buffers lent (never more than `limit`) plus `keep` idle ones.
 */
export class BufferPool {
  #idle: ArrayBuffer[] = [];
  #size: number;
  #keep: number;
  #limit: number;
  #lent = 0;

  constructor(size = BODY_BUFFER_SIZE, options: BufferPoolOptions = {}) {
    this.#size = size;
    this.#keep = options.keep ?? 4;
    this.#limit = options.limit ?? Infinity;
  }

  /** The size of every buffer. */
  get size(): number {
    return this.#size;
  }

  /** Buffers lent and not yet given back. */
  get lent(): number {
    return this.#lent;
  }

  /** Lends a buffer, or returns `null` when `limit` are already lent. */
  take(): ArrayBuffer | null {
    if (this.#lent >= this.#limit) return null;
    this.#lent++;
    return this.#idle.pop() ?? new ArrayBuffer(this.#size);
  }

  /** Gives back a lent buffer. */
  give(buffer: ArrayBuffer): void {
    this.#lent--;
    if (buffer.byteLength === this.#size && this.#idle.length < this.#keep) {
      this.#idle.push(buffer);
    }
  }

  /** Counts a lent buffer as gone: a cancelled read keeps the buffer it was given. */
  forfeit(): void {
    this.#lent--;
  }
}

/** The two pools a body reader draws from. */
export interface BodyBuffers {
  /** Buffers a read waits in; no limit, one per body in flight. */
  small: BufferPool;
  /** Buffers for reads while bytes flow; limited, so slow clients cannot pile them up. */
  large: BufferPool;
}

/** Hands out a body's bytes one view at a time. */
export interface BodyReader {
  /**
   * The next bytes, or `null` at the end. The view is only valid until the
   * next call: its buffer is refilled then, so copy what must be kept.
   */
  read(): Promise<Uint8Array | null>;
  /** Stops reading and tells the sender; a pending `read()` returns `null`. */
  cancel(reason?: unknown): Promise<void>;
  /** Lets go of the stream and returns the buffer to its pool. */
  release(): void;
}

/** A reader over `body` that refills pooled buffers when the stream allows it. */
export function readBody(body: ReadableStream<Uint8Array>, buffers: BodyBuffers): BodyReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream: its chunks are the stream's own, and only the default reader gets them.
    return defaultReader(body.getReader());
  }
  // The buffer between reads (the last view lies in it), and the pool it came from.
  let held: { pool: BufferPool; buffer: ArrayBuffer } | null = null;
  // Whether bytes are flowing, so the next read may use a large buffer.
  let flowing = false;

  const lend = (): { pool: BufferPool; buffer: ArrayBuffer } => {
    if (held?.pool === buffers.large && !flowing) {
      buffers.large.give(held.buffer);
      held = null;
    }
    if (flowing && held?.pool !== buffers.large) {
      const large = buffers.large.take();
      if (large) {
        if (held) held.pool.give(held.buffer);
        held = { pool: buffers.large, buffer: large };
      }
    }
    const lent = held ?? { pool: buffers.small, buffer: buffers.small.take()! };
    held = null;
    return lent;
  };

  return {
    async read() {
      for (;;) {
        const lent = lend();
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await byob.read(new Uint8Array(lent.buffer));
        } catch (error) {
          lent.pool.forfeit();
          throw error;
        }
        const { done, value } = result;
        // A read ended by cancel() hands back no view: the buffer went with it.
        if (value) held = { pool: lent.pool, buffer: value.buffer as ArrayBuffer };
        else lent.pool.forfeit();
        if (done) return null;
        flowing = value!.byteLength >= buffers.small.size;
        if (value!.byteLength > 0) return value!;
      }
    },
    cancel: (reason) => byob.cancel(reason),
    release() {
      byob.releaseLock();
      if (held) held.pool.give(held.buffer);
      held = null;
    },
  };
}

function defaultReader(reader: ReadableStreamDefaultReader<Uint8Array>): BodyReader {
  return {
    async read() {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return null;
        if (value.byteLength > 0) return value;
      }
    },
    cancel: (reason) => reader.cancel(reason),
    release: () => reader.releaseLock(),
  };
}
