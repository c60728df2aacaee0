/**
 * Background jobs for Deno, Bun, Node and Cloudflare Workers, on Redis over
 * HTTP or in memory: define jobs with a valibot schema, dispatch them, and
 * run them with workers that lease, retry, time out and dead-letter.
 *
 * @example Defining, dispatching and draining a job
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const sent: string[] = [];
 * const sendEmail = defineJob({
 *   name: "send-email",
 *   schema: v.object({ to: v.pipe(v.string(), v.email()), subject: v.string() }),
 *   queue: "mail",
 *   async handle(payload) {
 *     sent.push(payload.to);
 *   },
 * });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * await queue.dispatch(sendEmail, { to: "ada@example.com", subject: "Hello" });
 * const worker = new Worker(queue, { jobs: [sendEmail], concurrency: 5 });
 * const summary = await worker.drain({ maxJobs: 100 });
 * assert.equal(summary.completed, 1);
 * assert.deepEqual(sent, ["ada@example.com"]);
 * ```
 *
 * @module
 */
export {
  type AnyJob,
  defineJob,
  type JobContext,
  type JobDefinition,
  type JobOptions,
  type PayloadInput,
  type PayloadOutput,
  type PayloadSchema,
  type Priority,
} from "./job.ts";
export type {
  DebounceOptions,
  JobConcurrency,
  JobFlow,
  JobRateLimit,
  ThrottleOptions,
} from "./flow.ts";
export {
  type Backoff,
  backoffDelay,
  type BackoffFunction,
  type ExponentialBackoff,
  type FixedBackoff,
  type Jitter,
} from "./backoff.ts";
export {
  DEFAULT_MAX_PAYLOAD_BYTES,
  DISPATCH_BATCH_SIZE,
  type DispatchManyOptions,
  type DispatchOptions,
  FailedJobs,
  type ListFailedOptions,
  type MetricsQuery,
  Queue,
  type QueueOptions,
  type QueueSummary,
} from "./queue.ts";
export type { JobPage, JobQuery } from "./_search.ts";
export type { MetricPoint, Percentiles } from "./_metrics.ts";
export type { EventsOptions, JobEventStream } from "./_events.ts";
export type { TracingApi, TracingSpan } from "./_tracing.ts";
export { Worker } from "./worker.ts";
export type {
  AbandonedJob,
  DrainOptions,
  DrainSummary,
  StopOptions,
  WorkerOptions,
} from "./worker_options.ts";
export { type Clock, systemClock } from "../clock.ts";
export type { WorkerEvents } from "./worker_events.ts";
export type {
  BatchContext,
  BatchOptions,
  ChainContext,
  ChainOptions,
  Workflow,
  WorkflowJob,
} from "./workflow.ts";
export type {
  AttemptError,
  BatchInfo,
  ChainFailure,
  ChainInfo,
  DispatchResult,
  FailedJob,
  JobEvent,
  JobInfo,
  JobState,
  JobWorkflow,
  Limiter,
  QueueCounts,
  RetainLimit,
  Retention,
  StoredJob,
  WorkerInfo,
} from "./backend.ts";
export { MemoryBackend } from "./memory_backend.ts";
export { RedisBackend, type RedisBackendOptions } from "./redis_backend.ts";
export type { Middleware, MiddlewareContext } from "./middleware.ts";
export {
  type JobMetrics,
  logging,
  type LoggingOptions,
  metrics,
  type MetricsMiddleware,
  rateLimited,
  type RateLimitOptions,
  withoutOverlapping,
  type WithoutOverlappingOptions,
} from "./builtin_middleware.ts";
export { consoleLogger, type LogFields, type Logger, silentLogger } from "./logger.ts";
// Errors are exported from `@kiln/core/errors` only; the worker's state type is the queue's too.
export type { PayloadIssue, WorkerState } from "./errors.ts";
