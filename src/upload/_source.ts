/** What the client uploads: a Blob (sliced, never copied) or a stream (one chunk buffered for retries). */

/** One PATCH body. */
export interface Chunk {
  body: Blob | Uint8Array<ArrayBuffer>;
  size: number;
  /** The last bytes of the source: a stream then declares its length. */
  final: boolean;
}

/** A source of bytes the client can re-read from any offset at or after the current chunk. */
export interface Source {
  /** The total size, or `null` for a stream whose end is not known yet. */
  readonly size: number | null;
  read(offset: number): Promise<Chunk>;
  close(): Promise<void>;
}

/** Slices a Blob; every offset can be read again. */
export function blobSource(blob: Blob, chunkSize: number): Source {
  return {
    size: blob.size,
    read(offset) {
      const end = Math.min(blob.size, offset + chunkSize);
      return Promise.resolve({
        body: blob.slice(offset, end),
        size: end - offset,
        final: end === blob.size,
      });
    },
    close: () => Promise.resolve(),
  };
}

/**
 * Reads a stream one chunk at a time, keeping only the current chunk so a
 * failed PATCH can be resent; offsets before it cannot be read again.
 */
export function streamSource(stream: ReadableStream<Uint8Array>, chunkSize: number): Source {
  const reader = stream.getReader();
  let bufferStart = 0;
  let buffer = new Uint8Array(0);
  let leftover: Uint8Array | null = null;
  let done = false;

  async function nextBytes(): Promise<Uint8Array | null> {
    if (leftover) {
      const bytes = leftover;
      leftover = null;
      return bytes;
    }
    if (done) return null;
    const result = await reader.read();
    if (result.done) {
      done = true;
      return null;
    }
    return result.value;
  }

  async function fill(): Promise<void> {
    bufferStart += buffer.byteLength;
    const parts: Uint8Array[] = [];
    let size = 0;
    while (size < chunkSize) {
      const bytes = await nextBytes();
      if (!bytes) break;
      const take = Math.min(bytes.byteLength, chunkSize - size);
      parts.push(bytes.subarray(0, take));
      if (take < bytes.byteLength) leftover = bytes.subarray(take);
      size += take;
    }
    buffer = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      buffer.set(part, at);
      at += part.byteLength;
    }
    if (!leftover && !done) {
      // Peek, so the last chunk knows it is last and can declare the length.
      leftover = await nextBytes();
    }
  }

  return {
    size: null,
    async read(offset) {
      if (offset < bufferStart) {
        throw new RangeError(
          `A stream cannot be read again from ${offset}; it is at ${bufferStart}`,
        );
      }
      // Skip what the server already has (resuming a stream re-reads it from the start).
      while (offset >= bufferStart + buffer.byteLength) {
        const before = bufferStart + buffer.byteLength;
        await fill();
        if (buffer.byteLength === 0 && before === bufferStart) break;
      }
      const body = buffer.subarray(offset - bufferStart);
      return { body: body.slice(), size: body.byteLength, final: done && leftover === null };
    },
    async close() {
      await reader.cancel().catch(() => {});
    },
  };
}
