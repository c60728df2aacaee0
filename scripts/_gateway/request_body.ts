/**
 * Reads a request body with a size cap. A declared Content-Length over the cap is
 * refused before reading; a body without one (chunked) is counted while it streams, so a
 * client cannot push more than the cap into the gateway's memory either way.
 *
 * @module
 */

import { HttpError } from "./command_rules.ts";

const SMALL_BODY_BYTES = 64 * 1024;
const utf8 = new TextDecoder();

/**
 * @param request the incoming request
 * @param maxBytes the largest body accepted
 * @returns the body as text (empty when there is none)
 * @throws {HttpError} 413 when the body is larger than `maxBytes`
 */
export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const declared = request.headers.get("content-length");
  const length = declared === null ? NaN : Number(declared);
  if (length > maxBytes) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge(maxBytes);
  }
  const body = request.body;
  if (body === null) return "";
  // The HTTP layer stops a body at its declared length, so small declared bodies are safe
  // to read in one call, which is the fast path for ordinary commands.
  if (length <= SMALL_BODY_BYTES) return await request.text();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return utf8.decode(bytes);
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `Request body is larger than ${maxBytes} bytes`);
}
