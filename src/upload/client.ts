/**
 * A tus 1.0 client over `fetch`: uploads a Blob or a stream in chunks, with
 * progress, retries and resume. Runs in browsers, Deno, Bun, Node and Workers.
 *
 * @module
 */
import { UploadRejectedError } from "./errors.ts";
import { utf8ToBase64 } from "./_base64.ts";
import { blobSource, type Source, streamSource } from "./_source.ts";
import {
  localStorageOrNull,
  LocalStorageUrlStore,
  MemoryUrlStore,
  type UrlStore,
} from "./url_store.ts";

/** Options for {@linkcode upload}. */
export interface UploadClientOptions {
  /** The tus endpoint, such as `https://example.com/files`. */
  endpoint: string;
  /**
   * Bytes per PATCH request. Smaller chunks lose less on a failure; keep it
   * under your platform's request-body limit (100 MB on Cloudflare's free plan).
   * @default 8_388_608
   */
  chunkSize?: number;
  /** Sent as `Upload-Metadata` (UTF-8 values, base64-encoded on the wire). */
  metadata?: Record<string, string>;
  /** Extra headers on every request, such as `Authorization`. */
  headers?: Record<string, string>;
  /** Called after each accepted chunk with the bytes stored and the total (`null` while a stream's end is unknown). */
  onProgress?(bytesSent: number, bytesTotal: number | null): void;
  /**
   * Milliseconds to wait before each retry after a network failure or a
   * retryable status (5xx, 409, 423, 429, 460); the server's offset is read
   * again before resending. `[]` disables retries.
   * @default [0, 1000, 3000, 5000]
   */
  retryDelays?: readonly number[];
  /** Aborts the upload; the server keeps what it has, so it can be resumed. */
  signal?: AbortSignal;
  /**
   * Resume an earlier upload of the same source, found in `urlStore` by its fingerprint.
   * @default true
   */
  resume?: boolean;
  /** Where upload URLs are remembered. @default localStorage where available, else process memory */
  urlStore?: UrlStore;
  /**
   * Identifies the source in `urlStore`. Defaults to the endpoint plus a
   * File's name, type, size and date; a stream needs one to resume across calls.
   */
  fingerprint?: string;
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** What {@linkcode upload} resolves with. */
export interface UploadResult {
  /** The upload's URL on the server. */
  url: string;
  /** Its size in bytes. */
  size: number;
}

const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
const DEFAULT_RETRY_DELAYS = [0, 1_000, 3_000, 5_000];
const RETRYABLE = new Set([409, 423, 429, 460]);
const processUrls = new MemoryUrlStore();

/**
 * Uploads a Blob (or File) or a stream to a tus server, resuming from the
 * server's offset after a failure, an abort or a reload.
 *
 * @param source The bytes: a Blob is sliced per chunk (never read whole); a
 *   stream is read one chunk at a time and its length declared at the end.
 * @param options The endpoint, chunk size, metadata and callbacks.
 * @returns The upload's URL and size.
 * @throws {UploadRejectedError} When the server refuses for good (such as 413 or 415).
 * @throws {TypeError} When fetch fails and no retry is left, or an option is malformed.
 *
 * @example Uploading a file with progress
 * ```ts ignore
 * import { upload } from "@kiln/core/upload";
 *
 * const input = document.querySelector("input[type=file]") as HTMLInputElement;
 * const file = input.files![0];
 * const { url } = await upload(file, {
 *   endpoint: "/files",
 *   metadata: { filename: file.name, filetype: file.type },
 *   onProgress: (sent, total) => console.log(`${Math.round((sent / total!) * 100)}%`),
 * });
 * ```
 */
export async function upload(
  source: Blob | ReadableStream<Uint8Array>,
  options: UploadClientOptions,
): Promise<UploadResult> {
  const config = validate(source, options);
  const input = source instanceof Blob
    ? blobSource(source, config.chunkSize)
    : streamSource(source, config.chunkSize);
  try {
    return await new Uploader(input, config, fingerprintOf(source, options)).run();
  } finally {
    await input.close();
  }
}

interface Config {
  endpoint: string;
  chunkSize: number;
  metadata: string | null;
  headers: Record<string, string>;
  onProgress: UploadClientOptions["onProgress"];
  retryDelays: readonly number[];
  signal: AbortSignal | undefined;
  resume: boolean;
  urlStore: UrlStore;
  fetch: typeof fetch;
}

function validate(source: unknown, options: UploadClientOptions): Config {
  if (!(source instanceof Blob) && !(source instanceof ReadableStream)) {
    throw new TypeError("upload() takes a Blob, a File or a ReadableStream");
  }
  if (typeof options?.endpoint !== "string" || options.endpoint.length === 0) {
    throw new TypeError("upload() needs an endpoint URL");
  }
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  const retryDelays = options.retryDelays ?? DEFAULT_RETRY_DELAYS;
  if (!Array.isArray(retryDelays) || retryDelays.some((d) => !Number.isFinite(d) || d < 0)) {
    throw new TypeError("retryDelays must be an array of non-negative numbers");
  }
  let metadata: string | null = null;
  if (options.metadata) {
    metadata = Object.entries(options.metadata).map(([key, value]) => {
      if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(key)) {
        throw new TypeError(
          `Metadata keys must be printable ASCII without spaces or commas, got ${key}`,
        );
      }
      return `${key} ${utf8ToBase64(String(value))}`;
    }).join(",");
  }
  const storage = localStorageOrNull();
  return {
    // Resolve relative endpoints against the page in browsers.
    endpoint:
      new URL(options.endpoint, (globalThis as { location?: { href: string } }).location?.href)
        .href,
    chunkSize,
    metadata,
    headers: options.headers ?? {},
    onProgress: options.onProgress,
    retryDelays,
    signal: options.signal,
    resume: options.resume ?? true,
    urlStore: options.urlStore ?? (storage ? new LocalStorageUrlStore() : processUrls),
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
  };
}

