/**
 * The part of a Workers R2 binding `R2Store` uses, written out so Kiln does
 * not depend on `@cloudflare/workers-types`; the binding in `env.BUCKET`
 * (typed `R2Bucket` by those types or by `wrangler types`) fits it.
 *
 * @module
 */

/** An object's metadata, as R2 answers it. */
export interface R2ObjectLike {
  /** The object's key. */
  readonly key: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Its ETag, without quotes. */
  readonly etag: string;
}

/** An object with its bytes. */
export interface R2ObjectBodyLike extends R2ObjectLike {
  /** The bytes, as a stream of known length. */
  readonly body: ReadableStream<Uint8Array>;
  /** The bytes, read whole. */
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A multipart upload in progress. */
export interface R2MultipartUploadLike {
  /** Its id. */
  readonly uploadId: string;
  /** Uploads part `number` (1 to 10 000). */
  uploadPart(
    number: number,
    value: Uint8Array | ReadableStream<Uint8Array>,
  ): Promise<{ partNumber: number; etag: string }>;
  /** Abandons the upload. */
  abort(): Promise<void>;
  /** Joins the parts into the object. */
  complete(parts: { partNumber: number; etag: string }[]): Promise<unknown>;
}

/** The R2 bucket binding's methods that `R2Store` calls. */
export interface R2BucketBinding {
  /** Reads an object's metadata. */
  head(key: string): Promise<R2ObjectLike | null>;
  /** Reads an object, or a range of it. */
  get(
    key: string,
    options?: { range?: { offset: number; length: number } },
  ): Promise<R2ObjectBodyLike | null>;
  /** Stores an object. */
  put(key: string, value: Uint8Array): Promise<R2ObjectLike | null>;
  /** Deletes objects. */
  delete(keys: string[]): Promise<void>;
  /** Lists objects by prefix, a page at a time. */
  list(options: { prefix: string; cursor?: string }): Promise<{
    objects: R2ObjectLike[];
    truncated: boolean;
    cursor?: string;
  }>;
  /** Starts a multipart upload. */
  createMultipartUpload(key: string): Promise<R2MultipartUploadLike>;
  /** Picks up a multipart upload by id. */
  resumeMultipartUpload(key: string, uploadId: string): R2MultipartUploadLike;
}
