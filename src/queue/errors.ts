/**
 * The errors the queue module throws or records for conditions a caller may handle.
 *
 * @module
 */
import { KilnError } from "../errors.ts";
import { stallErrorMessage } from "./_constants.ts";

/** One reason a payload was refused: where in the payload, and why. */
export interface PayloadIssue {
  /** A dot path into the payload (`"user.email"`, `"items.2"`), or `""` for the payload itself. */
  readonly path: string;
  /** What is wrong there. */
  readonly message: string;
}

/**
 * A payload did not match its job's schema, or is not plain JSON. Nothing was enqueued.
 *
 * @example Listing the failing paths
 * ```ts
 * import { JobValidationError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new JobValidationError("send-email", [{ path: "to", message: "Invalid email" }]);
 * assert.equal(error.code, "QUEUE_INVALID_PAYLOAD");
 * assert.deepEqual(error.issues.map((issue) => issue.path), ["to"]);
 * ```
 */
export class JobValidationError extends KilnError {
  /** The job's name. */
  readonly job: string;
  /** Every failing path with its message. */
  readonly issues: readonly PayloadIssue[];

  /**
   * Creates the error from the issues found.
   *
   * @param job The job's name.
   * @param issues Every failing path with its message.
   */
  constructor(job: string, issues: readonly PayloadIssue[]) {
    const listed = issues.map((issue) => `${issue.path || "(payload)"}: ${issue.message}`);
    super("QUEUE_INVALID_PAYLOAD", `Invalid payload for job ${job}: ${listed.join("; ")}`);
    this.job = job;
    this.issues = issues;
  }
}

/**
 * A handler ran longer than its job's `timeout`; its `ctx.signal` was aborted with this error.
 *
 * @example Recognising a timeout in a handler
 * ```ts
 * import { JobTimeoutError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new JobTimeoutError("resize-image", 30_000);
 * assert.equal(error.code, "QUEUE_JOB_TIMEOUT");
 * assert.equal(error.timeout, 30_000);
 * ```
 */
export class JobTimeoutError extends KilnError {
  /** The limit that was exceeded, in milliseconds. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param job The job's name.
   * @param timeout The limit that was exceeded, in milliseconds.
   */
  constructor(job: string, timeout: number) {
    super("QUEUE_JOB_TIMEOUT", `Job ${job} timed out after ${timeout} ms`);
    this.timeout = timeout;
  }
}

/**
 * The worker lost a job's lease (it expired, or the job was reclaimed by
 * another worker); `ctx.signal` is aborted with this error and the worker's
 * result for the job is discarded.
 *
 * @example Recognising a lost lease
 * ```ts
 * import { LeaseLostError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new LeaseLostError("job-1").code, "QUEUE_LEASE_LOST");
 * ```
 */
export class LeaseLostError extends KilnError {
  /**
   * Creates the error.
   *
   * @param jobId The job whose lease was lost.
   */
  constructor(jobId: string) {
    super("QUEUE_LEASE_LOST", `The lease on job ${jobId} was lost`);
  }
}

/**
 * A reserved job named a job no worker definition knows; it was moved to the failed store.
 *
 * @example Reading the unknown name
 * ```ts
 * import { UnknownJobError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new UnknownJobError("old-job");
 * assert.equal(error.code, "QUEUE_UNKNOWN_JOB");
 * assert.equal(error.job, "old-job");
 * ```
 */
export class UnknownJobError extends KilnError {
  /** The job name that no definition matched. */
  readonly job: string;

  /**
   * Creates the error.
   *
   * @param job The job name that no definition matched.
   */
  constructor(job: string) {
    super("QUEUE_UNKNOWN_JOB", `No worker definition for job ${job}`);
    this.job = job;
  }
}

/**
 * A job's lease expired more than its `maxStalls` times (its worker crashed,
 * or blocked its event loop past the lease, each time); it was moved to the
 * failed store with this error's name and message. A stall below the limit
 * is not a failure: the job is simply served again, costing no retry.
 *
 * @example Recognising a stalled-out job in the failed store
 * ```ts
 * import { JobStalledError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new JobStalledError(2, 1);
 * assert.equal(error.code, "QUEUE_JOB_STALLED");
 * assert.equal(error.name, "JobStalledError");
 * assert.match(error.message, /stalled too many times/);
 * ```
 */
