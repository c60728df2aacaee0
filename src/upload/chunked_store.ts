/**
 * A base for stores built on their own chunked uploads: extend it, implement
 * the chunked upload and the finished-file methods, and `uploadWithProgress`
 * and `concatenate` (the tus concatenation extension) come with it.
 * `MemoryStore`, `FileStore`, `S3Store` and `R2Store` all extend it.
 *
 * @module
 */
import { concatenateByCopy, pipeToStore } from "./_pipe.ts";
import type { UploadState } from "./state.ts";
import type { ChunkedUpload, ProgressCallback, StoredFile, UploadStore } from "./store.ts";

/**
 * An {@linkcode UploadStore} whose whole-file writes and joins go through
 * its own chunked uploads.
 *
 * @example A store that keeps nothing but its sizes
 * ```ts
 * import { ChunkedStore, type ChunkedUpload, type StoredFile } from "@kiln/core/upload/store";
 * import assert from "node:assert/strict";
 *
 * class SizeStore extends ChunkedStore {
 *   sizes = new Map<string, number>();
 *   startChunkedUpload(path: string): Promise<ChunkedUpload> {
 *     let offset = 0;
 *     const sizes = this.sizes;
 *     return Promise.resolve({
 *       path,
 *       get offset() { return offset; },
 *       append: (chunk) => Promise.resolve(void (offset += chunk.byteLength)),
 *       rollback: (to) => Promise.resolve(void (offset = to)),
 *       release: () => Promise.resolve(),
 *       finalize: () => Promise.resolve((sizes.set(path, offset), { path, size: offset })),
 *       abort: () => Promise.resolve(),
 *     });
 *   }
 *   resumeChunkedUpload(): Promise<ChunkedUpload> {
 *     return Promise.reject(new Error("not kept"));
 *   }
 *   stat(path: string): Promise<StoredFile | null> {
 *     const size = this.sizes.get(path);
 *     return Promise.resolve(size === undefined ? null : { path, size });
 *   }
 *   read(): Promise<ReadableStream<Uint8Array> | null> {
 *     return Promise.resolve(new Blob([]).stream());
 *   }
 *   delete(path: string): Promise<boolean> {
 *     return Promise.resolve(this.sizes.delete(path));
 *   }
 * }
 *
 * const store = new SizeStore();
 * const file = await store.uploadWithProgress("a.txt", new Blob(["hello"]).stream());
 * assert.deepEqual(file, { path: "a.txt", size: 5 });
 * ```
 */
export abstract class ChunkedStore implements UploadStore {
  /** Upload state kept with the store's bytes, if the store keeps any. */
  readonly state?: UploadState;
  /** Starts an empty unfinished upload (see {@linkcode UploadStore.startChunkedUpload}). */
  abstract startChunkedUpload(path: string): Promise<ChunkedUpload>;
  /** Reopens an unfinished upload (see {@linkcode UploadStore.resumeChunkedUpload}). */
  abstract resumeChunkedUpload(path: string, offset: number): Promise<ChunkedUpload>;
  /** Describes a finished file (see {@linkcode UploadStore.stat}). */
  abstract stat(path: string): Promise<StoredFile | null>;
  /** Reads a finished file (see {@linkcode UploadStore.read}). */
  abstract read(path: string): Promise<ReadableStream<Uint8Array> | null>;
  /** Deletes a file and any unfinished upload (see {@linkcode UploadStore.delete}). */
  abstract delete(path: string): Promise<boolean>;

  /**
   * Writes a whole stream as the file at `path` through one chunked upload;
   * on any failure the upload is aborted, so nothing is left behind.
   *
   * @param path The file's path.
   * @param stream The bytes.
   * @param onProgress Called after each chunk with the bytes written so far.
   * @returns The stored file.
   */
  uploadWithProgress(
    path: string,
    stream: ReadableStream<Uint8Array>,
    onProgress?: ProgressCallback,
  ): Promise<StoredFile> {
    return pipeToStore(this, path, stream, onProgress);
  }

  /**
   * Makes the file at `path` from finished files, one after another, by
   * reading each into one chunked upload; the sources are kept.
   *
   * @param path The new file's path.
   * @param sources The finished files' paths, in order.
   * @returns The new file.
   * @throws {UploadError} `UPLOAD_NOT_FOUND` when a source is not a finished file.
   */
  concatenate(path: string, sources: readonly string[]): Promise<StoredFile> {
    return concatenateByCopy(this, path, sources);
  }
}
