/** PATCH: appending bytes to an upload at the offset the client states (core, checksum). */
import { parseChecksum, parseInteger } from "./_headers.ts";
import { isOffsetStream, OFFSET_CONTENT_TYPE } from "./_protocol.ts";
import { expiresHeader, missingReply, type Reply } from "./_reply.ts";
import { type BodyReceiver, busyReply } from "./_receive.ts";
import { locksOf } from "./_locks.ts";
import type { Config } from "./_config.ts";

/**
 * Answers a PATCH: checks the headers and the server's capacity, then, holding
 * the upload's lock (after asking a request in this process that holds it to
 * stop), checks the offset and any late `Upload-Length` and streams the body
 * into the store. A late `Upload-Length` is recorded only with the bytes.
 */
export async function patch(
  config: Config,
  receiver: BodyReceiver,
  request: Request,
  id: string,
): Promise<Reply> {
  const headers = request.headers;
  if (!isOffsetStream(headers)) {
    return { status: 415, message: `Content-Type must be ${OFFSET_CONTENT_TYPE}` };
  }
  const offset = parseInteger("Upload-Offset", headers.get("Upload-Offset"));
  if (offset === null) return { status: 400, message: "Upload-Offset is required" };
  if (typeof offset === "string") return { status: 400, message: offset };
  const length = parseInteger("Upload-Length", headers.get("Upload-Length"));
  if (typeof length === "string") return { status: 400, message: length };
  const checksum = parseChecksum(headers.get("Upload-Checksum"));
  if (typeof checksum === "string") return { status: 400, message: checksum };

  const locks = locksOf(config);
  // Refused before any lock or state round trip, unless it takes over a body read here.
  if (receiver.full && !locks.heldHere(id)) return busyReply();
  const lock = await locks.acquire(id);
  if (!lock) return { status: 423, message: "The upload is locked by another request" };
  try {
    const record = await config.state.get(id);
    const missing = missingReply(record, config.now);
    if (missing) return missing;
    const found = record!;
    if (Array.isArray(found.concat)) {
      return {
        status: 403,
        message: "A final upload is joined from partial ones; it takes no bytes",
      };
    }
    if (found.offset !== offset) {
      return {
        status: 409,
        headers: { "Upload-Offset": String(found.offset) },
        message: `Upload-Offset is ${offset} but the upload holds ${found.offset} bytes`,
      };
    }
    let declared: number | null = null;
    if (length !== null) {
      if (found.length !== null && found.length !== length) {
        return { status: 400, message: "Upload-Length cannot change once set" };
      }
      if (length > config.maxSize) {
        return {
          status: 413,
          message: `Upload-Length exceeds the maximum of ${config.maxSize} bytes`,
        };
      }
      if (length < found.offset) {
        return { status: 400, message: "Upload-Length is smaller than the bytes received" };
      }
      if (found.length === null) declared = length;
    }
    const contentLength = parseInteger("Content-Length", headers.get("Content-Length"));
    const limit = found.length ?? declared ?? config.maxSize;
    if (typeof contentLength === "number" && offset + contentLength > limit) {
      return { status: 413, message: "The body goes past the end of the upload" };
    }
    if (found.completedAt !== null && found.offset === found.length) {
      return { status: 204, headers: { "Upload-Offset": String(found.offset) } };
    }
    const received = await receiver.receive(found, request.body, checksum, {
      length: declared,
      signal: lock.signal,
      ...(typeof contentLength === "number" ? { contentLength } : {}),
    });
    if (!received.ok) return received.reply;
    return {
      status: 204,
      headers: {
        "Upload-Offset": String(received.record.offset),
        ...expiresHeader(received.record),
      },
    };
  } finally {
    await lock.release();
  }
}
