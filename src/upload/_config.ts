/** The `uploads()` options, checked once and filled with their defaults. */
import { MemoryUploadState, type UploadState } from "./state.ts";
import type { UploadStore } from "./store.ts";
import type { BroadcastProgressOptions } from "./progress_broadcast.ts";
import { ProgressSender } from "./_progress_sender.ts";
import { type BodyLimits, validateBodyLimits } from "./_body_limits.ts";
import { parseBaseUrl } from "./_location.ts";
import type { UploadErrorSource, UploadInfo, UploadsOptions } from "./server_options.ts";

/** The server's settings, every default applied. */
export interface Config extends BodyLimits {
  store: UploadStore;
  state: UploadState;
  maxSize: number;
  allowedTypes: readonly string[] | null;
  expiresIn: number | null;
  keepCompletedFor: number | null;
  maxMetadataSize: number;
  progressInterval: number;
  origins: readonly string[] | null;
  /** The fixed public URL `Location` is built on, or `null`. */
  baseUrl: string | null;
  /** Whether `Location` may follow `Forwarded` / `X-Forwarded-*`. */
  respectForwardedHeaders: boolean;
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
  onResponseError: UploadsOptions["onResponseError"];
}

/** Checks the options of `uploads()` and applies their defaults. */
export function validateOptions(options: UploadsOptions): Config {
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
  const bodyLimits = validateBodyLimits(options);
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
  const baseUrl = parseBaseUrl(options.baseUrl);
  const respectForwardedHeaders = options.respectForwardedHeaders ?? false;
  if (typeof respectForwardedHeaders !== "boolean") {
    throw new TypeError("respectForwardedHeaders must be a boolean");
  }
  if (baseUrl !== null && respectForwardedHeaders) {
    // baseUrl would win anyway; refusing says so instead of silently ignoring the proxy.
    throw new TypeError("Set baseUrl or respectForwardedHeaders, not both");
  }
  return {
    store,
    state: chooseState(options.state ?? store.state),
    maxSize: options.maxSize,
    allowedTypes: allowedTypes?.map((type) => type.toLowerCase()) ?? null,
    expiresIn: options.expiresIn ?? null,
    keepCompletedFor: keepCompletedFor === Infinity ? null : keepCompletedFor,
    maxMetadataSize,
    progressInterval,
    ...bodyLimits,
    origins,
    baseUrl,
    respectForwardedHeaders,
    now: () => bodyLimits.clock.now(),
    generateId: options.generateId ?? (() => crypto.randomUUID().replaceAll("-", "")),
    onCreate: options.onCreate,
    onProgress: options.onProgress,
    onComplete: options.onComplete,
    broadcast,
    onError: options.onError ??
      ((error, upload, source) =>
        console.error(`Upload ${upload.id || "creation"}: ${source} failed`, error)),
    onResponseError: hook("onResponseError", options.onResponseError),
  };
}

/** A hook option: a function or unset. */
function hook<T>(name: string, value: T): T {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`${name} must be a function`);
  }
  return value;
}

/**
 * The `state` option, else the store's own (a `FileStore` keeps records beside
 * its bytes, so a restart loses nothing), else memory.
 */
function chooseState(state: UploadState | undefined): UploadState {
  if (state === undefined) return new MemoryUploadState();
  const methods = ["create", "get", "save", "delete", "lock", "due"] as const;
  if (methods.some((name) => typeof state?.[name] !== "function")) {
    throw new TypeError("state must be an UploadState, such as new RedisUploadState({ redis })");
  }
  return state;
}

/** Checks the `broadcastProgress` option; `null` when it is unset. */
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
