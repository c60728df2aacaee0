/**
 * The byte path: streaming one request body into the store at the upload's
 * offset, checking size, type and checksum on the way, then recording where
 * the upload stands.
 *
 * Nothing a request learns reaches the record unless the bytes it learned it
 * from are kept: a chunk that is refused or rolled back leaves the record as
 * it was (offset, declared length, sniffed type, first bytes, expiry). The
 * sniffed type outliving a rolled-back chunk once let HTML in as a PNG.
 */
import {
  BODY_BUFFER_SIZE,
  type BodyBuffers,
  BufferPool,
  readBody,
  WAIT_BUFFER_SIZE,
} from "./_body.ts";
import { type StopReason, WatchedBody } from "./_body_watch.ts";
import { type Checksum, sameBytes } from "./_headers.ts";
import { fromBase64, toBase64 } from "./_base64.ts";
import { createHasher, type Hasher } from "./_sha.ts";
import { appendHead, detectType, SNIFF_LENGTH } from "./_file_type.ts";
import { announceComplete, isReported, reportProgress } from "./_progress.ts";
import type { Config } from "./_config.ts";
import type { Reply } from "./_reply.ts";
import type { UploadRecord } from "./state.ts";
import type { ChunkedUpload } from "./store.ts";

/** Where one request's body ended up. */
export type Received = { ok: true; record: UploadRecord } | { ok: false; reply: Reply };

/** What a request adds to {@linkcode BodyReceiver.receive}. */
export interface ReceiveOptions {
  /** `Upload-Length` sent with this request for a deferred upload; recorded only with kept bytes. */
  length?: number | null;
  /** Aborted when another request for the upload asks this one to stop. */
  signal?: AbortSignal;
  /** The request's Content-Length, when it sent one. */
  contentLength?: number;
}

/** Large read buffers in use at once; more bodies read into small ones meanwhile. */
const LARGE_BUFFERS = 16;

/** How a body's reading ended. */
type Ending = "done" | "too-long" | "aborted" | StopReason;

/** The answer while `maxConcurrentPatches` bodies are being read. */
export function busyReply(): Reply {
  return {
    status: 503,
    headers: { "Retry-After": "1" },
    message: "Too many uploads in progress; retry shortly",
  };
}

/**
 * Receives request bodies into the store, at most `maxConcurrentPatches` at
 * a time, reading them through shared buffer pools.
 */
