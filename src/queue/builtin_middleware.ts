/**
 * Built-in job middleware: logging, metrics, rate limits and overlap
 * guards, in the spirit of Laravel's job middleware.
 *
 * @module
 */
import type { Middleware, MiddlewareContext } from "./middleware.ts";
import type { Logger } from "./logger.ts";

/** Options for {@linkcode logging}. */
export interface LoggingOptions {
  /** Where to log. @default each job's `ctx.logger` */
  logger?: Logger;
}

/**
 * Logs the start, completion (with its duration) and failure of every job.
 *
 * @param options Where to log.
 * @returns The middleware.
 *
 * @example Logging every job
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, type Logger, logging, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const logger: Logger = {
 *   debug() {},
 *   info: (message) => void lines.push(message),
 *   warn: (message) => void lines.push(message),
 *   error: (message) => void lines.push(message),
 * };
 * const noop = defineJob({ name: "noop", schema: v.unknown(), handle() {} });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const worker = new Worker(queue, { jobs: [noop] });
 * worker.use(logging({ logger }));
 * await queue.dispatch(noop, null);
 * await worker.drain();
 * assert.deepEqual(lines, ["Job started", "Job completed"]);
 * ```
 */
export function logging(options: LoggingOptions = {}): Middleware {
  return async function loggingMiddleware(ctx, next) {
    const logger = options.logger ?? ctx.logger;
    const fields = { jobId: ctx.jobId, job: ctx.name, queue: ctx.queue, attempt: ctx.attempt };
    const started = performance.now();
    logger.info("Job started", fields);
    try {
      const result = await next();
      logger.info("Job completed", {
        ...fields,
        duration: Math.round(performance.now() - started),
      });
      return result;
    } catch (error) {
      logger.warn("Job failed", {
        ...fields,
        duration: Math.round(performance.now() - started),
        error: error instanceof Error ? error.message : String(error),
      });
      throw error;
    }
  };
}

/** Counts and durations of one job name. */
export interface JobMetrics {
  /** Attempts that completed. */
  completed: number;
  /** Attempts that threw. */
  failed: number;
  /** Total handler time, in milliseconds. */
  totalDuration: number;
  /** The longest attempt, in milliseconds. */
  maxDuration: number;
}

/** The {@linkcode metrics} middleware, with a way to read what it counted. */
export interface MetricsMiddleware extends Middleware {
  /** A copy of the counts and durations so far, by job name. */
  snapshot(): Record<string, JobMetrics>;
  /** Starts counting again from zero. */
  reset(): void;
}

/**
 * Counts completed and failed attempts and their durations per job name.
 *
 * @returns The middleware, with `snapshot()` and `reset()`.
 *
 * @example Reading metrics
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, metrics, Queue, Worker } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const noop = defineJob({ name: "noop", schema: v.unknown(), handle() {} });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const worker = new Worker(queue, { jobs: [noop] });
 * const stats = metrics();
 * worker.use(stats);
 * await queue.dispatch(noop, null);
 * await worker.drain();
 * assert.equal(stats.snapshot().noop.completed, 1);
 * ```
 */
export function metrics(): MetricsMiddleware {
  let byName: Record<string, JobMetrics> = {};
  const middleware = async function metricsMiddleware(
    ctx: MiddlewareContext,
    next: () => Promise<unknown>,
  ) {
    const entry = byName[ctx.name] ??= {
      completed: 0,
      failed: 0,
      totalDuration: 0,
      maxDuration: 0,
    };
    const started = performance.now();
    const record = () => {
      const elapsed = performance.now() - started;
      entry.totalDuration += elapsed;
      entry.maxDuration = Math.max(entry.maxDuration, elapsed);
    };
    try {
      const result = await next();
      entry.completed++;
      return result;
    } catch (error) {
      entry.failed++;
      throw error;
    } finally {
      record();
    }
  } as MetricsMiddleware;
  middleware.snapshot = () => structuredClone(byName);
  middleware.reset = () => {
    byName = {};
  };
  return middleware;
}

/** Options for {@linkcode rateLimited}. */
export interface RateLimitOptions {
  /** The limit's name, shared by every worker on the backend; or a function of the job. */
  key: string | ((ctx: MiddlewareContext) => string);
  /** At most this many jobs start per window. */
  max: number;
  /** The window, in milliseconds (sliding). */
  per: number;
}

