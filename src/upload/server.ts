/**
 * The tus 1.0.0 server: a Hono router for resumable uploads.
 *
 * @module
 */
import { Hono } from "hono";
import { fileTypeFromBuffer } from "file-type/core";
import { CHECKSUM_ALGORITHMS, createHasher, type Hasher } from "./_sha.ts";
import { parseMetadata } from "./_metadata.ts";
import { BufferPool, readBody } from "./_body.ts";
import {
  type Checksum,
  fromBase64,
  parseChecksum,
  parseInteger,
  sameBytes,
  toBase64,
} from "./_headers.ts";
import { MemoryUploadState, type UploadRecord, type UploadState } from "./state.ts";
import type { ChunkedUpload, UploadStore } from "./store.ts";
import type { BroadcastProgressOptions } from "./progress_broadcast.ts";
import { ProgressSender } from "./_progress_sender.ts";

const TUS_VERSION = "1.0.0";
const EXTENSIONS =
  "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination";
const OFFSET_CONTENT_TYPE = "application/offset+octet-stream";
/** How many first bytes `file-type` needs to recognise every format it knows. */
const SNIFF_LENGTH = 4100;
const ID = /^[A-Za-z0-9_-]{1,128}$/;
const METHODS = ["POST", "HEAD", "PATCH", "DELETE", "OPTIONS"];

/**
 * Headers a browser must be allowed to send and to read for tus to work,
 * for a CORS setup of your own (the `cors` option sets them for you).
 */
export const TUS_CORS_HEADERS: {
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly allowMethods: readonly string[];
} = {
  allowHeaders: [
    "Authorization",
    "Content-Type",
    "Tus-Resumable",
    "Upload-Checksum",
    "Upload-Concat",
    "Upload-Defer-Length",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "X-HTTP-Method-Override",
    "X-Requested-With",
  ],
  exposeHeaders: [
    "Location",
    "Tus-Checksum-Algorithm",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Resumable",
    "Tus-Version",
    "Upload-Defer-Length",
    "Upload-Expires",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
  ],
  allowMethods: METHODS,
};

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
  /** Where upload records and locks live. @default new MemoryUploadState() */
  state?: UploadState;
  /** The largest upload accepted, in bytes (sent as `Tus-Max-Size`). */
  maxSize: number;
  /**
   * MIME types accepted, found from the file's first bytes (never from the
   * client's claims); `type/*` matches a whole family. Unset accepts anything.
   */
  allowedTypes?: readonly string[];
  /**
   * Milliseconds an unfinished upload lives after its last PATCH; unset never expires.
   */
  expiresIn?: number;
  /**
   * Milliseconds the record of a finished upload is kept (so clients can still
   * HEAD it) before `cleanupExpired()` forgets it; the file itself stays.
   * @default 86_400_000
   */
  keepCompletedFor?: number;
  /** The largest `Upload-Metadata` header accepted, in bytes. @default 4096 */
  maxMetadataSize?: number;
  /** Minimum milliseconds between two `onProgress` calls for one request. @default 500 */
  progressInterval?: number;
  /** Browsers allowed to upload (CORS); unset sends no CORS headers. */
  cors?: { origin: string | readonly string[] };
  /** The clock, for tests. @default Date.now */
  now?: () => number;
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
   * Told about failures of `onComplete` and of progress broadcasts (which
   * `source` names); the upload itself carries on.
   * @default logs with console.error
   */
  onError?(error: unknown, upload: UploadInfo, source: UploadErrorSource): void;
}

/** What failed, as told to `onError`. */
export type UploadErrorSource = "onComplete" | "broadcastProgress";

/** What {@linkcode UploadsApp.cleanupExpired} did. */
export interface CleanupResult {
  /** Unfinished uploads removed (bytes and record). */
  removed: number;
  /** Records of finished uploads forgotten (their files stay). */
  forgotten: number;
}

/** The router {@linkcode uploads} returns: a Hono app plus maintenance. */
export type UploadsApp = Hono & {
  /**
   * Removes expired unfinished uploads and forgets old finished ones; call it
   * from a scheduled task.
   *
   * @returns What was done.
   */
  cleanupExpired(): Promise<CleanupResult>;
};

