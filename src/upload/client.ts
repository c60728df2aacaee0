/**
 * A tus 1.0 client over `fetch`: {@linkcode uploadFile} uploads a Blob or a
 * stream in chunks, with progress, retries and resume. Runs in browsers,
 * Deno, Bun, Node and Workers. The server side is `uploads()` from
 * `@kiln/core/upload`; any tus 1.0 server works.
 *
 * @example Uploading bytes to a tus server
 * ```ts
 * import { Hono } from "hono";
 * import { MemoryStore, uploads } from "@kiln/core/upload";
 * import { MemoryUrlStore, uploadFile } from "@kiln/core/upload/client";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * const app = new Hono().route("/files", uploads({ store, maxSize: 1 << 20 }));
 * const sent: number[] = [];
 * const { url, size } = await uploadFile(new Blob(["hello, tus"]), {
 *   endpoint: "http://uploads.test/files",
 *   chunkSize: 4,
 *   urlStore: new MemoryUrlStore(),
 *   // Straight into the app; in real use, leave fetch unset.
 *   fetch: (input, init) => Promise.resolve(app.fetch(new Request(input, init))),
 *   onProgress: (bytes) => void sent.push(bytes),
 * });
 * assert.equal(size, 10);
 * assert.deepEqual(sent, [4, 8, 10]);
 * const stored = await new Response(await store.read(url.split("/").pop()!)).text();
 * assert.equal(stored, "hello, tus");
 * ```
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { Backoff, type Jitter } from "../_backoff.ts";
import { UploadError, UploadRejectedError } from "./errors.ts";
import { utf8ToBase64 } from "./_base64.ts";
import { blobSource, type Source, streamSource } from "./_source.ts";
import {
  localStorageOrNull,
  LocalStorageUrlStore,
  MemoryUrlStore,
  type UrlStore,
} from "./url_store.ts";

export { LocalStorageUrlStore, MemoryUrlStore, type UrlStore } from "./url_store.ts";
export { UploadError, UploadRejectedError } from "./errors.ts";
export type { Clock } from "../clock.ts";
export type { Jitter } from "../_backoff.ts";

/**
 * How {@linkcode uploadFile} retries: after a network failure or a status
 * worth retrying (408, 409, 423, 429, 460, 5xx) it waits, asks the server for
 * its offset (HEAD) and goes on from there. Waits grow as
 * `initial × factor^n` up to `max`, randomised by `jitter`; a `Retry-After`
 * the server sends (503, 429) is waited for at least, up to `max`.
 */
export interface UploadRetryOptions {
  /** Failed attempts in a row before giving up; a request that stores bytes starts the count over. `0` never retries. @default 5 */
  limit?: number;
  /** The first wait, in milliseconds. @default 500 */
  initial?: number;
  /** What each further wait is multiplied by. @default 2 */
  factor?: number;
  /** The longest wait, in milliseconds (a longer `Retry-After` is cut to it). @default 30_000 */
  max?: number;
  /** How waits are randomised, so many clients that failed together do not return together. @default "equal" */
  jitter?: Jitter;
}

/** Options for {@linkcode uploadFile}. */
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
   * When and how often to retry; see {@linkcode UploadRetryOptions}.
   * @default { limit: 5, initial: 500, factor: 2, max: 30_000, jitter: "equal" }
   */
  retry?: UploadRetryOptions;
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
  /** Times the waits between retries; replace it in tests. @default systemClock */
  clock?: Clock;
}

/** What {@linkcode uploadFile} resolves with. */
export interface UploadResult {
  /** The upload's URL on the server. */
  url: string;
  /** Its size in bytes. */
  size: number;
}

const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
/** Statuses after which a retry can succeed: idle timeout, offset moved, locked, rate or busy, checksum. */
const RETRYABLE = new Set([408, 409, 423, 429, 460]);
const processUrls = new MemoryUrlStore();

/**
 * Uploads a Blob (or File) or a stream to a tus server, resuming from the
 * server's offset after a failure, an abort or a reload.
 *
 * @param source The bytes: a Blob is sliced per chunk (never read whole); a
 *   stream is read one chunk at a time and its length declared at the end.
 * @param options The endpoint, chunk size, metadata, retries and callbacks.
 * @returns The upload's URL and size.
 * @throws {UploadRejectedError} When the server refuses for good (such as 413
 *   or 415), or a retryable status outlasts `retry.limit`.
 * @throws {UploadError} `UPLOAD_UNREACHABLE` when the network fails and no retry is left.
 * @throws {TypeError} When an option is malformed.
 *
 * @example Uploading a File with metadata, progress and retries
 * ```ts
 * import { Hono } from "hono";
 * import { MemoryStore, uploads } from "@kiln/core/upload";
 * import { MemoryUrlStore, uploadFile } from "@kiln/core/upload/client";
 * import assert from "node:assert/strict";
 *
 * const names: (string | null)[] = [];
 * const app = new Hono().route("/files", uploads({
 *   store: new MemoryStore(),
 *   maxSize: 1 << 20,
 *   onComplete: (upload) => void names.push(upload.metadata.filename),
 * }));
 * // In a page: the File from an <input type="file">, and no fetch or urlStore option.
 * const file = new File(["%PDF-1.7 ..."], "report.pdf", { type: "application/pdf" });
 * const percents: number[] = [];
 * const { size } = await uploadFile(file, {
 *   endpoint: "https://uploads.example.com/files",
 *   metadata: { filename: file.name, filetype: file.type },
 *   onProgress: (sent, total) => void percents.push(Math.round((sent / total!) * 100)),
 *   retry: { limit: 8, max: 60_000 }, // a flaky mobile network: try longer
 *   urlStore: new MemoryUrlStore(),
 *   fetch: (input, init) => Promise.resolve(app.fetch(new Request(input, init))),
 * });
 * assert.equal(size, file.size);
 * assert.deepEqual(percents, [100]);
 * assert.deepEqual(names, ["report.pdf"]);
 * ```
 */
