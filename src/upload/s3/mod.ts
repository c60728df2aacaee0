/**
 * Uploads into any S3-compatible bucket (AWS S3, R2's S3 API, MinIO, …) with
 * {@linkcode S3Store}: each tus upload is a multipart upload of fixed-size
 * parts, requests are signed with `aws4fetch` (SigV4 on `fetch`, so it runs
 * on Deno, Node, Bun and Workers), and no other state is needed.
 *
 * @example Uploading into a bucket
 * ```ts
 * import { S3Store } from "@kiln/core/upload/s3";
 * import { uploads } from "@kiln/core/upload";
 * import { startR2Simulator } from "../../../tests/upload/_r2_simulator.ts";
 * import assert from "node:assert/strict";
 *
 * // A local R2 bucket with its S3 API, as Cloudflare's miniflare simulates it.
 * await using bucket = await startR2Simulator();
 * const store = new S3Store({
 *   endpoint: bucket.s3Endpoint, // or "https://<bucket>.s3.<region>.amazonaws.com/"
 *   accessKeyId: bucket.accessKeyId,
 *   secretAccessKey: bucket.secretAccessKey,
 * });
 * const app = uploads({ store, maxSize: 1024 ** 3 });
 * const tus = { "Tus-Resumable": "1.0.0" };
 * const created = await app.request("/", {
 *   method: "POST",
 *   headers: { ...tus, "Upload-Length": "5", "Content-Type": "application/offset+octet-stream" },
 *   body: "hello",
 * });
 * assert.equal(created.status, 201);
 * const id = new URL(created.headers.get("Location")!).pathname.slice(1);
 * assert.equal(await new Response(await store.read(id)).text(), "hello");
 * ```
 *
 * @module
 */
import { AwsClient } from "aws4fetch";
import { ObjectStore, type ObjectStoreOptions } from "../object_store.ts";
import { DEFAULT_TIMEOUT, S3Bucket } from "./_s3_bucket.ts";

/** Options for {@linkcode S3Store}. */
export interface S3StoreOptions extends ObjectStoreOptions {
  /**
   * The bucket's URL: path-style (`https://s3.us-east-1.amazonaws.com/my-bucket/`,
   * `http://127.0.0.1:9000/my-bucket/` for MinIO,
   * `https://<account>.r2.cloudflarestorage.com/my-bucket/` for R2) or
   * virtual-host (`https://my-bucket.s3.us-east-1.amazonaws.com/`).
   */
  endpoint: string | URL;
  /** The access key id. */
  accessKeyId: string;
  /** The secret access key. */
  secretAccessKey: string;
  /** A session token, for temporary credentials. */
  sessionToken?: string;
  /**
   * The region requests are signed for.
   *
   * @default "auto" (what R2 expects; AWS needs the bucket's region)
   */
  region?: string;
  /**
   * The longest one request to the store may take, in milliseconds, before
   * the store counts as unreachable (`UPLOAD_STORE_UNAVAILABLE`, 503 with
   * `Retry-After`) and the upload's lock is let go. A part is sent in one
   * request: leave time for `partSize` bytes on the slowest link. Reading an
   * upload back is timed only until the store starts answering.
   *
   * @default 300_000 (five minutes)
   */
  timeout?: number;
}

/**
 * Keeps uploads in an S3-compatible bucket. A tus upload becomes a multipart
 * upload whose parts are all `partSize` bytes (8 MiB by default) but the
 * last; the bytes after the last full part wait in `<id>.part` until the next
 * request, and the part list, offset and tus record live in `<id>.info`, so a
 * restart (or another instance) loses nothing, and ListParts is never needed.
 * A request holds at most two parts in memory and sends one at a time, the
 * next filling while the last is sent.
 *
 * Termination and `cleanupExpired()` abort the multipart upload, so its parts
 * stop costing storage; a bucket lifecycle rule that aborts incomplete
 * multipart uploads after a few days backs this up (see docs/UPLOADS.md).
 *
 * A store failure is an `UploadError`: `UPLOAD_STORE_FAILED` when the store
 * refused (a wrong secret, say; the tus answer is 500) and
 * `UPLOAD_STORE_UNAVAILABLE` when it is unreachable or answers 5xx (503 with
 * `Retry-After`).
 *
 * @example Refusing a part size below the S3 minimum
 * ```ts
 * import { S3Store } from "@kiln/core/upload/s3";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () =>
 *     new S3Store({
 *       endpoint: "https://my-bucket.s3.eu-west-1.amazonaws.com/",
 *       accessKeyId: "AKIA…",
 *       secretAccessKey: "…",
 *       partSize: 1024 * 1024,
 *     }),
 *   RangeError,
 * );
 * ```
 */
export class S3Store extends ObjectStore {
  /**
   * Creates a store on one bucket.
   *
   * @param options The bucket's URL, the credentials, and the part size and key prefix.
   * @throws {TypeError} When the endpoint is not an http(s) URL or a credential is missing.
   * @throws {RangeError} When `partSize` is below 5 MiB or above 4 GiB, or `timeout` is not
   * a positive whole number.
   */
  constructor(options: S3StoreOptions) {
    const endpoint = new URL(String(options?.endpoint));
    if (endpoint.protocol !== "https:" && endpoint.protocol !== "http:") {
      throw new TypeError(`endpoint must be an http(s) URL, got ${endpoint.protocol}`);
    }
    if (endpoint.search || endpoint.hash) {
      throw new TypeError("endpoint must not have a query or a fragment");
    }
    if (!endpoint.pathname.endsWith("/")) endpoint.pathname += "/";
    for (const name of ["accessKeyId", "secretAccessKey"] as const) {
      if (typeof options[name] !== "string" || options[name] === "") {
        throw new TypeError(`${name} must be a non-empty string`);
      }
    }
    const client = new AwsClient({
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      sessionToken: options.sessionToken,
      service: "s3",
      region: options.region ?? "auto",
      // The tus client retries, after the Retry-After the server sends; retrying here too
      // would hold the upload's lock through aws4fetch's own back-off.
      retries: 0,
    });
    const timeout = options.timeout ?? DEFAULT_TIMEOUT;
    if (!Number.isSafeInteger(timeout) || timeout <= 0) {
      throw new RangeError(
        `timeout must be a positive whole number of milliseconds, got ${timeout}`,
      );
    }
    super(new S3Bucket(client, endpoint.href, timeout), options);
  }
}