/**
 * Creates a tus 1.0.0 server (core, creation, creation-with-upload,
 * creation-defer-length, expiration, checksum with sha1 and sha256,
 * termination) as a Hono router. Request bodies stream into the store chunk
 * by chunk; memory stays flat whatever the file size.
 *
 * @param options The store, state, limits and hooks.
 * @returns The router; mount it with `app.route("/files", router)`.
 * @throws {TypeError} When an option is missing or malformed.
 * @throws {RangeError} When a number option is out of range.
 *
 * @example Accepting images up to 50 MiB
 * ```ts
 * import { Hono } from "hono";
 * import { MemoryStore, uploads } from "@kiln/core/upload";
 * import assert from "node:assert/strict";
 *
 * const files = uploads({
 *   store: new MemoryStore(),
 *   maxSize: 50 * 1024 * 1024,
 *   allowedTypes: ["image/*"],
 *   onComplete: (upload) => console.log("stored", upload.id, upload.type),
 * });
 * const app = new Hono().route("/files", files);
 * const response = await app.request("/files", { method: "OPTIONS" });
 * assert.equal(response.headers.get("Tus-Version"), "1.0.0");
 * ```
 */
export function uploads(options: UploadsOptions): UploadsApp {
  const config = validate(options);
  const app = new Hono();
  const handler = new TusHandler(config);
  app.all("/", (c) => handler.handle(c.req.raw, null));
  app.all("/:id", (c) => handler.handle(c.req.raw, c.req.param("id")));
  return Object.assign(app, { cleanupExpired: () => handler.cleanupExpired() });
}

interface Config {
  store: UploadStore;
  state: UploadState;
  maxSize: number;
  allowedTypes: readonly string[] | null;
  expiresIn: number | null;
  keepCompletedFor: number | null;
  maxMetadataSize: number;
  progressInterval: number;
  origins: readonly string[] | null;
  now: () => number;
  generateId: () => string;
  onCreate: UploadsOptions["onCreate"];
  onProgress: UploadsOptions["onProgress"];
  onComplete: UploadsOptions["onComplete"];
  broadcast: {
    sender: ProgressSender;
    channel: BroadcastProgressOptions["channel"];
    event: string;
    completeEvent: string;
  } | null;
  onError: (error: unknown, upload: UploadInfo, source: UploadErrorSource) => void;
}

function validate(options: UploadsOptions): Config {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("uploads() needs an options object");
  }
  const store = options.store;
  if (typeof store?.startChunkedUpload !== "function") {
    throw new TypeError("uploads() needs a store, such as new MemoryStore()");
  }
  const positive = (name: string, value: unknown, allowInfinity = false) => {
    if (allowInfinity && value === Infinity) return;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
    }
  };
  positive("maxSize", options.maxSize);
  if (options.expiresIn !== undefined) positive("expiresIn", options.expiresIn);
  const keepCompletedFor = options.keepCompletedFor ?? 86_400_000;
  positive("keepCompletedFor", keepCompletedFor, true);
  const maxMetadataSize = options.maxMetadataSize ?? 4096;
  positive("maxMetadataSize", maxMetadataSize);
  const progressInterval = options.progressInterval ?? 500;
  if (!Number.isFinite(progressInterval) || progressInterval < 0) {
    throw new RangeError(`progressInterval must be zero or more, got ${progressInterval}`);
  }
  const allowedTypes = options.allowedTypes ?? null;
  if (allowedTypes !== null) {
    if (!Array.isArray(allowedTypes) || allowedTypes.length === 0) {
      throw new TypeError("allowedTypes must be a non-empty array of MIME types");
    }
    for (const type of allowedTypes) {
      if (typeof type !== "string" || !/^[a-z0-9.+-]+\/(?:\*|[a-z0-9.+-]+)$/i.test(type)) {
        throw new TypeError(
          `allowedTypes entries must look like "image/png" or "image/*", got ${type}`,
        );
      }
    }
  }
  const broadcast = validateBroadcast(options.broadcastProgress);
  const origin = options.cors?.origin;
  const origins = origin === undefined ? null : typeof origin === "string" ? [origin] : origin;
  return {
    store,
    state: options.state ?? new MemoryUploadState(),
    maxSize: options.maxSize,
    allowedTypes: allowedTypes?.map((type) => type.toLowerCase()) ?? null,
    expiresIn: options.expiresIn ?? null,
    keepCompletedFor: keepCompletedFor === Infinity ? null : keepCompletedFor,
    maxMetadataSize,
    progressInterval,
    origins,
    now: options.now ?? Date.now,
    generateId: options.generateId ?? (() => crypto.randomUUID().replaceAll("-", "")),
    onCreate: options.onCreate,
    onProgress: options.onProgress,
    onComplete: options.onComplete,
    broadcast,
    onError: options.onError ??
      ((error, upload, source) => console.error(`Upload ${upload.id}: ${source} failed`, error)),
  };
}

