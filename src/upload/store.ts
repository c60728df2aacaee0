/**
 * The store interface: where uploaded bytes go. {@linkcode MemoryStore} and
 * `FileStore` implement it; an object store (S3 multipart, R2) can too.
 *
 * @module
 */
import type { UploadState } from "./state.ts";

/** A finished file in a store. */
export interface StoredFile {
  /** The file's path inside the store. */
  readonly path: string;
  /** Its size in bytes. */
  readonly size: number;
}

/** Called with the number of bytes written so far. */
export type ProgressCallback = (bytesWritten: number) => void;

/**
 * An unfinished upload, open for appending. Obtain one with
 * {@linkcode UploadStore.startChunkedUpload} or
 * {@linkcode UploadStore.resumeChunkedUpload}; end it with exactly one of
 * `finalize()`, `abort()` or `release()`.
 *
 * Contract for implementers: appends are never concurrent (callers await each
 * one); `rollback(offset)` must work for any offset at or after the offset the
 * handle was opened at, which is how the tus server discards a chunk whose
 * checksum failed. An object store can meet it by uploading parts only once
 * enough bytes are buffered and keeping the unflushed tail until `release()`.
 */
export interface ChunkedUpload {
  /** The path the file will have once finalized. */
  readonly path: string;
  /** How many bytes the upload holds. */
  readonly offset: number;
  /**
   * Appends bytes at the current offset.
   *
   * @param chunk The bytes. The store copies what it keeps, so the caller may reuse the buffer.
   * @throws {UploadError} `UPLOAD_CLOSED` after `finalize()`, `abort()` or `release()`.
   */
  append(chunk: Uint8Array): Promise<void>;
  /**
   * Says how many more bytes the request body is known to hold (its
   * Content-Length), so a store may stream whole parts instead of buffering
   * them. Optional, and only a hint: fewer bytes may arrive.
   */
  expect?(bytes: number): void;
  /**
   * Where the upload would stand if the request ended now, when the store
   * cannot keep every byte appended (a part being streamed to object storage
   * is all or nothing). Unset: every byte appended is kept.
   */
  readonly keptOffset?: number;
  /**
   * Drops every byte after `offset`.
   *
   * @param offset The new offset, no larger than the current one.
   * @throws {RangeError} When `offset` is negative or past the current offset.
   */
  rollback(offset: number): Promise<void>;
  /** Closes the handle and keeps the unfinished upload, to be resumed later. */
  release(): Promise<void>;
  /** Makes the bytes the finished file at `path`, replacing any file there. */
  finalize(): Promise<StoredFile>;
  /** Discards the unfinished upload and every byte it holds. */
  abort(): Promise<void>;
}

/** Where uploads are kept. */
export interface UploadStore {
  /**
   * Upload state kept with the store's bytes, used by `uploads()` when no
   * `state` option is given (a `FileStore` keeps records beside its files, so
   * a restart loses nothing). Unset: the server keeps state in memory.
   */
  readonly state?: UploadState;
  /**
   * Starts an empty unfinished upload that will become the file at `path`.
   *
   * @param path Segments of letters, digits, `.`, `_`, `-`, separated by `/`.
   * @returns The open upload.
   * @throws {TypeError} When `path` is not a safe relative path.
   * @throws {UploadError} `UPLOAD_EXISTS` when an unfinished upload holds `path`.
   */
  startChunkedUpload(path: string): Promise<ChunkedUpload>;
  /**
   * Reopens an unfinished upload at `offset`, dropping any bytes after it
   * (left by a request that failed before its offset was recorded).
   *
   * @param path The upload's path.
   * @param offset The offset to continue from.
   * @returns The open upload.
   * @throws {UploadError} `UPLOAD_NOT_FOUND` when no unfinished upload holds at least `offset` bytes there.
   */
  resumeChunkedUpload(path: string, offset: number): Promise<ChunkedUpload>;
  /**
   * Writes a whole stream as the file at `path`, reporting progress; on any
   * failure nothing is left behind.
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
  ): Promise<StoredFile>;
  /**
   * Describes a finished file.
   *
   * @param path The file's path.
   * @returns The file, or `null` when there is no finished file at `path`.
   */
  stat(path: string): Promise<StoredFile | null>;
  /**
   * Reads a finished file.
   *
   * @param path The file's path.
   * @returns Its bytes, or `null` when there is no finished file at `path`.
   */
  read(path: string): Promise<ReadableStream<Uint8Array> | null>;
  /**
   * Deletes the finished file and any unfinished upload at `path`.
   *
   * @param path The path.
   * @returns `true` when something was deleted.
   */
  delete(path: string): Promise<boolean>;
  /**
   * Makes the finished file at `path` from finished files, one after another
   * (the tus `concatenation` extension, which `uploads()` offers only when
   * the store has this method). The sources are kept.
   *
   * @param path The new file's path.
   * @param sources The finished files' paths, in order.
   * @returns The new file.
   * @throws {UploadError} `UPLOAD_NOT_FOUND` when a source is not a finished file.
   */
  concatenate?(path: string, sources: readonly string[]): Promise<StoredFile>;
}
