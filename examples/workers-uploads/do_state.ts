/**
 * Upload state in a Durable Object's storage: the tus records live in the
 * object's transactional storage, and the per-upload locks in its memory.
 * Every request for an upload reaches the same object, which runs one request
 * at a time between awaits, so a lock taken here holds across every isolate
 * and every colo: two tus clients can never write one upload at once, with no
 * Redis. (The bytes and the part list stay in R2, beside the upload.)
 *
 * @module
 */
import type { UploadLock, UploadRecord, UploadState } from "@kiln/core/upload/store";

/** The part of `DurableObjectStorage` (`ctx.storage`) this uses. */
export interface DurableObjectStorageLike {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<boolean>;
  list<T>(
    options: { prefix: string; startAfter?: string; limit?: number },
  ): Promise<Map<string, T>>;
}

const PREFIX = "upload:";
/** Records read per page by `due()`. */
const PAGE = 500;

/** {@linkcode UploadState} in a Durable Object. */
export class DurableObjectUploadState implements UploadState {
  #storage: DurableObjectStorageLike;
  #locks = new Set<string>();

  constructor(storage: DurableObjectStorageLike) {
    this.#storage = storage;
  }

  async create(record: UploadRecord): Promise<boolean> {
    if (await this.#storage.get(PREFIX + record.id) !== undefined) return false;
    // Stored as JSON text, so no caller ever holds the stored object by reference.
    await this.#storage.put(PREFIX + record.id, JSON.stringify(record));
    return true;
  }

  async get(id: string): Promise<UploadRecord | null> {
    const json = await this.#storage.get<string>(PREFIX + id);
    return json === undefined ? null : JSON.parse(json);
  }

  async save(record: UploadRecord): Promise<boolean> {
    if (await this.#storage.get(PREFIX + record.id) === undefined) return false;
    await this.#storage.put(PREFIX + record.id, JSON.stringify(record));
    return true;
  }

  delete(id: string): Promise<boolean> {
    return this.#storage.delete(PREFIX + id);
  }

  /** In memory: the object is the only place its uploads are written from. */
  lock(id: string): Promise<UploadLock | null> {
    if (this.#locks.has(id)) return Promise.resolve(null);
    this.#locks.add(id);
    let held = true;
    return Promise.resolve({
      release: () => {
        if (held) this.#locks.delete(id);
        held = false;
        return Promise.resolve();
      },
    });
  }

  async due(now: number, limit: number): Promise<string[]> {
    const due: [number, string][] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.#storage.list<string>({ prefix: PREFIX, startAfter, limit: PAGE });
      for (const [key, json] of page) {
        const { sweepAt } = JSON.parse(json) as UploadRecord;
        if (sweepAt !== null && sweepAt <= now) due.push([sweepAt, key.slice(PREFIX.length)]);
      }
      if (page.size < PAGE) break;
      startAfter = [...page.keys()].pop();
    }
    return due.sort((a, b) => a[0] - b[0]).slice(0, limit).map(([, id]) => id);
  }
}