export async function uploadFile(
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
  retry: Required<UploadRetryOptions>;
  clock: Clock;
  signal: AbortSignal | undefined;
  resume: boolean;
  urlStore: UrlStore;
  fetch: typeof fetch;
}

function validate(source: unknown, options: UploadClientOptions): Config {
  if (!(source instanceof Blob) && !(source instanceof ReadableStream)) {
    throw new TypeError("uploadFile() takes a Blob, a File or a ReadableStream");
  }
  if (typeof options?.endpoint !== "string" || options.endpoint.length === 0) {
    throw new TypeError("uploadFile() needs an endpoint URL");
  }
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  const retry = validateRetry(options.retry);
  const clock = options.clock ?? systemClock;
  if (typeof clock?.setTimeout !== "function" || typeof clock.clearTimeout !== "function") {
    throw new TypeError("clock must have now(), setTimeout() and clearTimeout()");
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
    retry,
    clock,
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

/** Checks the `retry` option and fills in its defaults. */
function validateRetry(retry: UploadRetryOptions | undefined): Required<UploadRetryOptions> {
  if (retry !== undefined && (typeof retry !== "object" || retry === null)) {
    throw new TypeError("retry must be an object such as { limit: 5 }");
  }
  const shape = {
    limit: retry?.limit ?? 5,
    initial: retry?.initial ?? 500,
    factor: retry?.factor ?? 2,
    max: retry?.max ?? 30_000,
    jitter: retry?.jitter ?? "equal",
  };
  if (!Number.isSafeInteger(shape.limit) || shape.limit < 0) {
    throw new RangeError(`retry.limit must be an integer of zero or more, got ${shape.limit}`);
  }
  for (const name of ["initial", "max"] as const) {
    if (!Number.isFinite(shape[name]) || shape[name] < 0) {
      throw new RangeError(`retry.${name} must be zero or more milliseconds, got ${shape[name]}`);
    }
  }
  if (!Number.isFinite(shape.factor) || shape.factor < 1) {
    throw new RangeError(`retry.factor must be at least 1, got ${shape.factor}`);
  }
  if (!["none", "full", "equal"].includes(shape.jitter)) {
    throw new TypeError(`retry.jitter must be "none", "full" or "equal", got ${shape.jitter}`);
  }
  return shape;
}

/** Whether a failure may pass: the network, or a status worth retrying. */
function isRetryable(error: unknown): boolean {
  if (error instanceof UploadRejectedError) {
    return error.status >= 500 || RETRYABLE.has(error.status);
  }
  return error instanceof UploadError && error.code === "UPLOAD_UNREACHABLE";
}

/** How long a `Retry-After` header asks to wait, in milliseconds; 0 when absent or unusable. */
function retryAfterOf(response: Response, now: number): number {
  const value = response.headers.get("Retry-After")?.trim();
  if (!value) return 0;
  if (/^\d{1,9}$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? 0 : Math.max(0, date - now);
}

/** A refusal from the server, with the wait it asked for. */
class ServerRefusal extends UploadRejectedError {
  /** Milliseconds the server asked to wait (`Retry-After`), or 0. */
  readonly retryAfter: number;

  constructor(status: number, message: string, retryAfter: number) {
    super(status, message);
    this.retryAfter = retryAfter;
  }
}

class Uploader {
  #source: Source;
  #config: Config;
  #fingerprint: string | null;
  #url: string | null = null;
  #offset = 0;
  #length: number | null;
  #backoff: Backoff;

  constructor(source: Source, config: Config, fingerprint: string | null) {
    this.#source = source;
    this.#config = config;
    this.#backoff = new Backoff(config.retry);
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

  /**
   * Runs `step`, retrying a retryable failure after a back-off wait (at least
   * the server's `Retry-After`, at most `retry.max`), calling `resync` first.
   * The count of failures in a row starts over whenever a step succeeds.
   */
  async #retrying<T>(step: () => Promise<T>, resync?: () => Promise<void>): Promise<T> {
    const { retry, signal, clock } = this.#config;
    for (let failures = 0;; failures++) {
      try {
        if (failures > 0 && resync) await resync();
        const result = await step();
        this.#backoff.reset();
        return result;
      } catch (error) {
        signal?.throwIfAborted();
        if (!isRetryable(error) || failures >= retry.limit) throw error;
        const asked = error instanceof ServerRefusal ? error.retryAfter : 0;
        await sleep(Math.min(Math.max(this.#backoff.next(), asked), retry.max), clock, signal);
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
      throw new UploadError("UPLOAD_UNREACHABLE", "The upload server could not be reached", {
        cause: error,
      });
    }
    if (response.ok) return response;
    const message = (await response.text().catch(() => "")) || response.statusText;
    throw new ServerRefusal(
      response.status,
      `Upload server answered ${response.status}: ${message}`,
      retryAfterOf(response, this.#config.clock.now()),
    );
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
      if (!Number.isSafeInteger(offset)) {
        throw new UploadRejectedError(response.status, "The server sent no Upload-Offset");
      }
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

/** Waits `ms` on the clock, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, clock: Clock, signal: AbortSignal | undefined): Promise<void> {
  if (ms === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
