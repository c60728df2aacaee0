/**
 * An {@linkcode UploadStore} in process memory, for development, tests and Workers.
 *
 * @module
 */
import { UploadError } from "./errors.ts";
import { assertUploadPath } from "./_path.ts";
import { ChunkedStore } from "./chunked_store.ts";
import { settle } from "./_settle.ts";
import type { ChunkedUpload, StoredFile } from "./store.ts";

interface Bytes {
  chunks: Uint8Array[];
  size: number;
}

/**
 * Keeps uploads in memory. Bytes are held as the chunks they arrived in, so
 * appending never copies what is already stored.
 *
 * @example Uploading a stream with progress
 * ```ts
 * import { MemoryStore } from "@kiln/core/upload";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * const seen: number[] = [];
 * const file = await store.uploadWithProgress(
 *   "avatars/7.png",
 *   new Blob(["hello ", "world"]).stream(),
 *   (bytes) => seen.push(bytes),
 * );
 * assert.equal(file.size, 11);
 * assert.equal(seen.at(-1), 11);
 * assert.equal(await new Response(await store.read("avatars/7.png")).text(), "hello world");
 * ```
 */
export class MemoryStore extends ChunkedStore {
  #files = new Map<string, Bytes>();
  #partial = new Map<string, Bytes>();

  /**
   * Starts an empty unfinished upload.
   *
   * @param path The file's path once finalized.
   * @returns The open upload.
   * @throws {TypeError} When `path` is not a safe relative path.
   * @throws {UploadError} `UPLOAD_EXISTS` when an unfinished upload holds `path`.
   */
  startChunkedUpload(path: string): Promise<ChunkedUpload> {
    return settle(() => {
      assertUploadPath(path);
      if (this.#partial.has(path)) {
        throw new UploadError("UPLOAD_EXISTS", `An unfinished upload already holds ${path}`);
      }
      const bytes: Bytes = { chunks: [], size: 0 };
      this.#partial.set(path, bytes);
      return new MemoryChunkedUpload(path, bytes, this.#files, this.#partial);
    });
  }

  /**
   * Reopens an unfinished upload at `offset`.
   *
   * @param path The upload's path.
   * @param offset The offset to continue from; later bytes are dropped.
   * @returns The open upload.
   * @throws {UploadError} `UPLOAD_NOT_FOUND` when no unfinished upload holds `offset` bytes there.
   */
  async resumeChunkedUpload(path: string, offset: number): Promise<ChunkedUpload> {
    assertUploadPath(path);
    const bytes = this.#partial.get(path);
    if (!bytes || bytes.size < offset) {
      throw new UploadError(
        "UPLOAD_NOT_FOUND",
        `No unfinished upload of ${offset} bytes at ${path}`,
      );
    }
    const upload = new MemoryChunkedUpload(path, bytes, this.#files, this.#partial);
    await upload.rollback(offset);
    return upload;
  }

  /**
   * Describes a finished file.
   *
   * @param path The file's path.
   * @returns The file, or `null`.
   */
  stat(path: string): Promise<StoredFile | null> {
    return settle(() => {
      assertUploadPath(path);
      const bytes = this.#files.get(path);
      return bytes ? { path, size: bytes.size } : null;
    });
  }

  /**
   * Reads a finished file.
   *
   * @param path The file's path.
   * @returns Its bytes, or `null`.
   */
  read(path: string): Promise<ReadableStream<Uint8Array> | null> {
    return settle(() => {
      assertUploadPath(path);
      const bytes = this.#files.get(path);
      if (!bytes) return null;
      const chunks = [...bytes.chunks];
      let index = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (index < chunks.length) controller.enqueue(chunks[index++].slice());
          else controller.close();
        },
      });
    });
  }

  /**
   * Deletes the finished file and any unfinished upload at `path`.
   *
   * @param path The path.
   * @returns `true` when something was deleted.
   */
  delete(path: string): Promise<boolean> {
    return settle(() => {
      assertUploadPath(path);
      const file = this.#files.delete(path);
      const partial = this.#partial.delete(path);
      return file || partial;
    });
  }

  /**
   * Lists every path holding a finished file or an unfinished upload, for
   * tests and debugging.
   *
   * @returns The paths, sorted.
   */
  paths(): string[] {
    return [...new Set([...this.#files.keys(), ...this.#partial.keys()])].sort();
  }
}

class MemoryChunkedUpload implements ChunkedUpload {
  readonly path: string;
  #bytes: Bytes;
  #files: Map<string, Bytes>;
  #partial: Map<string, Bytes>;
  #closed = false;

  constructor(path: string, bytes: Bytes, files: Map<string, Bytes>, partial: Map<string, Bytes>) {
    this.path = path;
    this.#bytes = bytes;
    this.#files = files;
    this.#partial = partial;
  }

  get offset(): number {
    return this.#bytes.size;
  }

  append(chunk: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    // Copy: the caller may reuse its buffer (Node streams do).
    this.#bytes.chunks.push(chunk.slice());
    this.#bytes.size += chunk.byteLength;
    return Promise.resolve();
  }

  rollback(offset: number): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (!Number.isInteger(offset) || offset < 0 || offset > this.#bytes.size) {
      return Promise.reject(
        new RangeError(`Rollback offset must be between 0 and ${this.#bytes.size}, got ${offset}`),
      );
    }
    const kept: Uint8Array[] = [];
    let size = 0;
    for (const chunk of this.#bytes.chunks) {
      if (size >= offset) break;
      const take = Math.min(chunk.byteLength, offset - size);
      kept.push(take === chunk.byteLength ? chunk : chunk.subarray(0, take));
      size += take;
    }
    this.#bytes.chunks = kept;
    this.#bytes.size = size;
    return Promise.resolve();
  }

  release(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  finalize(): Promise<StoredFile> {
    if (this.#closed) return Promise.reject(this.#closedError());
    this.#closed = true;
    this.#partial.delete(this.path);
    this.#files.set(this.path, this.#bytes);
    return Promise.resolve({ path: this.path, size: this.#bytes.size });
  }

  abort(): Promise<void> {
    this.#closed = true;
    if (this.#partial.get(this.path) === this.#bytes) this.#partial.delete(this.path);
    return Promise.resolve();
  }

  #closedError(): UploadError {
    return new UploadError("UPLOAD_CLOSED", `The upload of ${this.path} is already closed`);
  }
}