function fingerprintOf(source: Blob | ReadableStream<Uint8Array>, options: UploadClientOptions) {
  if (options.fingerprint !== undefined) return `${options.endpoint}|${options.fingerprint}`;
  if (!(source instanceof Blob)) return null;
  const file = source as Partial<File>;
  return [options.endpoint, file.name ?? "", source.type, source.size, file.lastModified ?? ""]
    .join("|");
}

/** A retryable failure: a network error or a status worth retrying. */
class Retryable extends Error {}

class Uploader {
  #source: Source;
  #config: Config;
  #fingerprint: string | null;
  #url: string | null = null;
  #offset = 0;
  #length: number | null;

  constructor(source: Source, config: Config, fingerprint: string | null) {
    this.#source = source;
    this.#config = config;
    this.#fingerprint = fingerprint;
    this.#length = source.size;
  }

  async run(): Promise<UploadResult> {
    const { urlStore, resume } = this.#config;
    const fingerprint = this.#fingerprint;
    if (resume && fingerprint !== null) {
      const saved = await urlStore.get(fingerprint);
      if (saved !== null) {
        const state = await this.#retrying(() => this.#head(saved));
        if (state) {
          this.#url = saved;
          this.#offset = state.offset;
          if (state.length !== null) this.#length = state.length;
        } else {
          await urlStore.remove(fingerprint);
        }
      }
    }
    if (this.#url === null) {
      this.#url = await this.#retrying(() => this.#create());
      if (fingerprint !== null) await urlStore.set(fingerprint, this.#url);
    }
    const url = this.#url;
    while (this.#length === null || this.#offset < this.#length) {
      await this.#retrying(() => this.#patch(url), async () => {
        const state = await this.#head(url);
        if (!state) throw new UploadRejectedError(404, "The upload is gone from the server");
        this.#offset = state.offset;
      });
    }
    if (fingerprint !== null) await urlStore.remove(fingerprint);
    return { url, size: this.#offset };
  }

  /** Runs `step`, retrying after each delay on a retryable failure, calling `resync` first. */
  async #retrying<T>(step: () => Promise<T>, resync?: () => Promise<void>): Promise<T> {
    const { retryDelays, signal } = this.#config;
    for (let attempt = 0;; attempt++) {
      try {
        if (attempt > 0 && resync) await resync();
        return await step();
      } catch (error) {
        signal?.throwIfAborted();
        const retryable = error instanceof Retryable || error instanceof TypeError;
        if (!retryable || attempt >= retryDelays.length) {
          throw error instanceof Retryable ? error.cause : error;
        }
        await sleep(retryDelays[attempt], signal);
      }
    }
  }

  async #request(url: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await this.#config.fetch(url, {
        ...init,
        headers: { ...this.#config.headers, "Tus-Resumable": "1.0.0", ...init.headers },
        signal: this.#config.signal,
      });
    } catch (error) {
      this.#config.signal?.throwIfAborted();
      throw new Retryable("Network failure", { cause: error });
    }
    if (response.ok) return response;
    const message = (await response.text().catch(() => "")) || response.statusText;
    const error = new UploadRejectedError(
      response.status,
      `Upload server answered ${response.status}: ${message}`,
    );
    if (response.status >= 500 || RETRYABLE.has(response.status)) {
      throw new Retryable(message, { cause: error });
    }
    throw error;
  }

  async #create(): Promise<string> {
    const headers: Record<string, string> = this.#length === null
      ? { "Upload-Defer-Length": "1" }
      : { "Upload-Length": String(this.#length) };
    if (this.#config.metadata !== null) headers["Upload-Metadata"] = this.#config.metadata;
    const response = await this.#request(this.#config.endpoint, { method: "POST", headers });
    await response.body?.cancel();
    const location = response.headers.get("Location");
    if (!location) throw new UploadRejectedError(response.status, "The server sent no Location");
    return new URL(location, this.#config.endpoint).href;
  }

  async #head(url: string): Promise<{ offset: number; length: number | null } | null> {
    try {
      const response = await this.#request(url, { method: "HEAD" });
      const offset = Number(response.headers.get("Upload-Offset"));
      const length = response.headers.get("Upload-Length");
      if (!Number.isSafeInteger(offset)) throw new TypeError("The server sent no Upload-Offset");
      return { offset, length: length === null ? null : Number(length) };
    } catch (error) {
      // Gone, expired or forbidden: start over with a new upload.
      if (error instanceof UploadRejectedError && [403, 404, 410].includes(error.status)) {
        return null;
      }
      throw error;
    }
  }

  async #patch(url: string): Promise<void> {
    const chunk = await this.#source.read(this.#offset);
    const headers: Record<string, string> = {
      "Content-Type": "application/offset+octet-stream",
      "Upload-Offset": String(this.#offset),
    };
    if (this.#length === null && chunk.final) {
      headers["Upload-Length"] = String(this.#offset + chunk.size);
    }
    const response = await this.#request(url, { method: "PATCH", headers, body: chunk.body });
    await response.body?.cancel();
    const offset = Number(response.headers.get("Upload-Offset"));
    if (!Number.isSafeInteger(offset) || offset < this.#offset) {
      throw new UploadRejectedError(response.status, "The server sent a bad Upload-Offset");
    }
    this.#offset = offset;
    if (headers["Upload-Length"] !== undefined) this.#length = Number(headers["Upload-Length"]);
    this.#config.onProgress?.(offset, this.#length);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
