/**
 * The upload store shared by `S3Store` and `R2Store`: tus uploads as
 * multipart uploads cut into parts of one size, the tail and the part list
 * kept as objects beside the upload (see `_object_upload.ts` and
 * `_object_info.ts`), and concatenation assembled in the bucket. An adapter
 * for another object store passes its own {@linkcode ObjectBucket}.
 *
 * @module
 */
import { UploadError } from "./errors.ts";
import { assertUploadPath } from "./_path.ts";
import { ChunkedStore } from "./chunked_store.ts";
import { BufferPool } from "./_body.ts";
import { InfoObjects, type MultipartProgress } from "./_object_info.ts";
import {
  discardUpload,
  ObjectChunkedUpload,
  type ObjectUploadContext,
  readTail,
} from "./_object_upload.ts";
import { ObjectUploadState } from "./_object_state.ts";
import { concatenateObjects } from "./_object_concat.ts";
import type { ObjectBucket } from "./object_bucket.ts";
import type { UploadState } from "./state.ts";
import type { ChunkedUpload, StoredFile } from "./store.ts";

/** The part size unless told otherwise: 8 MiB, as tusd and @tus/s3-store use. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** S3 and R2 refuse smaller parts (except the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's largest part; R2's is a little under 5 GiB. */
const MAX_PART_SIZE = 4 * 1024 ** 3;
/** Part buffers kept for the next requests; more concurrent requests allocate their own. */
const PARTS_KEPT = 2;
/** Keys must leave room for `.info` and `.part` under the 1024-byte key limit of S3 and R2. */
const MAX_PREFIX_LENGTH = 256;

/** Options every object store takes. */
export interface ObjectStoreOptions {
  /**
   * Bytes per multipart part, every part but the last: at least 5 MiB (S3
   * and R2 refuse smaller ones) and at most 4 GiB. A request holds at most
   * two parts in memory: one being sent, the next filling.
   *
   * @default 8 * 1024 * 1024
   */
  partSize?: number;
  /**
   * Prepended to every key, such as `"uploads/"`: letters, digits, `.`, `_`,
   * `-` and `/`, at most 256 characters.
   *
   * @default ""
   */
  prefix?: string;
}

/**
 * An upload store in object storage, over any {@linkcode ObjectBucket}:
 * every tus upload is a multipart upload whose parts are all `partSize`
 * bytes but the last, the bytes after the last full part wait in
 * `<key>.part`, and `<key>.info` holds the part list, the offset and the tus
 * record. Use `S3Store` or `R2Store`; extend this for another object store.
 *
 * @example Counting the parts an upload sends
 * ```ts
 * import { ObjectStore, type PartTarget } from "@kiln/core/upload/store";
 * import { S3Store } from "@kiln/core/upload/s3";
 * import { startR2Simulator } from "../../tests/upload/_r2_simulator.ts";
 * import assert from "node:assert/strict";
 *
 * await using bucket = await startR2Simulator();
 * const s3 = new S3Store({
 *   endpoint: bucket.s3Endpoint,
 *   accessKeyId: bucket.accessKeyId,
 *   secretAccessKey: bucket.secretAccessKey,
 * });
 * assert.ok(s3 instanceof ObjectStore);
 * const upload = await s3.startChunkedUpload("big.bin");
 * await upload.append(new Uint8Array(9 * 1024 * 1024)); // one 8 MiB part sent, 1 MiB kept
 * await upload.release();
 * const resumed = await s3.resumeChunkedUpload("big.bin", 9 * 1024 * 1024);
 * assert.equal(resumed.offset, 9 * 1024 * 1024);
 * assert.deepEqual(await resumed.finalize(), { path: "big.bin", size: 9 * 1024 * 1024 });
 * const part: PartTarget = { key: "big.bin", uploadId: "id", number: 1 };
 * assert.equal(part.number, 1);
 * ```
 */
export class ObjectStore extends ChunkedStore {
  /**
   * Upload records kept in each upload's `<key>.info` object, so no other
   * state is needed; locks are held in this process (pass a
   * `RedisUploadState` as `uploads({ state })` to share them between instances).
   */
  override readonly state: UploadState;
  #context: ObjectUploadContext;
  #prefix: string;

