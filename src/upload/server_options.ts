/**
 * The options of the tus server, and what its hooks are given.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { UploadState } from "./state.ts";
import type { UploadStore } from "./store.ts";
import type { BroadcastProgressOptions } from "./progress_broadcast.ts";

/** What hooks are told about an upload. */
export interface UploadInfo {
  /** The upload's id; also its path in the store. */
  readonly id: string;
  /** The declared length, or `null` while deferred. */
  readonly length: number | null;
  /** Bytes received so far. */
  readonly offset: number;
  /** The decoded `Upload-Metadata` values (never use them as paths unchecked). */
  readonly metadata: Readonly<Record<string, string | null>>;
  /** The MIME type found from the first bytes, when `allowedTypes` is set. */
  readonly type: string | null;
}

/** Progress of one upload, as given to `onProgress`. */
export interface UploadProgress {
  /** The upload's id. */
  readonly id: string;
  /** Bytes received so far. */
  readonly offset: number;
  /** The declared length, or `null` while deferred. */
  readonly length: number | null;
}

/** Returned by `onCreate` to refuse an upload. */
export interface UploadRefusal {
  /** The HTTP status to answer with, 400 to 599. */
  status: number;
  /** A message for the client. */
  message?: string;
}

/** Options for {@linkcode uploads}. */
export interface UploadsOptions {
  /** Where bytes go. */
  store: UploadStore;
  /**
   * Where upload records and locks live: a `RedisUploadState` lets several
   * instances serve one upload.
   * @default the store's own `state` when it has one (a `FileStore` keeps records beside its files, so a restart loses nothing), else new MemoryUploadState()
   */
  state?: UploadState;
  /** The largest upload accepted, in bytes (sent as `Tus-Max-Size`). */
  maxSize: number;
  /**
   * MIME types accepted, found from the file's first bytes (never from the
   * client's claims); `type/*` matches a whole family. Unset accepts anything.
   */
  allowedTypes?: readonly string[];
  /**
   * How long an unfinished upload lives after its last PATCH, in milliseconds
   * (sent as `Upload-Expires`); `cleanupExpired()` then removes it.
   * @default undefined (never expires)
   */
  expiresIn?: number;
  /**
   * How long the record of a finished upload is kept, in milliseconds (so
   * clients can still HEAD it), before `cleanupExpired()` forgets it; the file
   * itself stays. `Infinity` keeps it for ever.
   * @default 86_400_000
   */
  keepCompletedFor?: number;
  /** The largest `Upload-Metadata` header accepted, in bytes. @default 4096 */
  maxMetadataSize?: number;
  /** The shortest time between two `onProgress` calls for one request, in milliseconds. @default 500 */
  progressInterval?: number;
  /**
   * How long a request body may send nothing before the server ends it with
   * 408, in milliseconds: the bytes that arrived are kept, unless the request carries
   * `Upload-Checksum` (then the unverifiable chunk is discarded), and the
   * upload's lock is released. Bounds how long a silent client holds an
   * upload and a read buffer.
   * @default 30_000
   */
  bodyIdleTimeout?: number;
  /**
   * Request bodies read at once by this server (PATCH, and POST with
   * creation-with-upload). Past it a PATCH gets 503 with `Retry-After`
   * before anything is locked or read; such a POST still creates the upload
   * and answers 503 with its `Location`, for the client to PATCH later.
   * Bounds the memory slow clients can hold: each body costs a 64 KiB buffer
   * while it waits for bytes, and at most 16 bodies at a time read through
   * 1 MiB ones.
   * @default 64
   */
  maxConcurrentPatches?: number;
  /**
   * How long a PATCH or DELETE waits, in milliseconds, for another request in
   * this process that holds the same upload's lock to stop, after asking it to (it keeps or
   * discards its bytes as on an idle timeout, and answers 400); then 423.
   * `0` asks without waiting. A holder in another process is not asked (423
   * at once); its `bodyIdleTimeout`, or the state's lock TTL, frees the upload.
   * @default 3_000
   */
  lockDrainTimeout?: number;
  /**
   * Time and timers: the time records carry (creation, expiry, completion),
   * the body idle timeout and the lock drain timeout; replace it in tests.
   * @default systemClock
   */
  clock?: Clock;
  /** Browsers allowed to upload (CORS); unset sends no CORS headers. */
  cors?: { origin: string | readonly string[] };
  /**
   * The public URL of this endpoint, such as `"https://uploads.example.com/files"`:
   * `Location` is this plus the upload's id, whatever the request's `Host` or
   * forwarded headers say. An absolute http(s) URL without credentials, query
   * or fragment. Unset builds `Location` from the request's URL.
   */
  baseUrl?: string;
  /**
   * Builds `Location` from the host and protocol a reverse proxy reports in
   * `Forwarded` (RFC 7239) or `X-Forwarded-Host` / `X-Forwarded-Proto` (the
   * last hop listed; values that are not a plain host or http(s) are ignored).
   * Turn on only behind a proxy that sets these headers: any client can send
   * them. Not together with `baseUrl`.
   * @default false
   */
  respectForwardedHeaders?: boolean;
  /** Makes upload ids; must match `[A-Za-z0-9_-]{1,128}`. @default a random UUID without dashes */
  generateId?: () => string;
  /**
   * Called before an upload is created; return an {@linkcode UploadRefusal} to refuse it.
   *
   * @param upload The upload about to be created.
   * @param request The creating request, for authentication.
   */
  onCreate?(
    upload: UploadInfo,
    request: Request,
  ): void | UploadRefusal | Promise<void | UploadRefusal>;
  /** Called while bytes arrive, at most every `progressInterval`, and after each request. */
  onProgress?(progress: UploadProgress): void;
  /**
   * Also publishes progress to a realtime channel (for example a `Hub` of
   * `@kiln/core/realtime`): `{ id, offset, length }` as `event`, on the same
   * schedule as `onProgress`, then `completeEvent` once after the last byte.
   * Broadcasts never hold up or fail an upload; their failures go to `onError`.
   * Unset broadcasts nothing.
   */
  broadcastProgress?: BroadcastProgressOptions;
  /**
   * Called once, after the last byte is stored (for example to dispatch a queue
   * job). If it throws, the upload stays complete and `onError` is told.
   */
  onComplete?(upload: UploadInfo): void | Promise<void>;
  /**
   * Told about failures of `onComplete` and of progress broadcasts, and about
   * upload records that cannot be read (`"record"`: the request is answered
   * 500 and the upload left as it is), as `source` names; the upload itself
   * carries on.
   * @default logs with console.error
   */
  onError?(error: unknown, upload: UploadInfo, source: UploadErrorSource): void;
  /**
   * Reshapes the answer to a request that failed with an error, like
   * @tus/server's hook of the same name: return a new answer, or nothing to
   * keep the one given. The server maps stable error codes first
   * (`REDIS_UNAVAILABLE` → 503 with `Retry-After`, `UPLOAD_NOT_FOUND` → 404,
   * `UPLOAD_RECORD_CORRUPT` and anything unknown → 500); `Tus-Resumable` and
   * the CORS headers are always added. If the hook throws or returns a status
   * outside 400–599, the original answer is sent and `onError` is told.
   *
   * @param error What was thrown.
   * @param request The request being answered.
   * @param answer The answer the server would send.
   * @returns A replacement answer, or nothing.
   */
  onResponseError?(
    error: unknown,
    request: Request,
    answer: UploadErrorAnswer,
  ): void | UploadErrorAnswer | Promise<void | UploadErrorAnswer>;
}

/**
 * What failed, as told to `onError`: the `onComplete` hook, a progress
 * broadcast, an unreadable upload record, or a request the server could not
 * answer as planned (`"request"`: Redis unreachable, a store error, a failing
 * `onResponseError`; the client got a 5xx with the tus headers).
 */
export type UploadErrorSource = "onComplete" | "broadcastProgress" | "record" | "request";

/**
 * The tus answer to an error, as given to and returned by `onResponseError`.
 * `Tus-Resumable` and the CORS headers are added to whatever it says.
 */
export interface UploadErrorAnswer {
  /** The HTTP status, 400 to 599. */
  status: number;
  /** Extra headers, such as `Retry-After`. */
  headers: Record<string, string>;
  /** The plain-text body. */
  message: string;
}
