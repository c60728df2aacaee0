/**
 * The size of an incoming WebSocket frame, measured without copying it where
 * the answer is already known.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Whether a text or binary frame is larger than `maxBytes`. */
export function exceedsBytes(data: unknown, maxBytes: number): boolean {
  if (typeof data !== "string") return byteSize(data) > maxBytes;
  // Each UTF-16 unit takes 1 to 3 bytes in UTF-8, so only a text whose length
  // lies between maxBytes / 3 and maxBytes has to be encoded to be measured.
  return data.length > maxBytes ||
    (data.length * 3 > maxBytes && encoder.encode(data).byteLength > maxBytes);
}

function byteSize(data: unknown): number {
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  if (data instanceof Blob) return data.size;
  return 0;
}
