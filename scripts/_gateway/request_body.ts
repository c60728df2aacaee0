/**
 * Reads a request body with a size cap and a deadline. A declared Content-Length over the
 * cap is refused before reading; a body without one (chunked) is counted while it
 * streams, so a client cannot push more than the cap into the gateway's memory either
 * way. A client that stalls or trickles its body (slowloris) is answered 408 once the
 * deadline passes, and one that hangs up mid-body is an expected end (400), not a crash.
 *
 * @module
 */

import { HttpError } from "./command_rules.ts";

/** How much of a request body the gateway takes, and for how long it waits for it. */
export interface BodyLimits {
  /** The largest body accepted, in bytes. */
  maxBytes: number;
  /** How long the whole body may take to arrive, in milliseconds. */
  timeout: number;
}

const utf8 = new TextDecoder();

/**
 * @param request the incoming request
 * @param limits the size cap and deadline
 * @returns the body as text (empty when there is none)
 * @throws {HttpError} 413 when the body is larger than `limits.maxBytes`, 408 when it
 *   takes longer than `limits.timeout`, 400 when the client hangs up mid-body
 */
export async function readBodyText(request: Request, limits: BodyLimits): Promise<string> {
  const declared = request.headers.get("content-length");
  const length = declared === null ? NaN : Number(declared);
  if (length > limits.maxBytes) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge(limits.maxBytes);
  }
  const body = request.body;
  if (body === null) return "";
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reader.cancel().catch(() => {});
      reject(
        new HttpError(408, `Request body did not arrive within ${limits.timeout} ms`),
      );
    }, limits.timeout);
  });
  try {
    return await Promise.race([readAll(reader, limits.maxBytes), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readAll(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  maxBytes: number,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    let step: ReadableStreamReadResult<Uint8Array>;
    try {
      step = await reader.read();
    } catch {
      // The client hung up (or the deadline cancelled the read): nobody reads the answer.
      throw new HttpError(400, "Request body was cut off");
    }
    if (step.done) break;
    total += step.value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(step.value);
  }
  if (chunks.length === 1) return utf8.decode(chunks[0]);
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