function validateBroadcast(options: BroadcastProgressOptions | undefined): Config["broadcast"] {
  if (options === undefined) return null;
  if (typeof options !== "object" || options === null) {
    throw new TypeError("broadcastProgress must be an object with hub and channel");
  }
  if (typeof options.hub?.broadcast !== "function") {
    throw new TypeError(
      "broadcastProgress.hub must have a broadcast(channel, event, data) method, such as a realtime Hub",
    );
  }
  if (typeof options.channel !== "function") {
    throw new TypeError(
      "broadcastProgress.channel must be a function returning a channel name or undefined",
    );
  }
  const event = options.event ?? "upload.progress";
  const completeEvent = options.completeEvent ?? "upload.complete";
  for (const [name, value] of [["event", event], ["completeEvent", completeEvent]]) {
    if (typeof value !== "string" || value.length === 0) {
      throw new TypeError(`broadcastProgress.${name} must be a non-empty string`);
    }
  }
  return {
    sender: new ProgressSender(options.hub),
    channel: options.channel,
    event,
    completeEvent,
  };
}

/** A response waiting for the shared headers. */
interface Reply {
  status: number;
  headers?: Record<string, string>;
  message?: string;
}

/** Where one request's body ended up. */
type Received = { ok: true; record: UploadRecord } | { ok: false; reply: Reply };

class TusHandler {
  #config: Config;
  #buffers = new BufferPool();

  constructor(config: Config) {
    this.#config = config;
  }

  async handle(request: Request, id: string | null): Promise<Response> {
    const override = request.headers.get("X-HTTP-Method-Override");
    const method = (override ?? request.method).toUpperCase();
    const reply = await this.#dispatch(request, method, id);
    return this.#respond(request, method, reply);
  }

