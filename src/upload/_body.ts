/**
 * Reads request bodies into reused buffers, so a large upload does not leave
 * a trail of garbage behind it.
 *
 * Why: a default reader hands out a freshly allocated chunk per read (64 KiB
 * on Deno). Those are off-heap ArrayBuffers that V8 frees only when it gets
 * round to collecting their small on-heap wrappers, and it lets tens of MiB of
 * them pile up first: measured on Deno 2.9, a server that merely discards a
 * 1 GiB body grew by 39–58 MiB of RSS that way, and 9–10 MiB with a BYOB
 * reader filling one reused buffer (bench/upload.ts has the figures for
 * Kiln's server). Streams that are not byte streams (Node's and Bun's request
 * bodies, for instance) fall back to the default reader.
 */

/** Bytes per reused buffer: big enough for few writes per chunk (1 MiB measured best on loopback). */
export const BODY_BUFFER_SIZE = 1 << 20;

/**
 * Idle buffers kept for the next request. Only idle ones are kept, so memory
 * is at most one buffer per request in flight plus `keep`.
 */
export class BufferPool {
  #idle: ArrayBuffer[] = [];
  #size: number;
  #keep: number;

  constructor(size = BODY_BUFFER_SIZE, keep = 4) {
    this.#size = size;
    this.#keep = keep;
  }

  take(): ArrayBuffer {
    return this.#idle.pop() ?? new ArrayBuffer(this.#size);
  }

  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength === this.#size && this.#idle.length < this.#keep) {
      this.#idle.push(buffer);
    }
  }
}

/** Hands out a body's bytes one view at a time. */
export interface BodyReader {
  /**
   * The next bytes, or `null` at the end. The view is only valid until the
   * next call: its buffer is refilled then, so copy what must be kept.
   */
  read(): Promise<Uint8Array | null>;
  /** Stops reading and tells the sender. */
  cancel(reason?: unknown): Promise<void>;
  /** Lets go of the stream and returns the buffer to the pool. */
  release(): void;
}

/** A reader over `body` that refills one pooled buffer when the stream allows it. */
export function readBody(body: ReadableStream<Uint8Array>, pool: BufferPool): BodyReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream: its chunks are the stream's own, and only the default reader gets them.
    return defaultReader(body.getReader());
  }
  // `null` while a read holds the buffer (it is transferred into the stream and back).
  let buffer: ArrayBuffer | null = pool.take();
  return {
    async read() {
      for (;;) {
        const lent = buffer!;
        buffer = null;
        const { done, value } = await byob.read(new Uint8Array(lent));
        if (value) buffer = value.buffer as ArrayBuffer;
        if (done) return null;
        if (value!.byteLength > 0) return value!;
      }
    },
    cancel: (reason) => byob.cancel(reason),
    release() {
      byob.releaseLock();
      if (buffer) pool.give(buffer);
      buffer = null;
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
