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

/** What a held key's info object is known to hold. */
interface Remembered {
  /** Its text; `null` when absent, `undefined` when the bucket must be asked. */
  text: string | null | undefined;
  /** Writes started under this hold, so a read that began before one does not overwrite it. */
  writes: number;
}

/**
 * Reads and writes the info objects of one bucket.
 *
 * While this process holds an upload's lock ({@linkcode hold}), nothing else
 * in the process writes its info object, so the text last read or written is
 * remembered and read back from memory: a PATCH then reads the object once
 * instead of four times (the state's record, the store's resume, the store's
 * release and the state's save each read it), which is a round trip per read
 * to the bucket. Writes always go to the bucket at once. Another instance
 * writing the same upload meanwhile is what in-process locks cannot prevent
 * anyway (that takes `RedisUploadState`, whose lock never holds here).
 */
export class InfoObjects {
  #bucket: ObjectBucket;
  /** What is known of each held key's info object. */
  #held = new Map<string, Remembered>();

  constructor(bucket: ObjectBucket) {
    this.#bucket = bucket;
  }

  /** Remembers `<key>.info` from now until {@linkcode drop}: call while holding the upload's lock. */
  hold(key: string): void {
    this.#held.set(key, { text: undefined, writes: 0 });
  }

  /** Forgets what {@linkcode hold} remembered; call when the lock goes. */
  drop(key: string): void {
    this.#held.delete(key);
  }

  /**
   * Reads `<key>.info`.
   *
   * @throws {UploadError} `UPLOAD_RECORD_CORRUPT` when it is not an info object of `id`.
   */
  async read(key: string, id: string): Promise<InfoObject | null> {
    const held = this.#held.get(key);
    let text = held?.text;
    if (text === undefined) {
      const writes = held?.writes;
      const found = await this.#bucket.get(infoKey(key));
      text = found ? new TextDecoder().decode(found.bytes) : null;
      // Only what was read under this hold with no write since: an older read may land late.
      if (held && this.#held.get(key) === held && held.writes === writes) held.text = text;
    }
    if (text === null) return null;
    // Parsed again on every read, so no caller can change what another reads.
    const { upload, record } = parseStored(id, text, InfoSchema);
    if (upload && !consistent(upload)) throw corrupt(id, "its part list does not match its offset");
    return {
      upload,
      record: record == null ? null : parseRecord(id, JSON.stringify(record)),
    };
  }

  /** Writes `<key>.info`, or deletes it when it holds nothing. */
  async write(key: string, info: InfoObject): Promise<void> {
    const text = info.upload || info.record ? JSON.stringify(info) : null;
    const held = this.#held.get(key);
    // A write that fails may or may not have landed: until one succeeds, reads ask the bucket.
    const mine = held ? ++held.writes : 0;
    if (held) held.text = undefined;
    if (text === null) await this.#bucket.delete([infoKey(key)]);
    else await this.#bucket.put(infoKey(key), new TextEncoder().encode(text));
    if (held && this.#held.get(key) === held && held.writes === mine) held.text = text;
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