  /**
   * Creates a store on a bucket.
   *
   * @param bucket The bucket's operations.
   * @param options The part size and the key prefix.
   * @throws {RangeError} When `partSize` is below 5 MiB or above 4 GiB.
   * @throws {TypeError} When `prefix` holds other characters or is too long.
   */
  constructor(bucket: ObjectBucket, options: ObjectStoreOptions = {}) {
    super();
    const partSize = options.partSize ?? DEFAULT_PART_SIZE;
    if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
      throw new RangeError(
        `partSize must be an integer from ${MIN_PART_SIZE} to ${MAX_PART_SIZE}, got ${partSize}`,
      );
    }
    const prefix = options.prefix ?? "";
    if (
      typeof prefix !== "string" || prefix.length > MAX_PREFIX_LENGTH ||
      !/^[A-Za-z0-9._\/-]*$/.test(prefix)
    ) {
      throw new TypeError(
        `prefix must be at most ${MAX_PREFIX_LENGTH} letters, digits, ".", "_", "-" or "/"`,
      );
    }
    this.#prefix = prefix;
    this.#context = {
      bucket,
      info: new InfoObjects(bucket),
      partSize,
      buffers: new BufferPool(partSize, { keep: PARTS_KEPT }),
    };
    this.state = new ObjectUploadState(bucket, this.#context.info, prefix);
  }

  /**
   * Starts an empty unfinished upload; nothing is written until the handle is
   * released or finalized.
   *
   * @param path The file's path once finalized.
   * @returns The open upload.
   * @throws {TypeError} When `path` is not a safe relative path, or ends in `.info` or `.part`.
   * @throws {UploadError} `UPLOAD_EXISTS` when an unfinished upload holds `path`.
   */
  async startChunkedUpload(path: string): Promise<ChunkedUpload> {
    const key = this.#key(path);
    const info = await this.#context.info.read(key, path);
    if (info?.upload) {
      throw new UploadError("UPLOAD_EXISTS", `An unfinished upload already holds ${path}`);
    }
    const progress: MultipartProgress = {
      offset: 0,
      partSize: this.#context.partSize,
      uploadId: null,
      parts: [],
      tail: null,
    };
    return new ObjectChunkedUpload(this.#context, path, key, {
      progress,
      tail: new Uint8Array(0),
      recorded: false,
    });
  }

  /**
   * Reopens an unfinished upload at `offset`, reading its tail back.
   *
   * @param path The upload's path.
   * @param offset The offset to continue from; later bytes are dropped.
   * @returns The open upload.
   * @throws {UploadError} `UPLOAD_NOT_FOUND` when no unfinished upload holds `offset` bytes there;
   *   `UPLOAD_RECORD_CORRUPT` when its info object or tail cannot be trusted, or the bytes after
   *   `offset` are already in a part (which cannot be cut back).
   */
  async resumeChunkedUpload(path: string, offset: number): Promise<ChunkedUpload> {
    const key = this.#key(path);
    const info = await this.#context.info.read(key, path);
    const stored = info?.upload;
    if (!stored || !Number.isInteger(offset) || offset < 0 || stored.offset < offset) {
      throw new UploadError(
        "UPLOAD_NOT_FOUND",
        `No unfinished upload of ${offset} bytes at ${path}`,
      );
    }
    if (stored.partSize !== this.#context.partSize) {
      throw new UploadError(
        "UPLOAD_RECORD_CORRUPT",
        `Upload ${path} was cut into parts of ${stored.partSize} bytes, this store into ${this.#context.partSize}`,
      );
    }
    const flushed = stored.parts.length * stored.partSize;
    if (offset < flushed) {
      throw new UploadError(
        "UPLOAD_RECORD_CORRUPT",
        `Upload ${path} holds ${stored.offset} bytes in parts that cannot be cut back to ${offset}`,
      );
    }
    const tail = await readTail(this.#context.bucket, key, stored, path);
    return new ObjectChunkedUpload(this.#context, path, key, {
      progress: stored,
      tail: tail.subarray(0, offset - flushed),
      recorded: offset === stored.offset,
    });
  }

  /**
   * Describes a finished file.
   *
   * @param path The file's path.
   * @returns The file, or `null`.
   */
  async stat(path: string): Promise<StoredFile | null> {
    const size = await this.#context.bucket.size(this.#key(path));
    return size === null ? null : { path, size };
  }

  /**
   * Reads a finished file, streamed from the bucket.
   *
   * @param path The file's path.
   * @returns Its bytes, or `null`.
   */
  read(path: string): Promise<ReadableStream<Uint8Array> | null> {
    return this.#context.bucket.stream(this.#key(path));
  }

  /**
   * Deletes the finished file and any unfinished upload at `path`, aborting
   * its multipart upload so the store frees its parts at once.
   *
   * @param path The path.
   * @returns `true` when something was deleted.
   */
  async delete(path: string): Promise<boolean> {
    const key = this.#key(path);
    const { bucket, info } = this.#context;
    const [found, size] = await Promise.all([
      info.read(key, path).catch(() => null),
      bucket.size(key),
    ]);
    await discardUpload(this.#context, key, found?.upload?.uploadId ?? null);
    if (size !== null) await bucket.delete([key]);
    return found !== null || size !== null;
  }

  /**
   * Makes the file at `path` from finished files, one after another, inside
   * the bucket: each part is copied server-side where it lies within one
   * source (`UploadPartCopy` on S3), and gathered from ranged reads (at most
   * one part in memory) where it spans sources, so sources below the 5 MiB
   * part minimum work too.
   *
   * @param path The new file's path.
   * @param sources The finished files' paths, in order.
   * @returns The new file.
   * @throws {UploadError} `UPLOAD_NOT_FOUND` when a source is not a finished file.
   */
  override concatenate(path: string, sources: readonly string[]): Promise<StoredFile> {
    return concatenateObjects(this.#context, path, this.#key(path), sources, (p) => this.#key(p));
  }

  #key(path: string): string {
    assertUploadPath(path);
    if (/\.(info|part)$/.test(path)) {
      throw new TypeError(`Object store paths may not end in .info or .part, got ${path}`);
    }
    return this.#prefix + path;
  }
}
