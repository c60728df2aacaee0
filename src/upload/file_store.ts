/**
 * An {@linkcode UploadStore} on the local file system, for Deno, Bun and Node.
 *
 * This is the only module of Kiln that touches a file system, which is why it
 * has its own export path (`@kiln/core/upload/file-store`): importing
 * `@kiln/core/upload` alone stays runnable on Workers.
 *
 * @example Storing a stream on disk
 * ```ts
 * import { FileStore } from "@kiln/core/upload/file-store";
 * import assert from "node:assert/strict";
 *
 * const directory = await Deno.makeTempDir();
 * const store = new FileStore({ directory });
 * const file = await store.uploadWithProgress("reports/q1.csv", new Blob(["a,b\n1,2\n"]).stream());
 * assert.equal(file.size, 8);
 * assert.equal(await Deno.readTextFile(`${directory}/reports/q1.csv`), "a,b\n1,2\n");
 * await Deno.remove(directory, { recursive: true });
 * ```
 *
 * @module
 */
import { mkdir, open, rename, rm, stat, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { UploadError } from "./errors.ts";
import { assertUploadPath } from "./_path.ts";
import { ChunkedStore } from "./chunked_store.ts";
import { FileUploadState } from "./_file_state.ts";
import type { UploadState } from "./state.ts";
import type { ChunkedUpload, StoredFile } from "./store.ts";

/** Options for {@linkcode FileStore}. */
export interface FileStoreOptions {
  /** The directory holding finished files; created when missing. */
  directory: string;
}

/** Unfinished uploads live below this folder; no valid path can start with `.`, so none can reach it. */
const PARTIAL_DIR = ".partial";
/** The tus server's upload records (`<id>.json`), out of every path's reach for the same reason. */
const RECORDS_DIR = ".info";

/**
 * Keeps uploads as files below one directory. Unfinished uploads are written
 * under `<directory>/.partial/` and renamed into place when finalized, so a
 * reader never sees half a file. Paths are checked strictly (see
 * {@linkcode UploadStore.startChunkedUpload}), so no path can leave `directory`.
 *
 * For the tus server it also keeps each upload's record (offset, length,
 * metadata, expiry) beside the bytes, in `<directory>/.info/<id>.json`,
 * written to a temporary file and renamed into place so a crash never leaves
 * half a record. `uploads()` uses these records ({@linkcode FileStore.state})
 * unless given a `state`, so a restarted server answers HEAD and resumes every
 * upload. Locks are held in this process: to serve one directory from several
 * processes, pass a `RedisUploadState` as `state`.
 *
 * @example A restart keeps unfinished uploads
 * ```ts
 * import { FileStore } from "@kiln/core/upload/file-store";
 * import { uploads } from "@kiln/core/upload";
 * import assert from "node:assert/strict";
 *
 * const directory = await Deno.makeTempDir();
 * const before = uploads({ store: new FileStore({ directory }), maxSize: 1024 });
 * const created = await before.request("/", {
 *   method: "POST",
 *   headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "10" },
 * });
 * const id = created.headers.get("Location")!.split("/").pop();
 *
 * // A new process: a new store on the same directory still knows the upload.
 * const after = uploads({ store: new FileStore({ directory }), maxSize: 1024 });
 * const head = await after.request(`/${id}`, {
 *   method: "HEAD",
 *   headers: { "Tus-Resumable": "1.0.0" },
 * });
 * assert.equal(head.headers.get("Upload-Length"), "10");
 * await Deno.remove(directory, { recursive: true });
 * ```
 *
 * @example Appending chunks by hand
 * ```ts
 * import { FileStore } from "@kiln/core/upload/file-store";
 * import assert from "node:assert/strict";
 *
 * const directory = await Deno.makeTempDir();
 * const store = new FileStore({ directory });
 * const upload = await store.startChunkedUpload("a/b.txt");
 * await upload.append(new TextEncoder().encode("hello "));
 * await upload.append(new TextEncoder().encode("world"));
 * assert.deepEqual(await upload.finalize(), { path: "a/b.txt", size: 11 });
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export class FileStore extends ChunkedStore {
  /** The directory holding finished files. */
  readonly directory: string;
  /**
   * The tus server's upload records, kept in `<directory>/.info/`; `uploads()`
   * uses them when no `state` option is given.
   *
   * @example Reading an upload's record
   * ```ts
   * import { FileStore } from "@kiln/core/upload/file-store";
   * import assert from "node:assert/strict";
   *
   * const directory = await Deno.makeTempDir();
   * const { state } = new FileStore({ directory });
   * assert.equal(await state.get("unknown"), null);
   * await Deno.remove(directory, { recursive: true });
   * ```
   */
  override readonly state: UploadState;

  /**
   * Creates a store below `directory`.
   *
   * @param options The directory.
   * @throws {TypeError} When the directory is not a non-empty string.
   */
  constructor(options: FileStoreOptions) {
    super();
    if (typeof options?.directory !== "string" || options.directory.length === 0) {
      throw new TypeError("FileStore directory must be a non-empty string");
    }
    this.directory = options.directory.replace(/\/+$/, "") || "/";
    this.state = new FileUploadState(`${this.directory}/${RECORDS_DIR}`);
  }

  /**
   * Starts an empty unfinished upload.
   *
   * @param path The file's path once finalized.
   * @returns The open upload.
   * @throws {TypeError} When `path` is not a safe relative path.
   * @throws {UploadError} `UPLOAD_EXISTS` when an unfinished upload holds `path`.
   */
  async startChunkedUpload(path: string): Promise<ChunkedUpload> {
    assertUploadPath(path);
    const partial = this.#partialPath(path);
    await mkdir(parentOf(partial), { recursive: true });
    let handle: FileHandle;
    try {
      handle = await open(partial, "wx");
    } catch (error) {
      if (codeOf(error) === "EEXIST") {
        throw new UploadError("UPLOAD_EXISTS", `An unfinished upload already holds ${path}`, {
          cause: error,
        });
      }
      throw error;
    }
    return new FileChunkedUpload(path, partial, this.#finalPath(path), handle, 0);
  }

  /**
   * Reopens an unfinished upload at `offset`, truncating any later bytes.
   *
   * @param path The upload's path.
   * @param offset The offset to continue from.
   * @returns The open upload.
   * @throws {UploadError} `UPLOAD_NOT_FOUND` when no unfinished upload holds `offset` bytes there.
   */
  async resumeChunkedUpload(path: string, offset: number): Promise<ChunkedUpload> {
    assertUploadPath(path);
    const partial = this.#partialPath(path);
    let handle: FileHandle;
    try {
      handle = await open(partial, "r+");
    } catch (error) {
      if (codeOf(error) === "ENOENT") {
        throw new UploadError("UPLOAD_NOT_FOUND", `No unfinished upload at ${path}`, {
          cause: error,
        });
      }
      throw error;
    }
    try {
      const { size } = await handle.stat();
      if (size < offset) {
        throw new UploadError(
          "UPLOAD_NOT_FOUND",
          `The unfinished upload at ${path} holds ${size} bytes, fewer than ${offset}`,
        );
      }
      // Bytes past the recorded offset come from a request that failed before recording them.
      if (size > offset) await handle.truncate(offset);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new FileChunkedUpload(path, partial, this.#finalPath(path), handle, offset);
  }

  /**
   * Describes a finished file.
   *
   * @param path The file's path.
   * @returns The file, or `null`.
   */
  async stat(path: string): Promise<StoredFile | null> {
    assertUploadPath(path);
    try {
      const info = await stat(this.#finalPath(path));
      return info.isFile() ? { path, size: info.size } : null;
    } catch (error) {
      if (codeOf(error) === "ENOENT") return null;
      throw error;
    }
  }

  /**
   * Reads a finished file as a stream of 1 MiB chunks.
   *
   * @param path The file's path.
   * @returns Its bytes, or `null`.
   */
  async read(path: string): Promise<ReadableStream<Uint8Array> | null> {
    if (!(await this.stat(path))) return null;
    const handle = await open(this.#finalPath(path), "r");
    return new ReadableStream<Uint8Array>({
      type: "bytes",
      async pull(controller) {
        const buffer = new Uint8Array(1 << 20);
        const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null);
        if (bytesRead === 0) {
          await handle.close();
          controller.close();
        } else {
          controller.enqueue(buffer.subarray(0, bytesRead));
        }
      },
      async cancel() {
        await handle.close();
      },
    });
  }

  /**
   * Deletes the finished file and any unfinished upload at `path`.
   *
   * @param path The path.
   * @returns `true` when something was deleted.
   */
  async delete(path: string): Promise<boolean> {
    assertUploadPath(path);
    const results = await Promise.all(
      [this.#finalPath(path), this.#partialPath(path)].map((file) =>
        unlink(file).then(() => true, (error) => {
          if (codeOf(error) === "ENOENT") return false;
          throw error;
        })
      ),
    );
    return results.includes(true);
  }

  #finalPath(path: string): string {
    return `${this.directory}/${path}`;
  }

  #partialPath(path: string): string {
    return `${this.directory}/${PARTIAL_DIR}/${path}`;
  }
}

class FileChunkedUpload implements ChunkedUpload {
  readonly path: string;
  #partial: string;
  #final: string;
  #handle: FileHandle | null;
  #offset: number;

  constructor(path: string, partial: string, final: string, handle: FileHandle, offset: number) {
    this.path = path;
    this.#partial = partial;
    this.#final = final;
    this.#handle = handle;
    this.#offset = offset;
  }

  get offset(): number {
    return this.#offset;
  }

  async append(chunk: Uint8Array): Promise<void> {
    const handle = this.#open();
    let written = 0;
    while (written < chunk.byteLength) {
      const { bytesWritten } = await handle.write(
        chunk,
        written,
        chunk.byteLength - written,
        this.#offset + written,
      );
      written += bytesWritten;
    }
    this.#offset += written;
  }

  async rollback(offset: number): Promise<void> {
    const handle = this.#open();
    if (!Number.isInteger(offset) || offset < 0 || offset > this.#offset) {
      throw new RangeError(`Rollback offset must be between 0 and ${this.#offset}, got ${offset}`);
    }
    await handle.truncate(offset);
    this.#offset = offset;
  }

  async release(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    await handle?.close();
  }

  async finalize(): Promise<StoredFile> {
    const handle = this.#open();
    this.#handle = null;
    await handle.close();
    await mkdir(parentOf(this.#final), { recursive: true });
    await rename(this.#partial, this.#final);
    return { path: this.path, size: this.#offset };
  }

  async abort(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    await handle?.close();
    await rm(this.#partial, { force: true });
  }

  #open(): FileHandle {
    if (!this.#handle) {
      throw new UploadError("UPLOAD_CLOSED", `The upload of ${this.path} is already closed`);
    }
    return this.#handle;
  }
}

function parentOf(file: string): string {
  return file.slice(0, file.lastIndexOf("/")) || "/";
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown })?.code;
}