export class BodyReceiver {
  #config: Config;
  #buffers: BodyBuffers = {
    small: new BufferPool(WAIT_BUFFER_SIZE, { keep: 16 }),
    large: new BufferPool(BODY_BUFFER_SIZE, { keep: 4, limit: LARGE_BUFFERS }),
  };
  #reading = 0;

  constructor(config: Config) {
    this.#config = config;
  }

  /** Whether `maxConcurrentPatches` bodies are being read, so another would be refused. */
  get full(): boolean {
    return this.#reading >= this.#config.maxConcurrentPatches;
  }

  /**
   * Streams one request body into the store at the record's offset, holding
   * the upload's lock. Size, type and checksum refusals roll the chunk back;
   * a body that goes quiet, is asked to stop or breaks off keeps its bytes,
   * unless a checksum was sent (then they cannot be verified and go too).
   */
  async receive(
    record: UploadRecord,
    body: ReadableStream<Uint8Array> | null,
    checksum: Checksum | null,
    options: ReceiveOptions = {},
  ): Promise<Received> {
    if (this.full) return { ok: false, reply: busyReply() };
    this.#reading++;
    try {
      return await this.#receive(record, body, checksum, options);
    } finally {
      this.#reading--;
    }
  }

  async #receive(
    record: UploadRecord,
    body: ReadableStream<Uint8Array> | null,
    checksum: Checksum | null,
    options: ReceiveOptions,
  ): Promise<Received> {
    const config = this.#config;
    const start = record.offset;
    const length = record.length ?? options.length ?? null;
    const limit = length ?? config.maxSize;
    const hasher: Hasher | null = checksum ? createHasher(checksum.algorithm) : null;
    // The first bytes (from the record, then this body) until the type is known.
    // A partial upload's bytes may start mid-file: its type is checked on the final upload.
    let head: Uint8Array | null = config.allowedTypes && record.type === null &&
        record.concat !== "partial"
      ? (record.head ? fromBase64(record.head) : new Uint8Array(0))
      : null;
    // The type found in this request, and how many first bytes it was found from.
    let sniffed: { type: string; from: number } | null = null;
    // Progress while bytes stream carries the length this request declares.
    const view = length === record.length ? record : { ...record, length };
    const upload = await config.store.resumeChunkedUpload(record.id, start);
    // The body's length lets a store stream whole parts, but only once the type is
    // decided: no byte leaves for the store before the first bytes were sniffed.
    const expect = (received: number) => {
      if (options.contentLength !== undefined) {
        upload.expect?.(Math.max(0, options.contentLength - received));
      }
    };
    if (head === null) expect(0);
    let offset = start;
    let ending: Ending = "done";
    const reader = body
      ? new WatchedBody(readBody(body, this.#buffers), {
        clock: config.clock,
        idleTimeout: config.bodyIdleTimeout,
        signal: options.signal,
      })
      : null;
    try {
      const reporting = isReported(config, record);
      let lastProgress = config.now();
      for (;;) {
        let value: Uint8Array | null = null;
        if (reader) {
          try {
            // A view into a reused buffer, valid until the next read (stores copy what they keep).
            value = await reader.read();
          } catch {
            ending = "aborted";
            break;
          }
        }
        if (value === null) {
          ending = reader?.stopped ?? "done";
          break;
        }
        if (offset + value.byteLength > limit) {
          ending = "too-long";
          await reader!.cancel().catch(() => {});
          break;
        }
        if (head !== null && sniffed === null) {
          head = appendHead(head, value);
          if (head.byteLength >= SNIFF_LENGTH || offset + value.byteLength === length) {
            // Decide before this chunk is kept.
            const type = await detectType(head, config.allowedTypes!);
            if (!type.allowed) {
              await reader!.cancel().catch(() => {});
              return await this.#refuseType(record, upload, type.mime);
            }
            sniffed = { type: type.mime!, from: head.byteLength };
            expect(offset - start);
          }
        }
        hasher?.update(value);
        await upload.append(value);
        offset += value.byteLength;
        const now = config.now();
        if (reporting && now - lastProgress >= config.progressInterval) {
          lastProgress = now;
          reportProgress(config, view, offset);
        }
      }
    } catch (error) {
      // The store failed: record nothing, so the next resume cuts its file back to the offset.
      await reader?.cancel().catch(() => {});
      await upload.release().catch(() => {});
      throw error;
    } finally {
      reader?.release();
    }

    const early = ending === "aborted" || ending === "idle" || ending === "superseded";
    const kept = upload.keptOffset ?? offset;
    if (early && !hasher && kept < offset) {
      // Cut off inside a part the store could not keep whole: keep what it can.
      try {
        await upload.rollback(kept);
      } catch (error) {
        await upload.release().catch(() => {});
        throw error;
      }
      offset = kept;
    }
    // When set, the chunk is dropped and this is the answer.
    let discard: Reply | null = null;
    if (ending === "too-long") {
      discard = { status: 413, message: "The body goes past the end of the upload" };
    } else if (hasher && early) {
      // Part of a checksummed chunk cannot be verified, so none of it is kept.
      discard = earlyEnd(ending, record, start, 0, config);
    } else if (hasher && !sameBytes(hasher.digest(), checksum!.expected)) {
      discard = { status: 460, message: "Checksum mismatch; the chunk was discarded" };
    } else if (early && offset === start) {
      discard = earlyEnd(ending, record, start, 0, config);
    }
    if (discard) {
      // Nothing of this request is kept, and nothing about it is recorded.
      if (offset !== start) await upload.rollback(start);
      await upload.release();
      // Takes back any progress reported while the dropped bytes streamed.
      reportProgress(config, record, start);
      if (early) logEarlyEnd(ending, record.id, start, 0, config);
      return { ok: false, reply: discard };
    }

    const next: UploadRecord = { ...record, offset, length };
    const complete = length !== null && offset === length;
    if (head !== null) {
      if (sniffed !== null && offset >= sniffed.from) {
        next.type = sniffed.type;
        next.head = null;
      } else if (complete) {
        // Shorter than the sniffing window: decided on the whole file.
        const type = await detectType(head.subarray(0, offset), config.allowedTypes!);
        if (!type.allowed) return await this.#refuseType(record, upload, type.mime);
        next.type = type.mime!;
        next.head = null;
      } else {
        next.type = null;
        next.head = toBase64(head.subarray(0, Math.min(offset, head.byteLength)));
      }
    }
    const saved = await this.#save(next, upload);
    if (!saved) return { ok: false, reply: { status: 404, message: "Upload not found" } };
    reportProgress(config, next, offset);
    // A partial upload is not a file yet: its final upload completes, once, when it is joined.
    if (next.completedAt !== null && next.concat !== "partial") {
      await announceComplete(config, next);
    }
    if (ending === "done" || complete) return { ok: true, record: next };
    logEarlyEnd(ending, record.id, offset, offset - start, config);
    return { ok: false, reply: earlyEnd(ending, next, offset, offset - start, config) };
  }

  /** A refused file leaves nothing behind: bytes, record, everything. */
  async #refuseType(
    record: UploadRecord,
    upload: ChunkedUpload,
    type: string | undefined,
  ): Promise<Received> {
    const config = this.#config;
    await upload.abort();
    await config.state.delete(record.id);
    const allowed = config.allowedTypes!.join(", ");
    return {
      ok: false,
      reply: {
        status: 415,
        message: type
          ? `File type ${type} is not allowed; allowed: ${allowed}`
          : `File type could not be recognised; allowed: ${allowed}`,
      },
    };
  }

  /** Finalizes or releases the store's upload, then records the new offset. */
  async #save(record: UploadRecord, upload: ChunkedUpload): Promise<boolean> {
    const config = this.#config;
    const now = config.now();
    if (record.length !== null && record.offset === record.length) {
      await upload.finalize();
      record.completedAt = now;
      record.expiresAt = null;
      // A finished partial waits for its final upload as long as an unfinished upload would.
      const keep = record.concat === "partial"
        ? config.expiresIn ?? config.keepCompletedFor
        : config.keepCompletedFor;
      record.sweepAt = keep === null ? null : now + keep;
    } else {
      await upload.release();
      if (config.expiresIn !== null) {
        // Sliding expiry: an upload that is still moving does not expire.
        record.expiresAt = now + config.expiresIn;
        record.sweepAt = record.expiresAt;
      }
    }
    return await config.state.save(record);
  }
}

