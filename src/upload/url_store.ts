/**
 * Where the upload client remembers upload URLs, so an upload can resume
 * after a failure or a page reload.
 *
 * @module
 */

/** Maps an upload's fingerprint to its URL on the server. */
export interface UrlStore {
  /** Returns the URL saved for `fingerprint`, or `null`. */
  get(fingerprint: string): Promise<string | null>;
  /** Saves the URL of an upload in progress. */
  set(fingerprint: string, url: string): Promise<void>;
  /** Forgets an upload (finished, or gone from the server). */
  remove(fingerprint: string): Promise<void>;
}

/**
 * Keeps URLs in memory: resumes within one process (after a failure), not
 * across restarts. The default where `localStorage` is missing.
 *
 * @example Remembering an upload
 * ```ts
 * import { MemoryUrlStore } from "@kiln/core/upload/client";
 * import assert from "node:assert/strict";
 *
 * const urls = new MemoryUrlStore();
 * await urls.set("photo.jpg:1024", "https://example.com/files/abc");
 * assert.equal(await urls.get("photo.jpg:1024"), "https://example.com/files/abc");
 * ```
 */
export class MemoryUrlStore implements UrlStore {
  #urls = new Map<string, string>();

  /**
   * Returns the saved URL.
   *
   * @param fingerprint The upload's fingerprint.
   * @returns The URL, or `null`.
   */
  get(fingerprint: string): Promise<string | null> {
    return Promise.resolve(this.#urls.get(fingerprint) ?? null);
  }

  /**
   * Saves a URL.
   *
   * @param fingerprint The upload's fingerprint.
   * @param url Its URL.
   */
  set(fingerprint: string, url: string): Promise<void> {
    this.#urls.set(fingerprint, url);
    return Promise.resolve();
  }

  /**
   * Forgets a URL.
   *
   * @param fingerprint The upload's fingerprint.
   */
  remove(fingerprint: string): Promise<void> {
    this.#urls.delete(fingerprint);
    return Promise.resolve();
  }
}

/**
 * Keeps URLs in `localStorage` (browsers, and Deno with `--location`), so an
 * upload resumes after a page reload.
 *
 * @example Using localStorage under a prefix
 * ```ts
 * import { LocalStorageUrlStore, MemoryUrlStore, type UrlStore } from "@kiln/core/upload/client";
 * import assert from "node:assert/strict";
 *
 * // Browsers (and Deno) have localStorage; elsewhere, fall back to memory.
 * let urls: UrlStore;
 * try {
 *   urls = new LocalStorageUrlStore(`my-app-${crypto.randomUUID()}:`);
 * } catch {
 *   urls = new MemoryUrlStore();
 * }
 * await urls.set("report.pdf|1024", "https://example.com/files/abc");
 * assert.equal(await urls.get("report.pdf|1024"), "https://example.com/files/abc");
 * await urls.remove("report.pdf|1024");
 * assert.equal(await urls.get("report.pdf|1024"), null);
 * ```
 */
export class LocalStorageUrlStore implements UrlStore {
  #storage: Storage;
  #prefix: string;

  /**
   * Creates a store on `localStorage`.
   *
   * @param prefix Prepended to every key.
   * @default prefix "kiln-upload:"
   * @throws {TypeError} When `localStorage` is not available.
   */
  constructor(prefix = "kiln-upload:") {
    const storage = localStorageOrNull();
    if (!storage) throw new TypeError("localStorage is not available in this runtime");
    this.#storage = storage;
    this.#prefix = prefix;
  }

  /**
   * Returns the saved URL.
   *
   * @param fingerprint The upload's fingerprint.
   * @returns The URL, or `null`.
   */
  get(fingerprint: string): Promise<string | null> {
    return Promise.resolve(this.#storage.getItem(this.#prefix + fingerprint));
  }

  /**
   * Saves a URL.
   *
   * @param fingerprint The upload's fingerprint.
   * @param url Its URL.
   */
  set(fingerprint: string, url: string): Promise<void> {
    this.#storage.setItem(this.#prefix + fingerprint, url);
    return Promise.resolve();
  }

  /**
   * Forgets a URL.
   *
   * @param fingerprint The upload's fingerprint.
   */
  remove(fingerprint: string): Promise<void> {
    this.#storage.removeItem(this.#prefix + fingerprint);
    return Promise.resolve();
  }
}

/** `localStorage` when this runtime has a usable one; some throw on mere access. */
export function localStorageOrNull(): Storage | null {
  try {
    const storage = (globalThis as { localStorage?: Storage }).localStorage;
    return storage && typeof storage.getItem === "function" ? storage : null;
  } catch {
    return null;
  }
}
