/**
 * The `<key>.info` object an object store keeps beside each upload: the
 * multipart upload in progress (its id, the parts with their ETags, the
 * offset, the tail's ETag) and the tus server's record. Keeping the part list
 * here, not asking the store for it, is what lets the stores work where
 * ListParts is missing (R2's S3 API in miniflare answers 501). It is data read
 * back from outside the process, so it is checked before it is trusted.
 */
import * as v from "valibot";
import { corrupt, parseRecord, parseStored } from "./_record_schema.ts";
import type { ObjectBucket, UploadedPart } from "./object_bucket.ts";
import type { UploadRecord } from "./state.ts";

/** Where an unfinished upload stands in the bucket. */
export interface MultipartProgress {
  /** Bytes held: the parts, then the tail. */
  offset: number;
  /** The part size the parts were cut at; a store with another part size cannot continue them. */
  partSize: number;
  /** The multipart upload, once its first part was sent. */
  uploadId: string | null;
  /** The parts sent, in order, each `partSize` bytes. */
  parts: UploadedPart[];
  /** The ETag of `<key>.part`, which holds the bytes after the parts; `null` when there are none. */
  tail: string | null;
}

/** The whole `<key>.info` object. */
export interface InfoObject {
  upload: MultipartProgress | null;
  record: UploadRecord | null;
}

const count = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const ProgressSchema = v.object({
  offset: count,
  partSize: v.pipe(count, v.minValue(1)),
  uploadId: v.nullable(v.pipe(v.string(), v.minLength(1))),
  parts: v.array(v.object({ number: v.pipe(count, v.minValue(1)), etag: v.string() })),
  tail: v.nullable(v.string()),
});
const InfoSchema = v.object({ upload: v.nullable(ProgressSchema), record: v.unknown() });

/** Reads and writes the info objects of one bucket. */
export class InfoObjects {
  #bucket: ObjectBucket;

  constructor(bucket: ObjectBucket) {
    this.#bucket = bucket;
  }

  /**
   * Reads `<key>.info`.
   *
   * @throws {UploadError} `UPLOAD_RECORD_CORRUPT` when it is not an info object of `id`.
   */
  async read(key: string, id: string): Promise<InfoObject | null> {
    const found = await this.#bucket.get(infoKey(key));
    if (!found) return null;
    const text = new TextDecoder().decode(found.bytes);
    const { upload, record } = parseStored(id, text, InfoSchema);
    if (upload && !consistent(upload)) throw corrupt(id, "its part list does not match its offset");
    return {
      upload,
      record: record == null ? null : parseRecord(id, JSON.stringify(record)),
    };
  }

  /** Writes `<key>.info`, or deletes it when it holds nothing. */
  async write(key: string, info: InfoObject): Promise<void> {
    if (!info.upload && !info.record) return await this.#bucket.delete([infoKey(key)]);
    await this.#bucket.put(infoKey(key), new TextEncoder().encode(JSON.stringify(info)));
  }
}

/** Parts are numbered 1, 2, … and the tail is shorter than a part. */
function consistent(upload: MultipartProgress): boolean {
  const flushed = upload.parts.length * upload.partSize;
  const tail = upload.offset - flushed;
  return upload.parts.every((part, index) => part.number === index + 1) &&
    tail >= 0 && tail < upload.partSize && (tail === 0) === (upload.tail === null) &&
    (upload.parts.length === 0 || upload.uploadId !== null);
}

/** The key of the info object of the upload at `key`. */
export function infoKey(key: string): string {
  return `${key}.info`;
}

/** The key of the tail object of the upload at `key`. */
export function tailKey(key: string): string {
  return `${key}.part`;
}
