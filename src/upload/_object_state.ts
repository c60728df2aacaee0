/**
 * Upload state in the bucket itself: each tus record lives in its upload's
 * `<key>.info` object beside the part list, so an object store needs nothing
 * else and a restarted server (or another Worker isolate) still knows every
 * upload. Locks are held in this process only; while one is held, its info
 * object is read from the bucket once (see `InfoObjects`).
 */
import { lockInProcess } from "./_held_locks.ts";
import type { InfoObjects } from "./_object_info.ts";
import type { ObjectBucket } from "./object_bucket.ts";
import type { UploadLock, UploadRecord, UploadState } from "./state.ts";

/** Upload records in `<key>.info` objects. */
export class ObjectUploadState implements UploadState {
  #bucket: ObjectBucket;
  #info: InfoObjects;
  #prefix: string;
  #locks = new Set<string>();

  constructor(bucket: ObjectBucket, info: InfoObjects, prefix: string) {
    this.#bucket = bucket;
    this.#info = info;
    this.#prefix = prefix;
  }

  async create(record: UploadRecord): Promise<boolean> {
    const key = this.#prefix + record.id;
    const current = await this.#info.read(key, record.id);
    if (current?.record) return false;
    await this.#info.write(key, { upload: current?.upload ?? null, record });
    return true;
  }

  async get(id: string): Promise<UploadRecord | null> {
    return (await this.#info.read(this.#prefix + id, id))?.record ?? null;
  }

  async save(record: UploadRecord): Promise<boolean> {
    const key = this.#prefix + record.id;
    const current = await this.#info.read(key, record.id);
    if (!current?.record) return false;
    await this.#info.write(key, { upload: current.upload, record });
    return true;
  }

  async delete(id: string): Promise<boolean> {
    const key = this.#prefix + id;
    const current = await this.#info.read(key, id).catch(() => null);
    await this.#info.write(key, { upload: null, record: null });
    return current?.record != null;
  }

  /** Also lets the info objects remember this upload's info while the lock is held. */
  lock(id: string): Promise<UploadLock | null> {
    const lock = lockInProcess(this.#locks, id);
    if (!lock) return Promise.resolve(null);
    const key = this.#prefix + id;
    this.#info.hold(key);
    let held = true;
    return Promise.resolve({
      release: () => {
        // Once: a second release must not forget what the next holder remembers.
        if (held) this.#info.drop(key);
        held = false;
        return lock.release();
      },
    });
  }

  /** Reads every info object under the prefix (one list, then one read each): fine for the thousands of uploads a sweep sees. */
  async due(now: number, limit: number): Promise<string[]> {
    const due: [number, string][] = [];
    for await (const object of this.#bucket.list(this.#prefix)) {
      const id = object.key.slice(this.#prefix.length).replace(/\.info$/, "");
      if (!object.key.endsWith(".info") || id.includes("/")) continue;
      const record = await this.get(id).catch(() => null);
      if (record?.sweepAt != null && record.sweepAt <= now) due.push([record.sweepAt, id]);
    }
    return due.sort((a, b) => a[0] - b[0]).slice(0, limit).map(([, id]) => id);
  }
}
