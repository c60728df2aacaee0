/**
 * The byte path: streaming one request body into the store at the upload's
 * offset, checking size, type and checksum on the way, then recording where
 * the upload stands.
 */
import { BufferPool, readBody } from "./_body.ts";
import { type Checksum, fromBase64, sameBytes, toBase64 } from "./_headers.ts";
import { createHasher, type Hasher } from "./_sha.ts";
import { appendHead, detectType, SNIFF_LENGTH } from "./_file_type.ts";
import { broadcastComplete, isReported, reportProgress } from "./_progress.ts";
import { uploadInfo } from "./_upload_info.ts";
import type { Config } from "./_config.ts";
import type { Reply } from "./_reply.ts";
import type { UploadRecord } from "./state.ts";
import type { ChunkedUpload } from "./store.ts";

/** Where one request's body ended up. */
export type Received = { ok: true; record: UploadRecord } | { ok: false; reply: Reply };

/** Receives request bodies into the store, reading them through one shared buffer pool. */
export class BodyReceiver {
  #config: Config;
  #buffers = new BufferPool();

  constructor(config: Config) {
    this.#config = config;
  }

  /**
   * Streams one request body into the store at the record's offset, holding
   * the upload's lock. Size, type and checksum refusals roll the chunk back.
   */
  async receive(
    record: UploadRecord,
    body: ReadableStream<Uint8Array> | null,
    checksum: Checksum | null,
  ): Promise<Received> {
    const config = this.#config;
    const start = record.offset;
    const limit = record.length ?? config.maxSize;
    const hasher: Hasher | null = checksum ? createHasher(checksum.algorithm) : null;
    let head: Uint8Array | null = config.allowedTypes && record.type === null
      ? (record.head ? fromBase64(record.head) : new Uint8Array(0))
      : null;
    const upload = await config.store.resumeChunkedUpload(record.id, start);
    let closed = false;
    const refuseType = async (type: string | undefined): Promise<Received> => {
      closed = true;
      // A refused file leaves nothing behind: bytes, record, everything.
      await upload.abort();
      await config.state.delete(record.id);
      return {
        ok: false,
        reply: {
          status: 415,
          message: type
            ? `File type ${type} is not allowed; allowed: ${config.allowedTypes!.join(", ")}`
            : `File type could not be recognised; allowed: ${config.allowedTypes!.join(", ")}`,
        },
      };
    };
    try {
      let offset = start;
      let tooLong = false;
      let lastProgress = config.now();
      const reporting = isReported(config, record);
      const reader = body ? readBody(body, this.#buffers) : null;
      if (reader) {
        try {
          for (;;) {
            // A view into a reused buffer, valid until the next read (stores copy what they keep).
            const value = await reader.read();
            if (value === null) break;
            if (offset + value.byteLength > limit) {
              tooLong = true;
              await reader.cancel().catch(() => {});
              break;
            }
            if (head !== null) {
              head = appendHead(head, value);
              if (head.byteLength >= SNIFF_LENGTH || offset + value.byteLength === record.length) {
                // Decide before this chunk is kept.
                const type = await detectType(head, config.allowedTypes!);
                if (!type.allowed) {
                  await reader.cancel().catch(() => {});
                  return await refuseType(type.mime);
                }
                record.type = type.mime!;
                head = null;
              }
            }
            hasher?.update(value);
            await upload.append(value);
            offset += value.byteLength;
            const now = config.now();
            if (reporting && now - lastProgress >= config.progressInterval) {
              lastProgress = now;
              reportProgress(config, record, offset);
            }
          }
        } catch (error) {
          // The client went away mid-body. tus keeps what arrived, unless it cannot be verified.
          if (hasher) {
            await upload.rollback(start);
            offset = start;
          }
          record.offset = offset;
          if (head !== null) record.head = toBase64(head.subarray(0, offset));
          await this.#save(record, upload);
          closed = true;
          throw error;
        } finally {
          reader.release();
        }
      }
      if (tooLong) {
        await upload.rollback(start);
        return {
          ok: false,
          reply: { status: 413, message: "The body goes past the end of the upload" },
        };
      }
      if (hasher && !sameBytes(hasher.digest(), checksum!.expected)) {
        await upload.rollback(start);
        return {
          ok: false,
          reply: { status: 460, message: "Checksum mismatch; the chunk was discarded" },
        };
      }
      record.offset = offset;
      const complete = record.length !== null && offset === record.length;
      if (head !== null) {
        if (complete) {
          const type = await detectType(head, config.allowedTypes!);
          if (!type.allowed) return await refuseType(type.mime);
          record.type = type.mime!;
          record.head = null;
        } else {
          record.head = toBase64(head);
        }
      } else {
        record.head = null;
      }
      closed = true;
      const saved = await this.#save(record, upload);
      if (!saved) return { ok: false, reply: { status: 404, message: "Upload not found" } };
      reportProgress(config, record, offset);
      if (record.completedAt !== null) {
        broadcastComplete(config, record);
        try {
          await config.onComplete?.(uploadInfo(record));
        } catch (error) {
          config.onError(error, uploadInfo(record), "onComplete");
        }
      }
      return { ok: true, record };
    } finally {
      if (!closed) await upload.release();
    }
  }

  /** Finalizes or releases the store's upload, then records the new offset. */
  async #save(record: UploadRecord, upload: ChunkedUpload): Promise<boolean> {
    const config = this.#config;
    const now = config.now();
    if (record.length !== null && record.offset === record.length) {
      await upload.finalize();
      record.completedAt = now;
      record.expiresAt = null;
      record.sweepAt = config.keepCompletedFor === null ? null : now + config.keepCompletedFor;
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
