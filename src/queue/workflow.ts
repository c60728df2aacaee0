/**
 * Chains and batches: the types `queue.chain()` and `queue.batch()` take and
 * return. Each step, member and callback is an ordinary job of one queue; the
 * backend advances a chain and counts a batch in the same atomic step that
 * completes or dead-letters a job.
 *
 * @module
 */
import type { AnyJob } from "./job.ts";

/** One job of a chain or batch, or a callback: its definition and its payload. */
export type WorkflowJob = readonly [job: AnyJob, payload: unknown];

/** Options for {@linkcode import("./queue.ts").Queue.chain}. */
export interface ChainOptions {
  /**
   * The chain's id, chosen by the caller (at most 200 characters, no control
   * characters): a second `chain()` with the same id answers the chain that
   * exists and dispatches nothing, so a call whose answer was lost can be made
   * again. It names the steps' jobs (`<id>-1`, `<id>-catch`): keep it apart
   * from batches' ids and your own job ids. Random when not given.
   */
  id?: string;
  /**
   * Dispatched once if a step is dead-lettered (or removed): the chain stops
   * there, and this job's handler reads the failed step in `ctx.chain.failed`.
   * An operator's retry of that step continues the chain; if it fails again,
   * this is dispatched again (as `<chain id>-catch-2`, …).
   */
  catch?: WorkflowJob;
}

/** Options for {@linkcode import("./queue.ts").Queue.batch}. */
export interface BatchOptions {
  /**
   * The batch's id, chosen by the caller (at most 200 characters, no control
   * characters): a second `batch()` with the same id answers the batch that
   * exists and dispatches nothing. Only for a batch sent in one request (at
   * most 1,000 jobs and `maxPayloadBytes`), which gets in whole or not at all;
   * a larger one is refused. It names the jobs (`<id>-0`, `<id>-then`): keep
   * it apart from chains' ids and your own job ids. Random when not given.
   */
  id?: string;
  /** A name to recognise the batch by in `batchInfo()`. */
  name?: string;
  /** Whether a dead-lettered job is expected: then `catch` is not dispatched. @default false */
  allowFailures?: boolean;
  /**
   * Dispatched once when every job of the batch completed (also when the last
   * failed one completes after an operator's retry).
   */
  then?: WorkflowJob;
  /** Dispatched once when the first job is dead-lettered (unless `allowFailures`). */
  catch?: WorkflowJob;
  /**
   * Dispatched once, the first time no job is pending any more (also after
   * `cancelBatch()`); not again when a retried member finishes the batch again.
   */
  finally?: WorkflowJob;
}

/** A dispatched chain or batch. */
export interface Workflow {
  /** Its id, for `chainInfo()`, `batchInfo()`, `addToBatch()` and `cancelBatch()`. */
  readonly id: string;
  /** The queue all its jobs run on. */
  readonly queue: string;
  /** Its jobs' ids, in order (a chain's later steps exist once dispatched). */
  readonly jobIds: readonly string[];
}

/** What a chain's step (or its `catch`) reads in `ctx.chain`. */
export interface ChainContext {
  /** The chain's id. */
  readonly id: string;
  /** This step's number, from 1 (0 for the chain's `catch`). */
  readonly step: number;
  /** How many steps the chain has. */
  readonly steps: number;
  /** For the chain's `catch`: the step that failed, its job id and last error; else `null`. */
  readonly failed: {
    readonly jobId: string;
    readonly error: { readonly name: string; readonly message: string };
  } | null;
}

/** What a batch's member (or callback) reads in `ctx.batch`. */
export interface BatchContext {
  /** The batch's id. */
  readonly id: string;
  /**
   * Whether the batch was cancelled: for a running member, once its
   * `ctx.signal` aborted with a `JobCancelledError` (the worker learns of a
   * cancel, not its cause, so `queue.remove()` of this one job reads `true`
   * too); for `finally`, when it runs because of the cancellation.
   */
  readonly cancelled: boolean;
}
