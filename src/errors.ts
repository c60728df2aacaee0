/**
 * The errors Kiln throws for conditions a caller may want to handle.
 *
 * Every error is a {@linkcode KilnError} with a stable {@linkcode KilnErrorCode}
 * that can be used in a `switch`, a `name` taken from its class, and the
 * underlying `cause` kept. Plain programming mistakes (a bad argument) throw
 * `TypeError` or `RangeError` instead.
 *
 * @example Switching on an error code
 * ```ts
 * import { KilnError } from "@kiln/core/errors";
 *
 * try {
 *   throw new KilnError("REDIS_UNAVAILABLE", "Redis did not answer");
 * } catch (error) {
 *   if (error instanceof KilnError && error.code === "REDIS_UNAVAILABLE") {
 *     console.log("retry later");
 *   }
 * }
 * ```
 *
 * @module
 */

/**
 * Stable codes carried by every {@linkcode KilnError}. New codes are only ever
 * added, never renamed, so callers can rely on them across versions.
 *
 * Each module keeps its codes in its own union below.
 */
export type KilnErrorCode =
  | RedisErrorCode
  | QueueErrorCode
  | SchedulerErrorCode
  | RealtimeErrorCode
  | UploadErrorCode;

/** Codes of the Redis layer. */
export type RedisErrorCode =
  | "REDIS_UNAVAILABLE"
  | "REDIS_UNAUTHORIZED"
  | "REDIS_COMMAND_FAILED"
  | "REDIS_UNEXPECTED_REPLY"
  | "REDIS_REQUEST_TOO_LARGE";

/** Codes of the queue module. */
export type QueueErrorCode =
  | "QUEUE_INVALID_PAYLOAD"
  | "QUEUE_JOB_TIMEOUT"
  | "QUEUE_LEASE_LOST"
  | "QUEUE_UNKNOWN_JOB"
  | "QUEUE_JOB_STALLED"
  | "QUEUE_PAYLOAD_TOO_LARGE"
  | "QUEUE_WORKER_BUSY"
  | "QUEUE_WORKER_STOPPED"
  | "QUEUE_JOB_ABANDONED"
  | "QUEUE_NEXT_CALLED_TWICE"
  | "QUEUE_JOB_CANCELLED"
  | "QUEUE_INVALID_CURSOR";

/** Codes of the scheduler module. */
export type SchedulerErrorCode =
  | "SCHEDULER_TASK_TIMEOUT"
  | "SCHEDULER_STOPPED"
  | "SCHEDULER_PING_FAILED"
  | "SCHEDULER_UNKNOWN_TASK";

/** Codes of the realtime module. */
export type RealtimeErrorCode =
  | "REALTIME_AUTH_FAILED"
  | "REALTIME_HUB_CLOSED"
  | "REALTIME_CONNECTION_CLOSED"
  | "REALTIME_SUBSCRIPTION_REFUSED";

/** Codes of the upload module. */
export type UploadErrorCode =
  | "UPLOAD_NOT_FOUND"
  | "UPLOAD_EXISTS"
  | "UPLOAD_CLOSED"
  | "UPLOAD_REJECTED"
  | "UPLOAD_RECORD_CORRUPT"
  | "UPLOAD_UNREACHABLE"
  | "UPLOAD_STORE_FAILED"
  | "UPLOAD_STORE_UNAVAILABLE";

/** Options accepted by {@linkcode KilnError} and its subclasses. */
export interface KilnErrorOptions {
  /** The error that caused this one, kept for debugging. */
  cause?: unknown;
}

/**
 * Base class of every error Kiln throws on purpose.
 *
 * @example Creating and inspecting an error
 * ```ts
 * import { KilnError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new KilnError("REDIS_COMMAND_FAILED", "WRONGTYPE", { cause: new Error("x") });
 * assert.equal(error.name, "KilnError");
 * assert.equal(error.code, "REDIS_COMMAND_FAILED");
 * assert.ok(error.cause instanceof Error);
 * ```
 */
export class KilnError extends Error {
  /** A stable, machine-readable code for this condition. */
  readonly code: KilnErrorCode;

  /**
   * Creates an error with a stable code.
   *
   * @param code The machine-readable code.
   * @param message A sentence-case message without a trailing period.
   * @param options The cause, if any.
   */
  constructor(code: KilnErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.code = code;
    // `new.target` names the subclass actually constructed, so subclasses need no boilerplate.
    this.name = new.target.name;
  }
}

/**
 * Redis could not be reached, or answered with an error to a command Kiln sent.
 *
 * @example Telling an outage from a command error
 * ```ts
 * import { RedisError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new RedisError("REDIS_UNAVAILABLE", "Gateway answered 503");
 * assert.equal(error.name, "RedisError");
 * assert.equal(error.code, "REDIS_UNAVAILABLE");
 * ```
 */
export class RedisError extends KilnError {}
