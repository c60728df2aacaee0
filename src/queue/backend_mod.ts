/**
 * The contract a queue backend implements, for authors of backends other
 * than the two Kiln ships (`MemoryBackend` and `RedisBackend`, in
 * `@kiln/core/queue`). An application never needs this entry point: it picks
 * a backend and hands it to `new Queue({ backend })`.
 *
 * Every operation is shaped for batching (one round trip reserves many jobs,
 * or completes a batch and reserves the next), and a backend must pass the
 * same conformance suite as Kiln's own.
 *
 * @example Wrapping a backend to count round trips
 * ```ts
 * import type { QueueBackend, TakeRequest, TakeResult } from "@kiln/core/queue/backend";
 * import { MemoryBackend, Queue } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * function counted(inner: QueueBackend): { backend: QueueBackend; takes: () => number } {
 *   let takes = 0;
 *   const backend = Object.create(inner) as QueueBackend;
 *   backend.take = (request: TakeRequest): Promise<TakeResult> => {
 *     takes++;
 *     return inner.take(request);
 *   };
 *   return { backend, takes: () => takes };
 * }
 *
 * const { backend, takes } = counted(new MemoryBackend());
 * const queue = new Queue({ backend });
 * await queue.backend.take({
 *   queue: "mail", now: Date.now(), complete: [], reserve: 1, leaseDuration: 30_000, token: "t1",
 * });
 * assert.equal(takes(), 1);
 * ```
 *
 * @module
 */
export type {
  BackendJobPage,
  BackendJobQuery,
  Completion,
  FailOutcome,
  FailRequest,
  FailResult,
  Heartbeat,
  JobAction,
  JobPosition,
  Lease,
  ManageRequest,
  MetricBucket,
  NewJob,
  QueueBackend,
  TakeRequest,
  TakeResult,
  WorkflowMark,
  WorkflowRequest,
} from "./backend.ts";
