/**
 * Uploads into Cloudflare R2 from a Worker, through the bucket binding
 * (`env.BUCKET`), with {@linkcode R2Store}: each tus upload is an R2
 * multipart upload of equal parts, and the upload's record lives in the
 * bucket too, so a Worker needs no other storage to resume uploads.
 *
 * @example A tus endpoint in a Worker
 * ```ts
 * import { Hono } from "hono";
 * import { R2Store, type R2BucketBinding } from "@kiln/core/upload/r2";
 * import { uploads } from "@kiln/core/upload";
 *
 * const app = new Hono<{ Bindings: { BUCKET: R2BucketBinding } }>();
 * app.all("/files/*", (c) => {
 *   const files = uploads({ store: new R2Store({ bucket: c.env.BUCKET }), maxSize: 1024 ** 3 });
 *   return new Hono().route("/files", files).fetch(c.req.raw, c.env, c.executionCtx);
 * });
 * export default app;
 * ```
 *
 * @module
 */
import { ObjectStore, type ObjectStoreOptions } from "../object_store.ts";
import { R2Bucket } from "./_r2_bucket.ts";
import type { R2BucketBinding } from "./binding.ts";

export type {
  R2BucketBinding,
  R2MultipartUploadLike,
  R2ObjectBodyLike,
  R2ObjectLike,
} from "./binding.ts";

/** Options for {@linkcode R2Store}. */
export interface R2StoreOptions extends ObjectStoreOptions {
  /** The R2 bucket binding, `env.BUCKET`. */
  bucket: R2BucketBinding;
}

/**
 * Keeps uploads in an R2 bucket, through its Workers binding. Parts are all
 * `partSize` bytes but the last (R2 refuses anything else), the bytes after
 * the last full part wait in `<id>.part`, and the part list, offset and tus
 * record live in `<id>.info`: a request in any isolate can resume the upload.
 * A request holds at most two parts in memory: one sent while the next fills.
 *
 * Locks are per isolate; for uploads that several requests may write at once
 * from different isolates, pass a `RedisUploadState` as `uploads({ state })`.
 *
 * @example Refusing a binding that is not one
 * ```ts
 * import { R2Store } from "@kiln/core/upload/r2";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => new R2Store({ bucket: undefined! }), TypeError);
 * ```
 */
export class R2Store extends ObjectStore {
  /**
   * Creates a store on one bucket binding.
   *
   * @param options The binding, the part size and the key prefix.
   * @throws {TypeError} When `bucket` is not an R2 binding.
   * @throws {RangeError} When `partSize` is below 5 MiB or above 4 GiB.
   */
  constructor(options: R2StoreOptions) {
    const bucket = options?.bucket;
    if (typeof bucket?.createMultipartUpload !== "function") {
      throw new TypeError("bucket must be an R2 bucket binding (env.BUCKET)");
    }
    super(new R2Bucket(bucket), options);
  }
}
