/**
 * The few object-storage operations the object stores need, so `S3Store`
 * (the S3 API over fetch) and `R2Store` (a Workers binding) share one upload
 * design and differ only in how they talk to the bucket. Every body has a
 * known length: R2 and its S3 API refuse chunked bodies.
 */

/** A part of a multipart upload, as `complete()` wants it. */
export interface UploadedPart {
  /** 1 to 10 000. */
  readonly number: number;
  /** What the store answered when the part was uploaded. */
  readonly etag: string;
}

/** A byte range of a stored object: `length` bytes from `offset`. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** Where a part goes: part `number` of multipart upload `uploadId` to `key`. */
export interface PartTarget {
  readonly key: string;
  readonly uploadId: string;
  readonly number: number;
}

/** One stored object found by {@linkcode ObjectBucket.list}. */
export interface ListedObject {
  readonly key: string;
  readonly size: number;
}

/** A bucket, as the object stores use it. Keys are already validated. */
export interface ObjectBucket {
  /** Stores `bytes` at `key`, replacing any object there; returns its ETag. */
  put(key: string, bytes: Uint8Array): Promise<string>;
  /** The object's bytes (or `range` of them) with its ETag, or `null` when absent. */
  get(key: string, range?: ByteRange): Promise<{ bytes: Uint8Array; etag: string } | null>;
  /** The object's bytes as a stream, or `null` when absent. */
  stream(key: string): Promise<ReadableStream<Uint8Array> | null>;
  /** The object's size, or `null` when absent. */
  size(key: string): Promise<number | null>;
  /** Deletes the objects; absent ones are no error. */
  delete(keys: string[]): Promise<void>;
  /** Objects whose key starts with `prefix`, every page of them. */
  list(prefix: string): AsyncIterable<ListedObject>;
  /** Starts a multipart upload to `key`; returns its upload id. */
  createMultipart(key: string): Promise<string>;
  /** Uploads one part; returns its ETag. */
  uploadPart(target: PartTarget, bytes: Uint8Array): Promise<string>;
  /** Makes a part from a range of another object, without the bytes passing through here when the store can. */
  copyPart(target: PartTarget, source: string, range: ByteRange): Promise<string>;
  /** Joins the parts into the object at `key`. */
  completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<void>;
  /** Abandons a multipart upload and its parts; an unknown one is no error. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
}
