/**
 * The one error boundary of the tus router: whatever a handler, the state or
 * the store throws becomes a tus answer, so clients get `Tus-Resumable`, the
 * CORS headers and a status they know how to act on, instead of the
 * framework's bare 500 (which tus clients treat as fatal, and browsers cannot
 * even read without CORS headers).
 *
 * Like @tus/server's `onResponseError`, the `onResponseError` option may
 * reshape an answer; the tus and CORS headers are added after it, always.
 */
import type { KilnErrorCode } from "../errors.ts";
import { KilnError } from "../errors.ts";
import { UploadRejectedError } from "./errors.ts";
import type { Config } from "./_config.ts";
import type { Reply } from "./_reply.ts";
import type { UploadErrorAnswer } from "./server_options.ts";

/** Seconds a client is told to wait while Redis is unreachable. */
export const REDIS_RETRY_AFTER = 5;

/** How each stable code is answered; a code not listed (and any other error) is a 500. */
const ANSWERS: Partial<Record<KilnErrorCode, UploadErrorAnswer>> = {
  // An outage passes: clients retry 5xx, and Retry-After says when.
  REDIS_UNAVAILABLE: {
    status: 503,
    headers: { "Retry-After": String(REDIS_RETRY_AFTER) },
    message: "Upload state is unavailable; retry shortly",
  },
  // An object store that is unreachable or answering 5xx (S3Store, R2Store) passes like Redis.
  UPLOAD_STORE_UNAVAILABLE: {
    status: 503,
    headers: { "Retry-After": String(REDIS_RETRY_AFTER) },
    message: "Upload storage is unavailable; retry shortly",
  },
  // The store refused (wrong credentials, a missing bucket): retrying will not help until fixed.
  UPLOAD_STORE_FAILED: { status: 500, headers: {}, message: "Upload storage refused the request" },
  // The upload vanished while the request was on its way (terminated, swept, or its bytes lost).
  UPLOAD_NOT_FOUND: { status: 404, headers: {}, message: "Upload not found" },
  // Nothing is removed: an operator can still recover the bytes (see onError, source "record").
  UPLOAD_RECORD_CORRUPT: {
    status: 500,
    headers: {},
    message: "The record of this upload is unreadable",
  },
};

const FAILED: UploadErrorAnswer = {
  status: 500,
  headers: {},
  message: "The upload server failed; retry later",
};

/** The answer for `error` before `onResponseError` sees it. */
export function answerFor(error: unknown): UploadErrorAnswer {
  if (error instanceof UploadRejectedError && error.status >= 400 && error.status <= 599) {
    return { status: error.status, headers: {}, message: error.message };
  }
  const answer = error instanceof KilnError ? ANSWERS[error.code] : undefined;
  return structuredClone(answer ?? FAILED);
}

/**
 * Turns an error thrown while answering `request` into a reply: tells
 * `onError` about server-side failures, then lets `onResponseError` reshape
 * the answer. A client that went away mid-request is not a failure: it gets
 * a quiet 400 nobody reads, and one debug line.
 */
export async function errorReply(
  config: Config,
  error: unknown,
  request: Request,
  id: string | null,
): Promise<Reply> {
  if (request.signal.aborted) {
    console.debug(`[kiln] Upload ${id ?? "creation"}: the client went away mid-request`);
    return { status: 400, message: "The request ended early" };
  }
  const answer = answerFor(error);
  if (answer.status >= 500) {
    const corrupt = error instanceof KilnError && error.code === "UPLOAD_RECORD_CORRUPT";
    const upload = { id: id ?? "", length: null, offset: 0, metadata: {}, type: null };
    try {
      config.onError(error, upload, corrupt ? "record" : "request");
    } catch {
      // A failing hook must not turn a clear answer into a dropped connection.
    }
  }
  const shaped = await reshape(config, error, request, answer);
  return { status: shaped.status, headers: shaped.headers, message: shaped.message };
}

/** The answer `onResponseError` returns, when it returns a usable one. */
async function reshape(
  config: Config,
  error: unknown,
  request: Request,
  answer: UploadErrorAnswer,
): Promise<UploadErrorAnswer> {
  if (!config.onResponseError) return answer;
  try {
    const shaped = await config.onResponseError(error, request, structuredClone(answer));
    if (shaped === undefined) return answer;
    if (!Number.isInteger(shaped?.status) || shaped.status < 400 || shaped.status > 599) {
      throw new RangeError(
        `onResponseError must return a status from 400 to 599, got ${String(shaped?.status)}`,
      );
    }
    return {
      status: shaped.status,
      headers: { ...shaped.headers },
      message: String(shaped.message ?? ""),
    };
  } catch (hookError) {
    try {
      config.onError(
        hookError,
        { id: "", length: null, offset: 0, metadata: {}, type: null },
        "request",
      );
    } catch {
      // As above: the original answer still goes out.
    }
    return answer;
  }
}