export class JobStalledError extends KilnError {
  /** How many times the lease expired. */
  readonly stalls: number;

  /**
   * Creates the error.
   *
   * @param stalls How many times the lease expired.
   * @param maxStalls How many stalls the job was allowed.
   */
  constructor(stalls: number, maxStalls: number) {
    super("QUEUE_JOB_STALLED", stallErrorMessage(stalls, maxStalls));
    this.stalls = stalls;
  }
}

/** Options for {@linkcode PayloadTooLargeError}. */
export interface PayloadTooLargeErrorOptions {
  /** For `dispatchMany()`: the index of the first payload over the limit. */
  index?: number;
  /** The error that caused this one (the Redis endpoint's refusal), if any. */
  cause?: unknown;
}

/**
 * A payload is too large to enqueue: its JSON is over the queue's
 * `maxPayloadBytes` (UTF-8 bytes), or the Redis endpoint refused the request
 * carrying it as too large (HTTP 413: its own body limit, below
 * `maxPayloadBytes`). Nothing of the refused call was enqueued.
 *
 * @example Reading the size and the limit
 * ```ts
 * import { PayloadTooLargeError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new PayloadTooLargeError("resize-image", 2_000_000, 1_048_576);
 * assert.equal(error.code, "QUEUE_PAYLOAD_TOO_LARGE");
 * assert.equal(error.bytes, 2_000_000);
 * assert.equal(error.limit, 1_048_576);
 * ```
 */
export class PayloadTooLargeError extends KilnError {
  /** The job's name. */
  readonly job: string;
  /** The payload's size as JSON, in UTF-8 bytes (for a refused request, of all its payloads). */
  readonly bytes: number;
  /**
   * The limit that was exceeded: the queue's `maxPayloadBytes`, or `null` when
   * the Redis endpoint refused the request (its limit is its own).
   */
  readonly limit: number | null;
  /** For `dispatchMany()`: the index of the first payload over the limit. */
  readonly index?: number;

  /**
   * Creates the error.
   *
   * @param job The job's name.
   * @param bytes The payload's size as JSON, in UTF-8 bytes.
   * @param limit The limit exceeded, or `null` when the Redis endpoint refused the request.
   * @param options The payload's index in `dispatchMany()`, and the cause.
   */
  constructor(
    job: string,
    bytes: number,
    limit: number | null,
    options: PayloadTooLargeErrorOptions = {},
  ) {
    const where = options.index === undefined ? "" : ` (payload ${options.index})`;
    super(
      "QUEUE_PAYLOAD_TOO_LARGE",
      limit === null
        ? `The Redis endpoint refused job ${job}'s request as too large (${bytes} bytes of payload${where}): set the queue's maxPayloadBytes below the endpoint's request limit`
        : `The payload of job ${job}${where} is ${bytes} bytes of JSON, over maxPayloadBytes (${limit})`,
      "cause" in options ? { cause: options.cause } : {},
    );
    this.job = job;
    this.bytes = bytes;
    this.limit = limit;
    if (options.index !== undefined) this.index = options.index;
  }
}

/** What a worker is doing when a call needs it idle. */
export type WorkerState = "running" | "draining" | "stopping";

/**
 * `start()` or `drain()` was called on a worker that is already running,
 * draining or stopping. The call is refused (its promise rejects) and the
 * worker carries on as it was.
 *
 * @example Starting a worker twice
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
 * import { WorkerBusyError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const noop = defineJob({ name: "noop", schema: v.unknown(), handle() {} });
 * const worker = new Worker(new Queue({ backend: new MemoryBackend() }), { jobs: [noop] });
 * await worker.start();
 * await assert.rejects(worker.start(), WorkerBusyError);
 * await worker.stop();
 * ```
 */
export class WorkerBusyError extends KilnError {
  /** What the worker was doing. */
  readonly state: WorkerState;

