/**
 * Uploads in progress, for the dashboard's uploads page: wire its
 * `onProgress` and `onComplete` into `uploads()` and pass it to `dashboard()`.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import type { UploadInfo, UploadProgress } from "../upload/mod.ts";

/** One upload as the dashboard lists it. */
export interface UploadActivityEntry {
  /** The upload's id. */
  readonly id: string;
  /** Bytes received so far. */
  readonly offset: number;
  /** The declared length, or `null` while deferred. */
  readonly length: number | null;
  /** When bytes last arrived, in epoch milliseconds. */
  readonly updatedAt: number;
  /** Whether the last byte is stored. */
  readonly complete: boolean;
}

/** Options for {@linkcode UploadActivity}. */
export interface UploadActivityOptions {
  /** How many uploads are kept, oldest dropped first. @default 200 */
  limit?: number;
  /** Uploads with no bytes for this long, in milliseconds, are no longer listed. @default 3_600_000 */
  idle?: number;
  /** Time. @default systemClock */
  clock?: Clock;
}

/**
 * Keeps the recent uploads of one process, bounded in count and age.
 *
 * @example Following uploads on the dashboard
 * ```ts
 * import { Hono } from "hono";
 * import { MemoryStore, uploads } from "@kiln/core/upload";
 * import { UploadActivity } from "@kiln/core/dashboard";
 * import assert from "node:assert/strict";
 *
 * const activity = new UploadActivity();
 * const files = uploads({
 *   store: new MemoryStore(),
 *   maxSize: 1_000_000,
 *   onProgress: (progress) => activity.onProgress(progress),
 *   onComplete: (upload) => activity.onComplete(upload),
 * });
 * const app = new Hono().route("/files", files);
 * const created = await app.request("/files", {
 *   method: "POST",
 *   headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "3", "Content-Type": "application/offset+octet-stream" },
 *   body: new Uint8Array([1, 2, 3]),
 * });
 * assert.equal(created.status, 201);
 * const [upload] = activity.list();
 * assert.deepEqual([upload.offset, upload.length, upload.complete], [3, 3, true]);
 * ```
 */
export class UploadActivity {
  #entries = new Map<string, UploadActivityEntry>();
  #limit: number;
  #idle: number;
  #clock: Clock;

  /**
   * Creates an empty list.
   *
   * @param options Bounds and clock.
   * @throws {RangeError} When a bound is not a positive number.
   */
  constructor(options: UploadActivityOptions = {}) {
    this.#limit = options.limit ?? 200;
    this.#idle = options.idle ?? 3_600_000;
    this.#clock = options.clock ?? systemClock;
    if (!Number.isSafeInteger(this.#limit) || this.#limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${this.#limit}`);
    }
    if (!(this.#idle > 0)) throw new RangeError(`idle must be positive, got ${this.#idle}`);
  }

  /**
   * Records progress; pass it as `uploads({ onProgress })`.
   *
   * @param progress The upload's id, offset and length.
   */
  onProgress(progress: UploadProgress): void {
    // A report that arrives after the last byte (from an earlier request) changes nothing.
    if (this.#entries.get(progress.id)?.complete) return;
    const complete = progress.length !== null && progress.offset === progress.length;
    this.#put({ ...pick(progress), complete });
  }

  /**
   * Records a finished upload; pass it as `uploads({ onComplete })`.
   *
   * @param upload The finished upload.
   */
  onComplete(upload: UploadInfo): void {
    this.#put({ ...pick(upload), complete: true });
  }

  /**
   * The uploads that had bytes within `idle`, newest first.
   *
   * @returns The uploads.
   */
  list(): UploadActivityEntry[] {
    const oldest = this.#clock.now() - this.#idle;
    for (const [id, entry] of this.#entries) {
      if (entry.updatedAt < oldest) this.#entries.delete(id);
    }
    return [...this.#entries.values()].reverse();
  }

  #put(entry: Omit<UploadActivityEntry, "updatedAt">): void {
    this.#entries.delete(entry.id); // re-inserted last: the map stays ordered by activity
    this.#entries.set(entry.id, { ...entry, updatedAt: this.#clock.now() });
    if (this.#entries.size > this.#limit) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }
}

function pick(upload: UploadProgress): { id: string; offset: number; length: number | null } {
  return { id: upload.id, offset: upload.offset, length: upload.length };
}
