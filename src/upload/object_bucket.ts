/**
 * The few object-storage operations {@linkcode import("./object_store.ts").ObjectStore}
 * needs, so `S3Store` (the S3 API over fetch) and `R2Store` (a Workers
 * binding) share one upload design and differ only in how they talk to the
 * bucket; an adapter for another object store implements this. Every body
 * has a known length: R2 and its S3 API refuse chunked bodies.
 *
 * @module
 */

/** A part of a multipart upload, as `completeMultipart()` wants it. */
export interface UploadedPart {
  /** 1 to 10 000. */
  readonly number: number;
  /** What the store answered when the part was uploaded. */
  readonly etag: string;
}

/** Where a part goes: part `number` of multipart upload `uploadId` to `key`. */
export interface PartTarget {
  /** The object the multipart upload makes. */
  readonly key: string;
  /** The multipart upload. */
  readonly uploadId: string;
  /** The part's number, 1 to 10 000. */
  readonly number: number;
}

/** A byte range of a stored object: `length` bytes from `offset`. */
export interface ByteRange {
  /** The first byte. */
  readonly offset: number;
  /** How many bytes. */
  readonly length: number;
}

/** One stored object found by {@linkcode ObjectBucket.list}. */
export interface ListedObject {
  /** Its key. */
  readonly key: string;
  /** Its size in bytes. */
  readonly size: number;
}

/**
 * A bucket, as the object stores use it. Keys come validated; failures are
 * `UploadError`s: `UPLOAD_STORE_UNAVAILABLE` when a retry may help,
 * `UPLOAD_STORE_FAILED` when it will not.
 */
export interface ObjectBucket {
  /**
   * Stores `bytes` at `key`, replacing any object there.
   *
   * @returns Its ETag.
   */
  put(key: string, bytes: Uint8Array): Promise<string>;
  /**
   * Reads an object, or `range` of it.
   *
   * @returns Its bytes and ETag, or `null` when absent.
   */
  get(key: string, range?: ByteRange): Promise<{ bytes: Uint8Array; etag: string } | null>;
  /**
   * Reads an object as a stream.
   *
   * @returns The stream, or `null` when absent.
   */
  stream(key: string): Promise<ReadableStream<Uint8Array> | null>;
  /**
   * Reads an object's size.
   *
   * @returns The size, or `null` when absent.
   */
  size(key: string): Promise<number | null>;
  /** Deletes the objects; absent ones are no error. */
  delete(keys: string[]): Promise<void>;
  /** Lists the objects whose key starts with `prefix`, every page of them. */
  list(prefix: string): AsyncIterable<ListedObject>;
  /**
   * Starts a multipart upload to `key`.
   *
   * @returns Its upload id.
   */
  createMultipart(key: string): Promise<string>;
  /**
   * Uploads one part.
   *
   * @returns Its ETag.
   */
  uploadPart(target: PartTarget, bytes: Uint8Array): Promise<string>;
  /**
   * Uploads one part from a stream of exactly `length` bytes, so a part never
   * has to be gathered in memory. Optional: only where the runtime sends a
   * stream with its length (R2 through `FixedLengthStream`; fetch on Node and
   * Bun). Without it, or when a request's length is unknown, parts are buffered.
   *
   * @returns Its ETag.
   */
  uploadPartStream?(
    target: PartTarget,
    body: ReadableStream<Uint8Array>,
    length: number,
  ): Promise<string>;
  /**
   * Makes a part from a range of another object, without the bytes passing
   * through here when the store can (`UploadPartCopy` on S3).
   *
   * @returns Its ETag.
   */
  copyPart(target: PartTarget, source: string, range: ByteRange): Promise<string>;
  /** Joins the parts into the object at `key`. */
  completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<void>;
  /** Abandons a multipart upload and its parts; an unknown one is no error. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
}
