/**
 * Upload records kept as files beside a {@linkcode FileStore}'s bytes, one
 * `<id>.json` per upload, so a restarted server still knows every upload.
 * Locks stay in this process; several processes need `RedisUploadState`.
 */
import { link, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { UploadError } from "./errors.ts";
import { corrupt, parseRecord } from "./_record_schema.ts";
import { ID } from "./_protocol.ts";
import { lockInProcess } from "./_held_locks.ts";
import type { UploadLock, UploadRecord, UploadState } from "./state.ts";

/** How a file is named: `<id>.json`; anything else in the folder is not a record. */
const RECORD_FILE = /^([A-Za-z0-9_-]{1,128})\.json$/;
/** Temporary files: `<id>.json.<random>.tmp`, renamed over the record once complete. */
const TEMP_FILE = /^[A-Za-z0-9_-]{1,128}\.json\.[0-9a-f]{32}\.tmp$/;
/** A temp file this old was left by a crash (a write takes milliseconds), and is removed. */
const STALE_TEMP_MS = 3_600_000;
/** Larger files are not records (metadata is capped at 4 KiB by default, the head at 4100 bytes). */
const MAX_RECORD_BYTES = 1 << 20;

/**
 * Held locks per records folder, shared by every state object on that folder
 * in this process (two `FileStore`s on one directory must not both write).
 */
const heldLocks = new Map<string, Set<string>>();

/** Upload state in `<directory>/<id>.json` files, written atomically. */
export class FileUploadState implements UploadState {
  #directory: string;
  #ready: Promise<unknown> | null = null;
  #locks: Set<string>;

  /** Keeps records in `directory`, created on first write. */
  constructor(directory: string) {
    this.#directory = resolve(directory);
    let locks = heldLocks.get(this.#directory);
    if (!locks) heldLocks.set(this.#directory, locks = new Set());
    this.#locks = locks;
  }

  async create(record: UploadRecord): Promise<boolean> {
    const file = this.#file(record.id);
    const temp = await this.#writeTemp(record);
    try {
      // link() fails when the name exists: an atomic create-if-absent of a complete file.
      await link(temp, file);
      return true;
    } catch (error) {
      if (codeOf(error) === "EEXIST") return false;
      throw error;
    } finally {
      await unlink(temp).catch(() => {});
    }
  }

  async get(id: string): Promise<UploadRecord | null> {
    const file = this.#file(id);
    let text: string;
    try {
      const info = await stat(file);
      if (info.size > MAX_RECORD_BYTES) throw corrupt(id, `it holds ${info.size} bytes`);
      text = await readFile(file, "utf8");
    } catch (error) {
      if (codeOf(error) === "ENOENT") return null;
      throw error;
    }
    return parseRecord(id, text);
  }

  async save(record: UploadRecord): Promise<boolean> {
    const file = this.#file(record.id);
    // Callers hold the upload's lock, as does every delete(), so the record cannot vanish
    // between this check and the rename below.
    if (!(await exists(file))) return false;
    const temp = await this.#writeTemp(record);
    try {
      await rename(temp, file);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
    return true;
  }

  async delete(id: string): Promise<boolean> {
    try {
      await unlink(this.#file(id));
      return true;
    } catch (error) {
      if (codeOf(error) === "ENOENT") return false;
      throw error;
    }
  }

  lock(id: string): Promise<UploadLock | null> {
    try {
      checkId(id);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve(lockInProcess(this.#locks, id));
  }

  /**
   * Reads every record to find the due ones (fine for the thousands of uploads
   * one disk serves). Unreadable records are skipped, not removed: their bytes
   * may matter, so they are left for an operator. Temp files a crash left
   * behind are removed once stale.
   */
  async due(now: number, limit: number): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.#directory);
    } catch (error) {
      if (codeOf(error) === "ENOENT") return [];
      throw error;
    }
    const due: [number, string][] = [];
    for (const name of names) {
      if (TEMP_FILE.test(name)) {
        await this.#removeIfStale(`${this.#directory}/${name}`, now);
        continue;
      }
      const id = RECORD_FILE.exec(name)?.[1];
      if (id === undefined) continue;
      const record = await this.get(id).catch((error) => {
        if (error instanceof UploadError && error.code === "UPLOAD_RECORD_CORRUPT") return null;
        throw error;
      });
      if (record?.sweepAt != null && record.sweepAt <= now) due.push([record.sweepAt, id]);
    }
    return due.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1)).slice(0, limit).map((
      [, id],
    ) => id);
  }

  /** Writes the record to a fresh temp file beside its final name and returns that name. */
  async #writeTemp(record: UploadRecord): Promise<string> {
    const file = this.#file(record.id);
    this.#ready ??= mkdir(this.#directory, { recursive: true });
    await this.#ready.catch((error) => {
      this.#ready = null;
      throw error;
    });
    const temp = `${file}.${crypto.randomUUID().replaceAll("-", "")}.tmp`;
    try {
      await writeFile(temp, JSON.stringify(record), { flag: "wx" });
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
    return temp;
  }

  async #removeIfStale(path: string, now: number): Promise<void> {
    try {
      const info = await stat(path);
      if (info.mtimeMs + STALE_TEMP_MS <= now) await unlink(path);
    } catch (error) {
      if (codeOf(error) !== "ENOENT") throw error;
    }
  }

  #file(id: string): string {
    checkId(id);
    return `${this.#directory}/${id}.json`;
  }
}

/** Only server-made ids name files, so no id can leave the folder or collide with a temp file. */
function checkId(id: unknown): asserts id is string {
  if (typeof id !== "string" || !ID.test(id)) {
    throw new TypeError(
      `Upload id must match ${ID}, got ${
        typeof id === "string" ? JSON.stringify(id.slice(0, 80)) : typeof id
      }`,
    );
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if (codeOf(error) === "ENOENT") return false;
    throw error;
  }
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown })?.code;
}