/** The answer to a request whose body ended early, with where the upload now stands. */
function earlyEnd(
  ending: Ending,
  record: UploadRecord,
  offset: number,
  kept: number,
  config: Config,
): Reply {
  const headers = { "Upload-Offset": String(offset) };
  if (ending === "idle") {
    return {
      status: 408,
      headers,
      message:
        `No bytes arrived for ${config.bodyIdleTimeout} ms; ${kept} bytes of this request kept`,
    };
  }
  if (ending === "superseded") {
    return {
      status: 400,
      headers,
      message:
        `Another request for upload ${record.id} took over; ${kept} bytes of this request kept`,
    };
  }
  // The client is gone; nobody reads this, but the request still gets a tus answer.
  return { status: 400, headers, message: "The request body ended early" };
}

/**
 * One debug line: a client that goes away or quiet mid-body is normal on the
 * internet, not an error worth a stack trace.
 */
function logEarlyEnd(
  ending: Ending,
  id: string,
  offset: number,
  kept: number,
  config: Config,
): void {
  const why = ending === "idle"
    ? `no bytes for ${config.bodyIdleTimeout} ms`
    : ending === "superseded"
    ? "another request took over"
    : "the client went away mid-body";
  console.debug(`[kiln] Upload ${id}: ${why}; kept ${kept} bytes, offset ${offset}`);
}
