/**
 * Where the tus server keeps what it knows about each upload (its length,
 * offset, metadata and expiry), and the per-upload lock. Bytes live in the
 * {@linkcode import("./store.ts").UploadStore}; this is the bookkeeping.
 *
 * @module
 */
import { lockInProcess } from "./_held_locks.ts";

/** What the server records about one upload. */
export interface UploadRecord {
  /** The upload's id, also its path in the store. */
  readonly id: string;
  /** The declared length in bytes, or `null` while deferred. */
  length: number | null;
  /** How many bytes the store holds. */
  offset: number;
  /** The decoded `Upload-Metadata` (a key without value maps to `null`). */
  readonly metadata: Record<string, string | null>;
  /** The raw `Upload-Metadata` header, echoed on HEAD. */
  readonly rawMetadata: string | null;
  /** Creation time, in milliseconds since the epoch. */
  readonly createdAt: number;
  /** When the unfinished upload expires, or `null` for never. */
  expiresAt: number | null;
  /** When the last byte arrived, or `null` while unfinished. */
  completedAt: number | null;
  /** The MIME type found from the first bytes, once checked. */
  type: string | null;
  /** The first bytes (base64) kept while too few arrived to check the type. */
  head: string | null;
  /**
   * When `cleanupExpired()` deals with the upload: removes an unfinished one,
   * or forgets the record of a finished one (its file stays). `null` for never.
   */
  sweepAt: number | null;
  /**
   * The realtime channel progress is broadcast to, chosen once at creation by
   * the `broadcastProgress` option; `null` (or absent, in records written
   * before the option existed) for none.
   */
  channel?: string | null;
  /**
   * The tus concatenation extension: `"partial"` for an upload sent to be
   * joined, the ids of the partial uploads a final upload was joined from,
   * or `null` (or absent, in records written before the extension) for an
   * ordinary upload.
   */
  concat?: "partial" | string[] | null;
}

/** A held per-upload lock. */
export interface UploadLock {
  /** Releases the lock. Safe to call twice. */
  release(): Promise<void>;
}

/**
 * Upload bookkeeping: {@linkcode MemoryUploadState} for one process,
 * `RedisUploadState` so a resume can land on any instance.
 */
export interface UploadState {
  /**
   * Records a new upload.
   *
   * @param record The upload.
   * @returns `false` when the id is taken.
   */
  create(record: UploadRecord): Promise<boolean>;
  /**
   * Reads an upload.
   *
   * @param id The upload's id.
   * @returns The record, or `null` when unknown or removed.
   */
  get(id: string): Promise<UploadRecord | null>;
  /**
   * Saves an upload that exists; never brings a removed one back.
   *
   * @param record The upload.
   * @returns `false` when the upload no longer exists.
   */
  save(record: UploadRecord): Promise<boolean>;
  /**
   * Removes an upload's record.
   *
   * @param id The upload's id.
   * @returns `true` when it existed.
   */
  delete(id: string): Promise<boolean>;
  /**
   * Takes the upload's lock, held until released or, in shared state, until
   * its holder stops renewing it.
   *
   * @param id The upload's id.
   * @returns The lock, or `null` when someone else holds it.
   */
  lock(id: string): Promise<UploadLock | null>;
  /**
   * Lists uploads whose `sweepAt` has passed.
   *
   * @param now The current time, in milliseconds since the epoch.
   * @param limit At most this many.
   * @returns Their ids, oldest first.
   */
  due(now: number, limit: number): Promise<string[]>;
}

/**
 * Upload state in process memory: the default, for one server process.
 *
 * @example Locking an upload
 * ```ts
 * import { MemoryUploadState } from "@kiln/core/upload";
 * import assert from "node:assert/strict";
 *
 * const state = new MemoryUploadState();
 * const lock = await state.lock("abc");
 * assert.ok(lock);
 * assert.equal(await state.lock("abc"), null);
 * await lock.release();
 * assert.ok(await state.lock("abc"));
 * ```
 */
export class MemoryUploadState implements UploadState {
  #records = new Map<string, string>();
  #locks = new Set<string>();

  /**
   * Records a new upload.
   *
   * @param record The upload.
   * @returns `false` when the id is taken.
   */
  create(record: UploadRecord): Promise<boolean> {
    if (this.#records.has(record.id)) return Promise.resolve(false);
    // Stored as JSON so callers can never mutate the stored record by reference, as with Redis.
    this.#records.set(record.id, JSON.stringify(record));
    return Promise.resolve(true);
  }

  /**
   * Reads an upload.
   *
   * @param id The upload's id.
   * @returns The record, or `null`.
   */
  get(id: string): Promise<UploadRecord | null> {
    const json = this.#records.get(id);
    return Promise.resolve(json === undefined ? null : JSON.parse(json));
  }

  /**
   * Saves an upload that exists.
   *
   * @param record The upload.
   * @returns `false` when it no longer exists.
   */
  save(record: UploadRecord): Promise<boolean> {
    if (!this.#records.has(record.id)) return Promise.resolve(false);
    this.#records.set(record.id, JSON.stringify(record));
    return Promise.resolve(true);
  }

  /**
   * Removes an upload's record.
   *
   * @param id The upload's id.
   * @returns `true` when it existed.
   */
  delete(id: string): Promise<boolean> {
    return Promise.resolve(this.#records.delete(id));
  }

  /**
   * Takes the upload's lock.
   *
   * @param id The upload's id.
   * @returns The lock, or `null` when held.
   */
  lock(id: string): Promise<UploadLock | null> {
    return Promise.resolve(lockInProcess(this.#locks, id));
  }

  /**
   * Lists uploads whose `sweepAt` has passed.
   *
   * @param now The current time.
   * @param limit At most this many.
   * @returns Their ids, oldest first.
   */
  due(now: number, limit: number): Promise<string[]> {
    const due: [number, string][] = [];
    for (const [id, json] of this.#records) {
      const { sweepAt } = JSON.parse(json) as UploadRecord;
      if (sweepAt !== null && sweepAt <= now) due.push([sweepAt, id]);
    }
    return Promise.resolve(due.sort((a, b) => a[0] - b[0]).slice(0, limit).map(([, id]) => id));
  }
}
