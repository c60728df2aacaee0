/**
 * Job definitions: a name, a payload schema and the handler that runs it.
 *
 * @module
 */
import { Keyspace } from "../redis/keys.ts";
import { assertBackoff, type Backoff } from "./backoff.ts";
import type { Logger } from "./logger.ts";
import { MAX_TIMER_MS } from "./_constants.ts";
import type { BatchContext, ChainContext } from "./workflow.ts";
import type { JobConcurrency, JobRateLimit } from "./flow.ts";
import { assertFlowOptions } from "./_flow.ts";

/** A job's priority band: workers always take `high` before `normal` before `low`. */
export type Priority = "high" | "normal" | "low";

/** The priority bands, best first. */
export const PRIORITIES: readonly Priority[] = ["high", "normal", "low"];

/**
 * A valibot schema, synchronous or asynchronous (`v.object(…)`, `v.pipe(…)`, …).
 * Described structurally so the public types do not depend on valibot's internals.
 */
export interface PayloadSchema {
  /** valibot's kind marker. */
  readonly kind: "schema";
  /** Whether the schema validates asynchronously. */
  readonly async: boolean;
  /** valibot's phantom type slot carrying the input and output types. */
  readonly "~types"?: { readonly input: unknown; readonly output: unknown } | undefined;
}

/** The payload type a schema accepts: what `dispatch()` takes. */
export type PayloadInput<S extends PayloadSchema> = NonNullable<S["~types"]>["input"];

/** The payload type a schema produces: what the handler receives. */
export type PayloadOutput<S extends PayloadSchema> = NonNullable<S["~types"]>["output"];

/** What a handler receives besides its payload. */
export interface JobContext {
  /** The job's id. */
  readonly jobId: string;
  /** The job's name. */
  readonly name: string;
  /** The queue the job came from. */
  readonly queue: string;
  /** Which attempt this is: 1 for the first run. */
  readonly attempt: number;
  /** Aborted when the job times out, its lease is lost, or the worker stops past its grace period. */
  readonly signal: AbortSignal;
  /** A logger whose lines carry the job's id and name. */
  readonly logger: Logger;
  /**
   * Reports progress (any finite number, such as a percentage). `progress`
   * listeners hear it at once, and the latest value is stored on the job in
   * the background (while this run holds the lease), where `queue.job(id)`
   * reads it. A value reported while an earlier one is still being written
   * replaces it, so a tight loop costs at most one write in flight.
   *
   * @throws {TypeError} When `value` is not a finite number.
   */
  progress(value: number): void;
  /**
   * Puts the job back without counting a failure, to run again after
   * `delay`. Used by middleware such as `rateLimited`; the handler does not run.
   */
  release(delay?: number): void;
  /**
   * Appends a line to the job's log, kept with the job (the newest 100 lines,
   * each cut at 2,000 characters) and shown by `queue.job(id)` and
   * `queue.jobs()`. The lines of an attempt are stored with its outcome, in
   * the same round trip, so logging costs no request of its own.
   *
   * @throws {TypeError} When `line` is not a string.
   */
  log(line: string): void;
  /** For a chain's step (or its `catch`): the chain, and for `catch` the step that failed. */
  readonly chain?: ChainContext;
  /**
   * For a chain's steps after the first: the previous step's result, as JSON
   * carries it (`null` when it returned nothing JSON keeps, or over 64 KiB).
   */
  readonly previous?: unknown;
  /** For a batch's jobs and callbacks: the batch, and whether it was cancelled. */
  readonly batch?: BatchContext;
}

/** What {@linkcode defineJob} takes. */
export interface JobOptions<S extends PayloadSchema, R> {
  /** A name unique among your jobs; workers look handlers up by it. */
  name: string;
  /** The valibot schema of the payload, checked at dispatch and again before the handler runs. */
  schema: S;
  /** Runs the job. Throwing (or rejecting) fails the attempt. */
  handle(payload: PayloadOutput<S>, ctx: JobContext): Promise<R> | R;
  /** The queue it goes to. @default "default" */
  queue?: string;
  /** How many times a failed attempt is retried before the job is dead-lettered. @default 3 */
  maxRetries?: number;
  /**
   * How many times the job's lease may expire (its worker crashed or blocked
   * past the lease) before it is dead-lettered with a `JobStalledError`. A
   * stall is not a failed attempt: the job is served again and no retry is used.
   * @default the worker's `maxStalls` (1)
   */
  maxStalls?: number;
  /**
   * Milliseconds before `ctx.signal` aborts and the attempt fails with a
   * `JobTimeoutError`. The attempt is failed (retried or dead-lettered) at
   * the timeout, but JavaScript cannot stop a running function: a handler
   * that ignores `ctx.signal` keeps running, and keeps its concurrency slot,
   * until it returns; whatever it returns then is ignored.
   * @default undefined (no limit)
   */
  timeout?: number;
  /** The wait before each retry. @default { type: "exponential", delay: 1000, max: 60000, jitter: "equal" } */
  backoff?: Backoff;
  /** The default priority of dispatched jobs. @default "normal" */
  priority?: Priority;
  /**
   * Labels computed from the payload at dispatch and indexed on every state,
   * so `queue.jobs({ tag })` finds the job whether it waits, runs, completed
   * or failed (at most 20 tags of at most 200 characters, no control characters).
   * @default no tags
   */
  tags?: (payload: PayloadOutput<S>) => readonly string[];
  /**
   * At most `limit` jobs with the same key run at once, across every worker
   * and process; the others wait (no failure, no retry used) while other keys'
   * jobs overtake them. Keys are per job definition.
   * @default no limit
   */
  concurrency?: JobConcurrency<PayloadOutput<S>>;
  /**
   * At most `limit` jobs with the same key start in any `per` ms (a sliding
   * window); the others wait, as for `concurrency`. Keys are per job definition.
   * @default no limit
   */
  rateLimit?: JobRateLimit<PayloadOutput<S>>;
}

