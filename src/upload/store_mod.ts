/**
 * The contracts behind `@kiln/core/upload`, for authors of a store or of
 * upload state of their own. An application never needs this entry point: it
 * picks a store (`MemoryStore` from `@kiln/core/upload`, `FileStore` from
 * `@kiln/core/upload/file-store`) and hands it to `uploads({ store })`.
 *
 * - {@linkcode UploadStore} keeps the bytes; {@linkcode ChunkedUpload} is one
 *   unfinished upload open for appending.
 * - {@linkcode UploadState} keeps each {@linkcode UploadRecord} and the
 *   per-upload {@linkcode UploadLock}.
 *
 * - {@linkcode ChunkedStore} is a base for a store built on its own chunked
 *   uploads: `uploadWithProgress()` and `concatenate()` come with it.
 * - {@linkcode ObjectStore} over an {@linkcode ObjectBucket} is the upload
 *   design of `S3Store` and `R2Store`, for an adapter to another object store.
 *
 * The types these contracts are written in ({@linkcode StoredFile},
 * {@linkcode ProgressCallback}) are repeated here, so a store author imports
 * from one place.
 *
 * @example A store that counts the chunks it is given
 * ```ts
 * import type { ChunkedUpload, UploadStore } from "@kiln/core/upload/store";
 * import { MemoryStore, type StoredFile, uploads } from "@kiln/core/upload";
 * import assert from "node:assert/strict";
 *
 * class CountingStore implements UploadStore {
 *   appends = 0;
 *   #inner = new MemoryStore();
 *   startChunkedUpload(path: string): Promise<ChunkedUpload> {
 *     return this.#inner.startChunkedUpload(path);
 *   }
 *   async resumeChunkedUpload(path: string, offset: number): Promise<ChunkedUpload> {
 *     const upload = await this.#inner.resumeChunkedUpload(path, offset);
 *     const append = upload.append.bind(upload);
 *     upload.append = (chunk: Uint8Array) => (this.appends++, append(chunk));
 *     return upload;
 *   }
 *   uploadWithProgress(path: string, stream: ReadableStream<Uint8Array>): Promise<StoredFile> {
 *     return this.#inner.uploadWithProgress(path, stream);
 *   }
 *   stat = (path: string) => this.#inner.stat(path);
 *   read = (path: string) => this.#inner.read(path);
 *   delete = (path: string) => this.#inner.delete(path);
 * }
 *
 * const store = new CountingStore();
 * const app = uploads({ store, maxSize: 1024 });
 * const tus = { "Tus-Resumable": "1.0.0" };
 * const created = await app.request("/", {
 *   method: "POST",
 *   headers: { ...tus, "Upload-Length": "5" },
 * });
 * const path = new URL(created.headers.get("Location")!).pathname;
 * const patched = await app.request(path, {
 *   method: "PATCH",
 *   headers: { ...tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
 *   body: "hello",
 * });
 * assert.equal(patched.status, 204);
 * assert.equal(store.appends, 1);
 * assert.equal((await store.stat(path.slice(1)))?.size, 5);
 * ```
 *
 * @module
 */
export type { ChunkedUpload, ProgressCallback, StoredFile, UploadStore } from "./store.ts";
export type { UploadLock, UploadRecord, UploadState } from "./state.ts";
export { ChunkedStore } from "./chunked_store.ts";
export { ObjectStore, type ObjectStoreOptions } from "./object_store.ts";
export type {
  ByteRange,
  ListedObject,
  ObjectBucket,
  PartTarget,
  UploadedPart,
} from "./object_bucket.ts";
