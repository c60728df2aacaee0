/**
 * A task's settings as the fluent builder writes them and the scheduler reads
 * them. Optional lists stay `undefined` until used, so 10,000 plain tasks stay small.
 *
 * @module
 */
import type { CompiledPattern } from "./_patterns.ts";
import type { TaskRunRecord } from "./history.ts";
import type { TaskCondition, TaskHandler, TaskRunInfo } from "./types.ts";

/** A `between()` (inside) or `unlessBetween()` (outside) window, in seconds of the local day. */
export interface TimeWindow {
  start: number;
  end: number;
  inside: boolean;
}

/** How long to wait before retry number `retry` (1-based). */
export type RetryBackoff = number | readonly number[] | ((retry: number) => number);

/** Everything the builder records about one task. */
export interface TaskDefinition {
  readonly name: string;
  readonly handler: TaskHandler;
  /** Kind shown by `list()`: a callback or a queue job. */
  readonly kind: "call" | "job";
  /** second, minute, hour, day of month, month, day of week (and year, from a 7-field cron()). */
  fields: string[];
  timezone?: string;
  description?: string;
  windows?: TimeWindow[];
  conditions?: { test: TaskCondition; expect: boolean }[];
  chain?: (string | ((info: TaskRunInfo) => unknown))[];
  before?: ((info: TaskRunInfo) => unknown)[];
  after?: ((run: TaskRunRecord) => unknown)[];
  onSuccess?: ((run: TaskRunRecord) => unknown)[];
  onFailure?: ((error: unknown, run: TaskRunRecord) => unknown)[];
  pingBefore?: string[];
  pingAfter?: string[];
  overlapTtl?: number;
  oneServer?: boolean;
  retries?: number;
  backoff?: RetryBackoff;
  timeout?: number;
  /** The resolved pattern; cleared whenever the schedule changes. */
  pattern?: CompiledPattern;
  /** The latest occurrence this scheduler has run, for idempotent ticks. */
  lastScheduledAt?: number;
}