/** A defined job, ready to dispatch and to give to workers. */
export interface JobDefinition<S extends PayloadSchema = PayloadSchema, R = unknown> {
  /** The job's name. */
  readonly name: string;
  /** The payload schema. */
  readonly schema: S;
  /** The queue it goes to. */
  readonly queue: string;
  /** Retries before dead-lettering. */
  readonly maxRetries: number;
  /** Stalls tolerated before dead-lettering; `undefined` leaves it to the worker. */
  readonly maxStalls: number | undefined;
  /** The attempt time limit in milliseconds, if any. */
  readonly timeout: number | undefined;
  /** The wait before each retry. */
  readonly backoff: Backoff;
  /** The default priority. */
  readonly priority: Priority;
  /** Computes the tags of a payload, if the job has tags. */
  readonly tags: ((payload: PayloadOutput<S>) => readonly string[]) | undefined;
  /** Its per-key concurrency limit, if any. */
  readonly concurrency?: JobConcurrency<PayloadOutput<S>>;
  /** Its per-key rate limit, if any. */
  readonly rateLimit?: JobRateLimit<PayloadOutput<S>>;
  /** The handler. */
  handle(payload: PayloadOutput<S>, ctx: JobContext): Promise<R> | R;
}

/** Any job definition, whatever its payload. */
// deno-lint-ignore no-explicit-any
export type AnyJob = JobDefinition<any, any>;

const DEFAULT_BACKOFF: Backoff = {
  type: "exponential",
  delay: 1_000,
  max: 60_000,
  jitter: "equal",
};

/**
 * Defines a job. The options are checked once, here.
 *
 * @param options The name, schema, handler and retry policy.
 * @returns The definition, to pass to `queue.dispatch()` and `new Worker()`.
 * @throws {TypeError} When the name, queue, schema, handler, priority, backoff or a flow key is malformed.
 * @throws {RangeError} When `maxRetries`, `maxStalls`, `timeout` or a flow limit is out of range.
 *
 * @example Defining a job
 * ```ts
 * import * as v from "valibot";
 * import { defineJob } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const sendEmail = defineJob({
 *   name: "send-email",
 *   schema: v.object({ to: v.pipe(v.string(), v.email()), subject: v.string() }),
 *   queue: "mail",
 *   maxRetries: 3,
 *   backoff: { type: "exponential", delay: 1_000, max: 60_000, jitter: "equal" },
 *   async handle(payload, ctx) {
 *     ctx.logger.info(`sending to ${payload.to}`);
 *   },
 * });
 * assert.equal(sendEmail.queue, "mail");
 * ```
 */
export function defineJob<S extends PayloadSchema, R = unknown>(
  options: JobOptions<S, R>,
): JobDefinition<S, R> {
  const name = options?.name;
  if (!isLabel(name)) {
    throw new TypeError(
      "Job name must be a non-empty string of at most 200 characters, without control characters",
    );
  }
  if (
    typeof options.schema !== "object" || options.schema === null || !("~run" in options.schema)
  ) {
    throw new TypeError(`Job ${name}: schema must be a valibot schema`);
  }
  if (typeof options.handle !== "function") {
    throw new TypeError(`Job ${name}: handle must be a function`);
  }
  const queue = options.queue ?? "default";
  new Keyspace(queue); // throws the same TypeError a Redis key would
  const maxRetries = options.maxRetries ?? 3;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw new RangeError(
      `Job ${name}: maxRetries must be a non-negative integer, got ${maxRetries}`,
    );
  }
  const maxStalls = options.maxStalls;
  if (maxStalls !== undefined && (!Number.isInteger(maxStalls) || maxStalls < 0)) {
    throw new RangeError(`Job ${name}: maxStalls must be a non-negative integer, got ${maxStalls}`);
  }
  const timeout = options.timeout;
  if (
    timeout !== undefined && (!Number.isInteger(timeout) || timeout <= 0 || timeout > MAX_TIMER_MS)
  ) {
    throw new RangeError(
      `Job ${name}: timeout must be a positive integer of milliseconds, at most ${MAX_TIMER_MS}`,
    );
  }
  const priority = options.priority ?? "normal";
  if (!PRIORITIES.includes(priority)) {
    throw new TypeError(`Job ${name}: priority must be "high", "normal" or "low", got ${priority}`);
  }
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  assertBackoff(backoff, name);
  if (options.tags !== undefined && typeof options.tags !== "function") {
    throw new TypeError(`Job ${name}: tags must be a function of the payload`);
  }
  assertFlowOptions(name, options.concurrency, options.rateLimit);
  return {
    name,
    schema: options.schema,
    queue,
    maxRetries,
    maxStalls,
    timeout,
    backoff,
    priority,
    tags: options.tags,
    ...(options.concurrency ? { concurrency: { ...options.concurrency } } : {}),
    ...(options.rateLimit ? { rateLimit: { ...options.rateLimit } } : {}),
    handle: options.handle,
  };
}

/** The most tags a job carries. */
export const MAX_TAGS = 20;

/**
 * Whether a job name or tag is acceptable: 1 to 200 characters and no control
 * characters (the Redis index separates its parts with NUL).
 */
export function isLabel(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 200 &&
    // deno-lint-ignore no-control-regex
    !/[\u0000-\u001f\u007f]/.test(value);
}