  #dispatch(request: Request, method: string, id: string | null): Promise<Reply> | Reply {
    if (method === "OPTIONS") return this.#options();
    if (!METHODS.includes(method)) return { status: 405, message: "Method not allowed" };
    const version = request.headers.get("Tus-Resumable");
    if (version !== TUS_VERSION) {
      return {
        status: 412,
        headers: { "Tus-Version": TUS_VERSION },
        message: `Tus-Resumable ${version ?? "missing"} is not supported; use ${TUS_VERSION}`,
      };
    }
    if (id === null) {
      return method === "POST"
        ? this.#create(request)
        : { status: 405, message: "Method not allowed" };
    }
    // Ids are generated by the server; anything else cannot exist, and never reaches the store.
    if (!ID.test(id)) return { status: 404, message: "Upload not found" };
    if (method === "HEAD") return this.#head(id);
    if (method === "PATCH") return this.#patch(request, id);
    if (method === "DELETE") return this.#terminate(id);
    return { status: 405, message: "Method not allowed" };
  }

  #respond(request: Request, method: string, reply: Reply): Response {
    const headers = new Headers(reply.headers);
    headers.set("Tus-Resumable", TUS_VERSION);
    const origin = request.headers.get("Origin");
    const origins = this.#config.origins;
    if (
      origin !== null && origins !== null && (origins.includes("*") || origins.includes(origin))
    ) {
      headers.set("Access-Control-Allow-Origin", origins.includes("*") ? "*" : origin);
      headers.set("Access-Control-Expose-Headers", TUS_CORS_HEADERS.exposeHeaders.join(", "));
      if (method === "OPTIONS") {
        headers.set("Access-Control-Allow-Methods", METHODS.join(", "));
        headers.set("Access-Control-Allow-Headers", TUS_CORS_HEADERS.allowHeaders.join(", "));
        headers.set("Access-Control-Max-Age", "86400");
      }
      headers.append("Vary", "Origin");
    }
    const hasBody = reply.message !== undefined && method !== "HEAD" && reply.status !== 204;
    if (hasBody) headers.set("Content-Type", "text/plain; charset=utf-8");
    return new Response(hasBody ? reply.message : null, { status: reply.status, headers });
  }

  #options(): Reply {
    return {
      status: 204,
      headers: {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": String(this.#config.maxSize),
        "Tus-Checksum-Algorithm": CHECKSUM_ALGORITHMS.join(","),
      },
    };
  }

  async #create(request: Request): Promise<Reply> {
    const config = this.#config;
    const headers = request.headers;
    const length = parseInteger("Upload-Length", headers.get("Upload-Length"));
    const defer = headers.get("Upload-Defer-Length");
    if (typeof length === "string") return { status: 400, message: length };
    if (defer !== null && defer.trim() !== "1") {
      return { status: 400, message: "Upload-Defer-Length must be 1" };
    }
    if ((length === null) === (defer === null)) {
      return { status: 400, message: "Send exactly one of Upload-Length and Upload-Defer-Length" };
    }
    if (length !== null && length > config.maxSize) {
      return {
        status: 413,
        message: `Upload-Length exceeds the maximum of ${config.maxSize} bytes`,
      };
    }
    const rawMetadata = headers.get("Upload-Metadata");
    let metadata: Record<string, string | null> = {};
    if (rawMetadata !== null) {
      if (new TextEncoder().encode(rawMetadata).byteLength > config.maxMetadataSize) {
        return { status: 400, message: `Upload-Metadata exceeds ${config.maxMetadataSize} bytes` };
      }
      const parsed = parseMetadata(rawMetadata, 64);
      if (typeof parsed === "string") return { status: 400, message: parsed };
      metadata = parsed;
    }
    const withBody = isOffsetStream(headers);
    const checksum = withBody ? this.#checksum(headers) : null;
    if (checksum && "status" in checksum) return checksum;
    const contentLength = parseInteger("Content-Length", headers.get("Content-Length"));
    if (
      withBody && typeof contentLength === "number" && contentLength > (length ?? config.maxSize)
    ) {
      return { status: 413, message: "The body is longer than the upload" };
    }

    const id = config.generateId();
    if (!ID.test(id)) {
      throw new TypeError(`generateId() returned an invalid id ${JSON.stringify(id)}`);
    }
    const now = config.now();
    const expiresAt = config.expiresIn === null ? null : now + config.expiresIn;
    const record: UploadRecord = {
      id,
      length,
      offset: 0,
      metadata,
      rawMetadata,
      createdAt: now,
      expiresAt,
      completedAt: null,
      type: null,
      head: null,
      sweepAt: expiresAt,
      channel: null,
    };
    const refusal = await config.onCreate?.(info(record), request);
    if (refusal) {
      const status =
        Number.isInteger(refusal.status) && refusal.status >= 400 && refusal.status <= 599
          ? refusal.status
          : 403;
      return { status, message: refusal.message ?? "Upload refused" };
    }
    record.channel = this.#chooseChannel(record, request);
    await (await config.store.startChunkedUpload(id)).release();
    if (!(await config.state.create(record))) {
      throw new Error(`Upload id ${id} is already taken`);
    }
    const location = locationOf(request, id);
    let current = record;
    if (withBody || length === 0) {
      const lock = await config.state.lock(id);
      if (!lock) return { status: 423, message: "The upload is locked by another request" };
      try {
        const received = await this.#receive(record, withBody ? request.body : null, checksum);
        if (!received.ok) {
          // The upload exists; only the body was refused (unless the refusal removed it).
          if (received.reply.status === 415) return received.reply;
          return { ...received.reply, headers: { ...received.reply.headers, Location: location } };
        }
        current = received.record;
      } finally {
        await lock.release();
      }
    }
    return {
      status: 201,
      headers: {
        Location: location,
        ...(withBody ? { "Upload-Offset": String(current.offset) } : {}),
        ...expiresHeader(current),
      },
    };
  }

  async #head(id: string): Promise<Reply> {
    const record = await this.#config.state.get(id);
    const missing = this.#missing(record);
    if (missing) return missing;
    const found = record!;
    return {
      status: 200,
      headers: {
        "Cache-Control": "no-store",
        "Upload-Offset": String(found.offset),
        ...(found.length === null
          ? { "Upload-Defer-Length": "1" }
          : { "Upload-Length": String(found.length) }),
        ...(found.rawMetadata === null ? {} : { "Upload-Metadata": found.rawMetadata }),
        ...expiresHeader(found),
      },
    };
  }

  async #patch(request: Request, id: string): Promise<Reply> {
    const headers = request.headers;
    if (!isOffsetStream(headers)) {
      return { status: 415, message: `Content-Type must be ${OFFSET_CONTENT_TYPE}` };
    }
    const offset = parseInteger("Upload-Offset", headers.get("Upload-Offset"));
    if (offset === null) return { status: 400, message: "Upload-Offset is required" };
    if (typeof offset === "string") return { status: 400, message: offset };
    const length = parseInteger("Upload-Length", headers.get("Upload-Length"));
    if (typeof length === "string") return { status: 400, message: length };
    const checksum = this.#checksum(headers);
    if (checksum && "status" in checksum) return checksum;

    const lock = await this.#config.state.lock(id);
    if (!lock) return { status: 423, message: "The upload is locked by another request" };
    try {
      const record = await this.#config.state.get(id);
      const missing = this.#missing(record);
      if (missing) return missing;
      const found = record!;
      if (found.offset !== offset) {
        return {
          status: 409,
          headers: { "Upload-Offset": String(found.offset) },
          message: `Upload-Offset is ${offset} but the upload holds ${found.offset} bytes`,
        };
      }
      if (length !== null) {
        if (found.length !== null && found.length !== length) {
          return { status: 400, message: "Upload-Length cannot change once set" };
        }
        if (length > this.#config.maxSize) {
          return {
            status: 413,
            message: `Upload-Length exceeds the maximum of ${this.#config.maxSize} bytes`,
          };
        }
        if (length < found.offset) {
          return { status: 400, message: "Upload-Length is smaller than the bytes received" };
        }
        found.length = length;
      }
      const contentLength = parseInteger("Content-Length", headers.get("Content-Length"));
      const limit = found.length ?? this.#config.maxSize;
      if (typeof contentLength === "number" && offset + contentLength > limit) {
        return { status: 413, message: "The body goes past the end of the upload" };
      }
      if (found.completedAt !== null && found.offset === found.length) {
        return { status: 204, headers: { "Upload-Offset": String(found.offset) } };
      }
      const received = await this.#receive(found, request.body, checksum);
      if (!received.ok) return received.reply;
      return {
        status: 204,
        headers: {
          "Upload-Offset": String(received.record.offset),
          ...expiresHeader(received.record),
        },
      };
    } finally {
      await lock.release();
    }
  }

  async #terminate(id: string): Promise<Reply> {
    const lock = await this.#config.state.lock(id);
    if (!lock) return { status: 423, message: "The upload is locked by another request" };
    try {
      const record = await this.#config.state.get(id);
      if (!record) return { status: 404, message: "Upload not found" };
      await this.#config.store.delete(id);
      await this.#config.state.delete(id);
      return { status: 204 };
    } finally {
      await lock.release();
    }
  }

  #missing(record: UploadRecord | null): Reply | null {
    if (!record) return { status: 404, message: "Upload not found" };
    if (
      record.completedAt === null && record.expiresAt !== null &&
      record.expiresAt <= this.#config.now()
    ) {
      return { status: 410, message: "The upload has expired" };
    }
    return null;
  }

  #checksum(headers: Headers): Checksum | Reply | null {
    const checksum = parseChecksum(headers.get("Upload-Checksum"));
    if (typeof checksum === "string") return { status: 400, message: checksum };
    if (checksum && !createHasher(checksum.algorithm)) {
      return { status: 400, message: `Checksum algorithm ${checksum.algorithm} is not supported` };
    }
    return checksum;
  }

  /**
   * Streams one request body into the store at the record's offset, holding
   * the upload's lock. Size, type and checksum refusals roll the chunk back.
   */
  async #receive(
    record: UploadRecord,
    body: ReadableStream<Uint8Array> | null,
    checksum: Checksum | null,
  ): Promise<Received> {
    const config = this.#config;
    const start = record.offset;
    const limit = record.length ?? config.maxSize;
    const hasher: Hasher | null = checksum ? createHasher(checksum.algorithm) : null;
    let head: Uint8Array | null = config.allowedTypes && record.type === null
      ? (record.head ? fromBase64(record.head) : new Uint8Array(0))
      : null;
    const upload = await config.store.resumeChunkedUpload(record.id, start);
    let closed = false;
    const refuseType = async (type: string | undefined): Promise<Received> => {
      closed = true;
      // A refused file leaves nothing behind: bytes, record, everything.
      await upload.abort();
      await config.state.delete(record.id);
      return {
        ok: false,
        reply: {
          status: 415,
          message: type
            ? `File type ${type} is not allowed; allowed: ${config.allowedTypes!.join(", ")}`
            : `File type could not be recognised; allowed: ${config.allowedTypes!.join(", ")}`,
        },
      };
    };
    try {
      let offset = start;
      let tooLong = false;
      let lastProgress = config.now();
      const reporting = config.onProgress !== undefined || this.#channelOf(record) !== null;
      const reader = body ? readBody(body, this.#buffers) : null;
      if (reader) {
        try {
          for (;;) {
            // A view into a reused buffer, valid until the next read (stores copy what they keep).
            const value = await reader.read();
            if (value === null) break;
            if (offset + value.byteLength > limit) {
              tooLong = true;
              await reader.cancel().catch(() => {});
              break;
            }
            if (head !== null) {
              const joined = new Uint8Array(
                Math.min(SNIFF_LENGTH, head.byteLength + value.byteLength),
              );
              joined.set(head);
              joined.set(value.subarray(0, joined.byteLength - head.byteLength), head.byteLength);
              head = joined;
              if (head.byteLength >= SNIFF_LENGTH || offset + value.byteLength === record.length) {
                // Decide before this chunk is kept.
                const type = await detect(head, config.allowedTypes!);
                if (!type.allowed) {
                  await reader.cancel().catch(() => {});
                  return await refuseType(type.mime);
                }
                record.type = type.mime!;
                head = null;
              }
            }
            hasher?.update(value);
            await upload.append(value);
            offset += value.byteLength;
            const now = config.now();
            if (reporting && now - lastProgress >= config.progressInterval) {
              lastProgress = now;
              this.#progress(record, offset);
            }
          }
        } catch (error) {
          // The client went away mid-body. tus keeps what arrived, unless it cannot be verified.
          if (hasher) {
            await upload.rollback(start);
            offset = start;
          }
          record.offset = offset;
          if (head !== null) record.head = toBase64(head.subarray(0, offset));
          await this.#store(record, upload);
          closed = true;
          throw error;
        } finally {
          reader.release();
        }
      }
      if (tooLong) {
        await upload.rollback(start);
        return {
          ok: false,
          reply: { status: 413, message: "The body goes past the end of the upload" },
        };
      }
      if (hasher && !sameBytes(hasher.digest(), checksum!.expected)) {
        await upload.rollback(start);
        return {
          ok: false,
          reply: { status: 460, message: "Checksum mismatch; the chunk was discarded" },
        };
      }
      record.offset = offset;
      const complete = record.length !== null && offset === record.length;
      if (head !== null) {
        if (complete) {
          const type = await detect(head, config.allowedTypes!);
          if (!type.allowed) return await refuseType(type.mime);
          record.type = type.mime!;
          record.head = null;
        } else {
          record.head = toBase64(head);
        }
      } else {
        record.head = null;
      }
      closed = true;
      const saved = await this.#store(record, upload);
      if (!saved) return { ok: false, reply: { status: 404, message: "Upload not found" } };
      this.#progress(record, offset);
      if (record.completedAt !== null) {
        this.#broadcast(record, "complete");
        try {
          await config.onComplete?.(info(record));
        } catch (error) {
          config.onError(error, info(record), "onComplete");
        }
      }
      return { ok: true, record };
    } finally {
      if (!closed) await upload.release();
    }
  }

  /** Tells `onProgress` and the realtime channel where an upload stands. */
  #progress(record: UploadRecord, offset: number): void {
    this.#config.onProgress?.({ id: record.id, offset, length: record.length });
    this.#broadcast(record, "progress", offset);
  }

  /** Queues a broadcast for the upload's channel, if it has one; never waits for it. */
  #broadcast(record: UploadRecord, kind: "progress" | "complete", offset = record.offset): void {
    const broadcast = this.#config.broadcast;
    const channel = this.#channelOf(record);
    if (broadcast === null || channel === null) return;
    const data: UploadProgress = { id: record.id, offset, length: record.length };
    const upload = { ...info(record), offset };
    broadcast.sender.send(record.id, {
      channel,
      event: kind === "progress" ? broadcast.event : broadcast.completeEvent,
      data,
      coalesce: kind === "progress",
      onError: (error) => this.#config.onError(error, upload, "broadcastProgress"),
    });
  }

  #channelOf(record: UploadRecord): string | null {
    return this.#config.broadcast === null ? null : record.channel ?? null;
  }

  /** Asks `broadcastProgress.channel` once, at creation; a failure only means no broadcasts. */
  #chooseChannel(record: UploadRecord, request: Request): string | null {
    const broadcast = this.#config.broadcast;
    if (broadcast === null) return null;
    try {
      const channel = broadcast.channel(info(record), request);
      if (channel === undefined) return null;
      if (typeof channel !== "string" || channel.length === 0) {
        throw new TypeError(
          `broadcastProgress.channel must return a channel name or undefined, got ${
            JSON.stringify(channel)
          }`,
        );
      }
      return channel;
    } catch (error) {
      this.#config.onError(error, info(record), "broadcastProgress");
      return null;
    }
  }

  /** Finalizes or releases the store's upload, then records the new offset. */
  async #store(record: UploadRecord, upload: ChunkedUpload): Promise<boolean> {
    const config = this.#config;
    const now = config.now();
    if (record.length !== null && record.offset === record.length) {
      await upload.finalize();
      record.completedAt = now;
      record.expiresAt = null;
      record.sweepAt = config.keepCompletedFor === null ? null : now + config.keepCompletedFor;
    } else {
      await upload.release();
      if (config.expiresIn !== null) {
        // Sliding expiry: an upload that is still moving does not expire.
        record.expiresAt = now + config.expiresIn;
        record.sweepAt = record.expiresAt;
      }
    }
    return await config.state.save(record);
  }

  async cleanupExpired(): Promise<CleanupResult> {
    const { state, store, now } = this.#config;
    const result: CleanupResult = { removed: 0, forgotten: 0 };
    const skipped = new Set<string>();
    for (;;) {
      const due = (await state.due(now(), 100 + skipped.size)).filter((id) => !skipped.has(id));
      if (due.length === 0) return result;
      for (const id of due) {
        const lock = await state.lock(id);
        // A request is writing it right now, so it is not idle: leave it for the next sweep.
        if (!lock) {
          skipped.add(id);
          continue;
        }
        try {
          const record = await state.get(id);
          if (!record || record.sweepAt === null || record.sweepAt > now()) {
            skipped.add(id);
            continue;
          }
          if (record.completedAt === null) {
            await store.delete(id);
            result.removed++;
          } else {
            result.forgotten++;
          }
          await state.delete(id);
        } finally {
          await lock.release();
        }
      }
    }
  }
}

async function detect(
  head: Uint8Array,
  allowed: readonly string[],
): Promise<{ allowed: boolean; mime: string | undefined }> {
  const found = await fileTypeFromBuffer(head);
  const mime = found?.mime.toLowerCase();
  if (!mime) return { allowed: false, mime };
  const family = `${mime.split("/")[0]}/*`;
  return { allowed: allowed.includes(mime) || allowed.includes(family), mime };
}

function isOffsetStream(headers: Headers): boolean {
  return headers.get("Content-Type")?.split(";")[0].trim().toLowerCase() === OFFSET_CONTENT_TYPE;
}

function locationOf(request: Request, id: string): string {
  const url = new URL(request.url);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}/${id}`;
}

function expiresHeader(record: UploadRecord): Record<string, string> {
  return record.completedAt === null && record.expiresAt !== null
    ? { "Upload-Expires": new Date(record.expiresAt).toUTCString() }
    : {};
}

function info(record: UploadRecord): UploadInfo {
  return {
    id: record.id,
    length: record.length,
    offset: record.offset,
    metadata: record.metadata,
    type: record.type,
  };
}
