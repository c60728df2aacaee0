/**
 * Resumable uploads: a tus 1.0.0 server as a Hono router ({@linkcode uploads}),
 * stores for the bytes ({@linkcode MemoryStore} here, `FileStore` from
 * `@kiln/core/upload/file-store`), and upload state in memory or Redis so a
 * resume can land on any instance. The client, `uploadFile()`, has its own
 * entry point, `@kiln/core/upload/client`, so a browser bundle never pulls in
 * the server. Object storage has its own entry points: `S3Store` in
 * `@kiln/core/upload/s3` (any S3-compatible bucket, every runtime) and
 * `R2Store` in `@kiln/core/upload/r2` (R2 through a Workers binding). The
 * contracts a store author implements are in `@kiln/core/upload/store`.
 *
 * @example Mounting the server
 * ```ts
 * import { Hono } from "hono";
 * import { MemoryStore, uploads } from "@kiln/core/upload";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * app.route("/files", uploads({ store: new MemoryStore(), maxSize: 100 * 1024 * 1024 }));
 * const created = await app.request("/files", {
 *   method: "POST",
 *   headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "42" },
 * });
 * assert.equal(created.status, 201);
 * assert.match(created.headers.get("Location")!, /\/files\/[0-9a-f]{32}$/);
 * ```
 *
 * @module
 */
// What a store author implements (UploadStore, ChunkedUpload, UploadState, …) is in
// `@kiln/core/upload/store`; an application calls a store, so these two stay.
export type { ProgressCallback, StoredFile } from "./store.ts";
export { MemoryStore } from "./memory_store.ts";
export { MemoryUploadState } from "./state.ts";
export { RedisUploadState, type RedisUploadStateOptions } from "./redis_state.ts";
export { type CleanupResult, uploads, type UploadsApp } from "./server.ts";
export type {
  UploadErrorAnswer,
  UploadErrorSource,
  UploadInfo,
  UploadProgress,
  UploadRefusal,
  UploadsOptions,
} from "./server_options.ts";
export { TUS_CORS_HEADERS } from "./cors_headers.ts";
export type { Clock } from "../clock.ts";
export type { BroadcastProgressOptions, ProgressHub } from "./progress_broadcast.ts";