  /**
   * Creates the error.
   *
   * @param state What the worker was doing.
   */
  constructor(state: WorkerState) {
    super("QUEUE_WORKER_BUSY", `Worker is already ${state}`);
    this.state = state;
  }
}

/**
 * `stop()` ended its grace period while a handler was still running: the
 * handler's `ctx.signal` is aborted with this error and its job is handed
 * back to the queue (not counted as a failed attempt).
 *
 * @example Recognising a stop in a handler
 * ```ts
 * import { WorkerStoppedError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new WorkerStoppedError("job-1");
 * assert.equal(error.code, "QUEUE_WORKER_STOPPED");
 * assert.equal(error.jobId, "job-1");
 * ```
 */
export class WorkerStoppedError extends KilnError {
  /** The job whose handler was stopped. */
  readonly jobId: string;

  /**
   * Creates the error.
   *
   * @param jobId The job whose handler was stopped.
   */
  constructor(jobId: string) {
    super("QUEUE_WORKER_STOPPED", `The worker stopped before job ${jobId} finished`);
    this.jobId = jobId;
  }
}

/**
 * `drain({ maxTime })` reached its time and grace period while a handler was
 * still running: the handler's `ctx.signal` is aborted with this error and
 * `drain()` returns without it (the job comes back when its lease expires).
 *
 * @example Recognising an abandoned handler
 * ```ts
 * import { JobAbandonedError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new JobAbandonedError("job-1");
 * assert.equal(error.code, "QUEUE_JOB_ABANDONED");
 * assert.equal(error.jobId, "job-1");
 * ```
 */
export class JobAbandonedError extends KilnError {
  /** The job whose handler was given up on. */
  readonly jobId: string;

  /**
   * Creates the error.
   *
   * @param jobId The job whose handler was given up on.
   */
  constructor(jobId: string) {
    super(
      "QUEUE_JOB_ABANDONED",
      `drain() reached maxTime and its grace period before job ${jobId} finished`,
    );
    this.jobId = jobId;
  }
}

/**
 * A middleware called `next()` a second time: the handler runs at most once
 * per attempt, so the second call is refused.
 *
 * @example Recognising the refusal
 * ```ts
 * import { NextCalledTwiceError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new NextCalledTwiceError().code, "QUEUE_NEXT_CALLED_TWICE");
 * ```
 */
export class NextCalledTwiceError extends KilnError {
  /** Creates the error. */
  constructor() {
    super("QUEUE_NEXT_CALLED_TWICE", "next() was called more than once");
  }
}

/**
 * An operator removed a job while it ran (`queue.remove(id)`): its handler's
 * `ctx.signal` is aborted with this error, and the job ends in the failed
 * store without a retry.
 *
 * @example Telling a cancellation from a failure
 * ```ts
 * import { JobCancelledError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const error = new JobCancelledError("job-1");
 * assert.equal(error.code, "QUEUE_JOB_CANCELLED");
 * assert.equal(error.jobId, "job-1");
 * ```
 */
export class JobCancelledError extends KilnError {
  /** The cancelled job's id. */
  readonly jobId: string;

  /**
   * Creates the error.
   *
   * @param jobId The cancelled job's id.
   */
  constructor(jobId: string) {
    super("QUEUE_JOB_CANCELLED", `Job ${jobId} was cancelled while it ran`);
    this.jobId = jobId;
  }
}

/**
 * A `queue.jobs()` cursor that this query did not hand out: malformed,
 * tampered with, or from a search with other filters.
 *
 * @example Refusing a forged cursor
 * ```ts
 * import { MemoryBackend, Queue } from "@kiln/core/queue";
 * import { InvalidCursorError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue({ backend: new MemoryBackend() });
 * await assert.rejects(queue.jobs({ cursor: "not-a-cursor" }), InvalidCursorError);
 * ```
 */
export class InvalidCursorError extends KilnError {
  /**
   * Creates the error.
   *
   * @param reason What is wrong with the cursor.
   */
  constructor(reason: string) {
    super("QUEUE_INVALID_CURSOR", `Invalid job search cursor: ${reason}`);
  }
}
