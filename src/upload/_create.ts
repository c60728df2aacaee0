/**
 * POST: creating an upload (creation, creation-defer-length), with its first
 * bytes when the request carries them (creation-with-upload).
 */
import { parseChecksum, parseInteger } from "./_headers.ts";
import { parseMetadata } from "./_metadata.ts";
import { ID, isOffsetStream } from "./_protocol.ts";
import { chooseChannel } from "./_progress.ts";
import { expiresHeader, refusalReply, type Reply } from "./_reply.ts";
import { createFinal, parseConcat } from "./_concat.ts";
import { locationOf } from "./_location.ts";
import type { BodyReceiver } from "./_receive.ts";
import { uploadInfo } from "./_upload_info.ts";
import type { Config } from "./_config.ts";
import type { UploadRecord } from "./state.ts";
import { UploadError } from "./errors.ts";
import { locksOf } from "./_locks.ts";

/** Answers a POST: checks the headers, asks `onCreate`, records the upload, stores any body. */
export async function create(
  config: Config,
  receiver: BodyReceiver,
  request: Request,
): Promise<Reply> {
  const headers = request.headers;
  const concat = parseConcat(headers.get("Upload-Concat"), request);
  if (typeof concat === "string") return { status: 400, message: concat };
  if (concat?.kind === "final") {
    const metadata = parseMetadataHeader(config, headers);
    if (typeof metadata === "string") return { status: 400, message: metadata };
    return createFinal(config, request, concat.ids, metadata);
  }
  if (concat && !config.store.concatenate) {
    return { status: 400, message: "This server's store cannot join uploads (concatenation)" };
  }
  const length = parseInteger("Upload-Length", headers.get("Upload-Length"));
  const defer = headers.get("Upload-Defer-Length");
  if (typeof length === "string") return { status: 400, message: length };
  if (defer !== null && defer.trim() !== "1") {
    return { status: 400, message: "Upload-Defer-Length must be 1" };
  }
  if ((length === null) === (defer === null)) {
    return { status: 400, message: "Send exactly one of Upload-Length and Upload-Defer-Length" };
  }
  if (length !== null && length > config.maxSize) {
    return {
      status: 413,
      message: `Upload-Length exceeds the maximum of ${config.maxSize} bytes`,
    };
  }
  const parsedMetadata = parseMetadataHeader(config, headers);
  if (typeof parsedMetadata === "string") return { status: 400, message: parsedMetadata };
  const { metadata, rawMetadata } = parsedMetadata;
  const withBody = isOffsetStream(headers);
  const checksum = withBody ? parseChecksum(headers.get("Upload-Checksum")) : null;
  if (typeof checksum === "string") return { status: 400, message: checksum };
  const contentLength = parseInteger("Content-Length", headers.get("Content-Length"));
  if (
    withBody && typeof contentLength === "number" && contentLength > (length ?? config.maxSize)
  ) {
    return { status: 413, message: "The body is longer than the upload" };
  }

  const id = config.generateId();
  if (!ID.test(id)) {
    throw new TypeError(`generateId() returned an invalid id ${JSON.stringify(id)}`);
  }
  const now = config.now();
  const expiresAt = config.expiresIn === null ? null : now + config.expiresIn;
  const record: UploadRecord = {
    id,
    length,
    offset: 0,
    metadata,
    rawMetadata,
    createdAt: now,
    expiresAt,
    completedAt: null,
    type: null,
    head: null,
    sweepAt: expiresAt,
    channel: null,
    concat: concat ? "partial" : null,
  };
  const refusal = await config.onCreate?.(uploadInfo(record), request);
  if (refusal) return refusalReply(refusal);
  record.channel = chooseChannel(config, record, request);
  await (await config.store.startChunkedUpload(id)).release();
  let created: boolean;
  try {
    created = await config.state.create(record);
  } catch (error) {
    // No record (Redis unreachable, say): the empty upload just started would be an orphan.
    await config.store.delete(id).catch(() => {});
    throw error;
  }
  if (!created) {
    // Another upload owns the id (and the bytes at that path): never touch them.
    throw new UploadError("UPLOAD_EXISTS", `Upload id ${id} is already taken`);
  }
  const location = locationOf(config, request, id);
  let current = record;
  if (withBody || length === 0) {
    const lock = await locksOf(config).acquire(id);
    if (!lock) return { status: 423, message: "The upload is locked by another request" };
    try {
      const received = await receiver.receive(record, withBody ? request.body : null, checksum, {
        signal: lock.signal,
      });
      if (!received.ok) {
        // The upload exists; only the body was refused (unless the refusal removed it).
        if (received.reply.status === 415) return received.reply;
        return { ...received.reply, headers: { ...received.reply.headers, Location: location } };
      }
      current = received.record;
    } finally {
      await lock.release();
    }
  }
  return {
    status: 201,
    headers: {
      Location: location,
      ...(withBody ? { "Upload-Offset": String(current.offset) } : {}),
      ...expiresHeader(current),
    },
  };
}

/** `Upload-Metadata`, decoded, or a message for a 400. */
function parseMetadataHeader(
  config: Config,
  headers: Headers,
): Pick<UploadRecord, "metadata" | "rawMetadata"> | string {
  const rawMetadata = headers.get("Upload-Metadata");
  if (rawMetadata === null) return { metadata: {}, rawMetadata };
  if (new TextEncoder().encode(rawMetadata).byteLength > config.maxMetadataSize) {
    return `Upload-Metadata exceeds ${config.maxMetadataSize} bytes`;
  }
  const metadata = parseMetadata(rawMetadata, 64);
  return typeof metadata === "string" ? metadata : { metadata, rawMetadata };
}
