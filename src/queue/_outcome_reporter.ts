/**
 * Reports the outcomes that end a lease without completing the job (retry,
 * dead letter, release) and keeps trying while the backend fails.
 *
 * @module
 */
import type { AttemptError, FailOutcome, FailResult, QueueBackend, StoredJob } from "./backend.ts";
import type { AnyJob } from "./job.ts";
import type { Queue } from "./queue.ts";
import type { WorkerEventEmitter } from "./worker_events.ts";
import { backoffDelay } from "./backoff.ts";
import { describeError, type Logger } from "./logger.ts";
import { pause, retryDelay } from "./_retry_delay.ts";

/** How many times a report is retried on backend errors before the lease is left to expire. */
const MAX_REPORT_RETRIES = 8;

/** What an {@linkcode OutcomeReporter} works with. */
export interface OutcomeReporterOptions {
  readonly queue: Queue;
  readonly jobs: ReadonlyMap<string, AnyJob>;
  readonly events: WorkerEventEmitter;
  readonly logger: Logger;
  readonly random: () => number;
  /** The cap on the wait between attempts. */
  readonly maxDelay: number;
  /** Whether the worker has given up on reports (at the end of a stop's grace period). */
  readonly gaveUp: () => boolean;
  /** Called with every outcome the backend accepted. */
  readonly count: (result: Exclude<FailResult, "lost">) => void;
}

/** Sends failures, retries and releases to the backend for a worker. */
export class OutcomeReporter {
  #queue: Queue;
  #backend: QueueBackend;
  #options: OutcomeReporterOptions;

  constructor(options: OutcomeReporterOptions) {
    this.#queue = options.queue;
    this.#backend = options.queue.backend;
    this.#options = options;
  }

  /**
   * Fails an attempt: schedules a retry after the job's backoff while it has
   * retries left and `outcome` is `"retry"`, or dead-letters it.
   */
  async fail(
    job: StoredJob,
    token: string,
    error: unknown,
    outcome: "retry" | "dead",
    logs?: readonly string[],
    runTime?: number,
  ): Promise<void> {
    const { events, logger } = this.#options;
    const definition = this.#options.jobs.get(job.name);
    const failures = job.errors.length + 1;
    const now = this.#queue.clock.now();
    const attemptError = toAttemptError(error, job.attempts, now);
    if (outcome === "retry" && definition !== undefined && failures <= definition.maxRetries) {
      let wait: number;
      try {
        wait = backoffDelay(definition.backoff, failures, error, this.#options.random);
      } catch (backoffError) {
        logger.error("Backoff failed; retrying at once", { error: describeError(backoffError) });
        wait = 0;
      }
      if (
        await this.report(job, "retry", now + wait, attemptError, token, false, logs, runTime) ===
          "retried"
      ) {
        events.emit("retrying", { job, error, retryAt: now + wait });
      }
      return;
    }
    if (
      await this.report(job, "dead", now, attemptError, token, false, logs, runTime) === "failed"
    ) {
      events.emit("failed", { job, error });
    }
  }

  /**
   * Sends a fail/retry/release, retrying on backend errors until the worker
   * gives up; then returns `"lost"` and the lease is left to expire.
   */
  async report(
    job: StoredJob,
    outcome: FailOutcome,
    runAt: number,
    error: AttemptError | undefined,
    token: string,
    undoAttempt = false,
    logs?: readonly string[],
    runTime?: number,
  ): Promise<FailResult> {
    const { events, logger } = this.#options;
    const delay = retryDelay(this.#options.maxDelay);
    for (let attempt = 0;; attempt++) {
      try {
        const result = await this.#backend.fail({
          queue: job.queue,
          id: job.id,
          token,
          now: this.#queue.clock.now(),
          outcome,
          runAt,
          error,
          undoAttempt,
          uniqueKey: job.uniqueKey,
          dedupeFor: job.dedupeFor,
          retain: this.#queue.retain,
          logs,
          runTime,
          metrics: this.#queue.tracking.metrics,
        });
        if (result === "retried" || result === "failed" || result === "released") {
          this.#options.count(result);
        } else {
          logger.warn("The job's lease was lost before its outcome was reported", {
            jobId: job.id,
          });
        }
        return result;
      } catch (failure) {
        events.emit("error", { error: failure });
        if (this.#options.gaveUp() || attempt >= MAX_REPORT_RETRIES) {
          // The lease will expire and the job come back: nothing is lost, it may run again.
          logger.error("Could not report a job's outcome; it will run again", {
            jobId: job.id,
            error: describeError(failure),
          });
          return "lost";
        }
        await pause(this.#queue.clock, delay.next());
      }
    }
  }
}

/** The longest error name, message and stack kept per attempt, in UTF-16 units. */
const MAX_ERROR_NAME = 200;
const MAX_ERROR_MESSAGE = 8_192;
const MAX_ERROR_STACK = 16_384;

/**
 * Records an attempt's error as the backend stores it, cut to size: a handler
 * throwing a multi-megabyte message must not make its own failure report too
 * large for the Redis endpoint (the report would be refused, and the job
 * would only come back as a stall), nor bloat the failed store.
 */
function toAttemptError(error: unknown, attempt: number, at: number): AttemptError {
  if (error instanceof Error) {
    return {
      attempt,
      name: truncate(String(error.name), MAX_ERROR_NAME),
      message: truncate(String(error.message), MAX_ERROR_MESSAGE),
      ...(error.stack !== undefined
        ? { stack: truncate(String(error.stack), MAX_ERROR_STACK) }
        : {}),
      at,
    };
  }
  return { attempt, name: "Error", message: truncate(String(error), MAX_ERROR_MESSAGE), at };
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters truncated)`;
}