/**
 * Lets at most `max` jobs start per `per` milliseconds across every worker
 * sharing the backend; a job over the limit is released (no failure counted)
 * to run when a slot frees up. It acts after the job was taken, so each
 * refusal costs a take and a release: for a limit the payload decides,
 * `defineJob({ rateLimit })` never takes a job over it. Keep this one for a
 * limit shared across job types or queues.
 *
 * @param options The limit's key, size and window.
 * @returns The middleware.
 * @throws {TypeError} When `key` is missing.
 * @throws {RangeError} When `max` or `per` is not a positive integer.
 *
 * @example Ten calls a second to a partner API
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue, rateLimited, Worker } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const call = defineJob({ name: "call-partner", schema: v.number(), handle() {} });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const worker = new Worker(queue, { jobs: [call], concurrency: 20 });
 * worker.use(rateLimited({ key: "partner-api", max: 10, per: 1_000 }));
 * await queue.dispatchMany(call, Array.from({ length: 12 }, (_, i) => i));
 * const summary = await worker.drain({ maxJobs: 12 });
 * // Ten ran; two went back to wait for the window, costing no retry.
 * assert.equal(summary.completed, 10);
 * assert.equal(summary.released, 2);
 * ```
 */
export function rateLimited(options: RateLimitOptions): Middleware {
  if (typeof options?.key !== "string" && typeof options?.key !== "function") {
    throw new TypeError("rateLimited needs a key");
  }
  if (!Number.isInteger(options.max) || options.max <= 0) {
    throw new RangeError(`rateLimited max must be a positive integer, got ${options.max}`);
  }
  if (!Number.isInteger(options.per) || options.per <= 0) {
    throw new RangeError(
      `rateLimited per must be a positive integer of milliseconds, got ${options.per}`,
    );
  }
  return async function rateLimitedMiddleware(ctx, next) {
    const key = typeof options.key === "function" ? options.key(ctx) : options.key;
    const hit = await ctx.limiter.hit(
      key,
      crypto.randomUUID(),
      options.max,
      options.per,
      ctx.now(),
    );
    if (!hit.allowed) {
      ctx.release(hit.retryAfter);
      return undefined;
    }
    return await next();
  };
}

/** Options for {@linkcode withoutOverlapping}. */
export interface WithoutOverlappingOptions {
  /** How long a job that found the lock taken waits before running again. @default 1000 */
  releaseAfter?: number;
  /** The lock's time to live, in case its holder dies. @default 300000 */
  expiresAfter?: number;
}

/**
 * Runs at most one job with the same key at a time across every worker
 * sharing the backend; a job that finds the key taken is released (no
 * failure counted) and tried again after `releaseAfter`. It acts after the
 * job was taken: `defineJob({ concurrency: { key, limit: 1 } })` never takes
 * a job whose key is busy, and lets other keys' jobs go first.
 *
 * @param key The lock's name, or a function of the job (such as one lock per user).
 * @param options Release delay and lock lifetime.
 * @returns The middleware.
 * @throws {TypeError} When `key` is missing.
 *
 * @example One sync per account at a time
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue, withoutOverlapping, Worker } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * let running = 0;
 * let peak = 0;
 * const sync = defineJob({
 *   name: "sync",
 *   schema: v.object({ account: v.string() }),
 *   async handle() {
 *     peak = Math.max(peak, ++running);
 *     await new Promise((resolve) => setTimeout(resolve, 1));
 *     running--;
 *   },
 * });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const worker = new Worker(queue, { jobs: [sync], concurrency: 2 });
 * worker.use(withoutOverlapping((ctx) => `sync:${(ctx.job.payload as { account: string }).account}`));
 * await queue.dispatchMany(sync, [{ account: "a" }, { account: "a" }]);
 * const summary = await worker.drain({ maxJobs: 2 });
 * assert.equal(peak, 1); // the second waited (released) instead of running beside the first
 * assert.equal(summary.completed + summary.released, 2);
 * ```
 */
export function withoutOverlapping(
  key: string | ((ctx: MiddlewareContext) => string),
  options: WithoutOverlappingOptions = {},
): Middleware {
  if (typeof key !== "string" && typeof key !== "function") {
    throw new TypeError("withoutOverlapping needs a key");
  }
  const releaseAfter = options.releaseAfter ?? 1_000;
  const expiresAfter = options.expiresAfter ?? 300_000;
  return async function withoutOverlappingMiddleware(ctx, next) {
    const name = typeof key === "function" ? key(ctx) : key;
    const token = crypto.randomUUID();
    if (!await ctx.limiter.lock(name, token, expiresAfter, ctx.now())) {
      ctx.release(releaseAfter);
      return undefined;
    }
    try {
      return await next();
    } finally {
      await ctx.limiter.unlock(name, token);
    }
  };
}
