/**
 * The errors the upload module throws for conditions a caller may handle.
 *
 * @module
 */
import { KilnError, type UploadErrorCode } from "../errors.ts";

/**
 * A store operation failed for a reason a caller can act on: the upload does
 * not exist (`UPLOAD_NOT_FOUND`), another unfinished upload already holds the
 * path (`UPLOAD_EXISTS`), a chunked upload was used after it was finalized
 * or aborted (`UPLOAD_CLOSED`), an upload's stored record cannot be read
 * (`UPLOAD_RECORD_CORRUPT`; the tus server answers 500 and keeps its bytes),
 * or `uploadFile()` could not reach the server and has no retry left
 * (`UPLOAD_UNREACHABLE`, the network error as `cause`).
 *
 * @example Telling a missing upload from other failures
 * ```ts
 * import { MemoryStore } from "@kiln/core/upload";
 * import { UploadError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * await assert.rejects(
 *   store.resumeChunkedUpload("missing", 0),
 *   (error) => error instanceof UploadError && error.code === "UPLOAD_NOT_FOUND",
 * );
 * ```
 */
export class UploadError extends KilnError {
  /**
   * Creates an upload error.
   *
   * @param code The machine-readable code.
   * @param message A sentence-case message without a trailing period.
   * @param options The cause, if any.
   */
  constructor(code: UploadErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/**
 * The tus server refused an upload for a reason retrying cannot fix (such as
 * 413 for a file over the size limit or 415 for a refused type).
 *
 * @example Reading the status
 * ```ts
 * import { UploadRejectedError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new UploadRejectedError(415, "File type image/gif is not allowed");
 * assert.equal(error.code, "UPLOAD_REJECTED");
 * assert.equal(error.status, 415);
 * ```
 */
export class UploadRejectedError extends UploadError {
  /** The HTTP status the server answered. */
  readonly status: number;

  /**
   * Creates the error for a refused request.
   *
   * @param status The HTTP status.
   * @param message The server's message.
   */
  constructor(status: number, message: string) {
    super("UPLOAD_REJECTED", message);
    this.status = status;
  }
}
