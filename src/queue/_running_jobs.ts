/**
 * The jobs a worker is running: each handler runs inside the middleware,
 * under its timeout, holding a lease that is renewed until its outcome is
 * reported.
 *
 * @module
 */
import type { Heartbeat, QueueBackend, StoredJob } from "./backend.ts";
import type { AnyJob, JobContext } from "./job.ts";
import type { Queue } from "./queue.ts";
import type { WorkerEventEmitter } from "./worker_events.ts";
import type { CompletionBatcher } from "./_completion_batcher.ts";
import type { OutcomeReporter } from "./_outcome_reporter.ts";
import { compose, type Middleware, type MiddlewareContext } from "./middleware.ts";
import { describeError, type Logger, withFields } from "./logger.ts";
import {
  JobAbandonedError,
  JobCancelledError,
  JobTimeoutError,
  LeaseLostError,
  UnknownJobError,
  WorkerStoppedError,
} from "./errors.ts";
import { parsePayload } from "./_payload.ts";
import { tracerOf } from "./_tracing.ts";
import type { AbandonedJob } from "./worker_options.ts";
import type { Clock } from "../clock.ts";
import {
  CANCELLED_ERROR_NAME,
  MAX_LOG_LINE,
  MAX_LOG_LINES,
  MAX_RESULT_BYTES,
} from "./_constants.ts";
import { utf8Length } from "./_payload.ts";

/** One running job. */
interface Run {
  readonly job: StoredJob;
  readonly token: string;
  readonly controller: AbortController;
  /** The lease is no longer this run's to renew or write progress under. */
  lost: boolean;
  /** `drain()` gave up waiting for this handler; nothing it does later is reported. */
  abandoned: boolean;
  done: Promise<void>;
  /** The progress write in flight, if any, and the value waiting to follow it. */
  progressWrite: Promise<void> | undefined;
  progressNext: number | undefined;
  /** The lines `ctx.log()` gathered in this attempt, stored with its outcome. */
  readonly logs: string[];
  /** Marks the job's outcome as known (it no longer holds back a completion batch). */
  readonly decided: () => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** What {@linkcode RunningJobs} works with. */
export interface RunningJobsOptions {
  readonly queue: Queue;
  readonly jobs: ReadonlyMap<string, AnyJob>;
  /** The worker's middleware, first outermost; read at every job's start. */
  readonly middleware: readonly Middleware[];
  readonly leaseDuration: number;
  readonly events: WorkerEventEmitter;
  readonly logger: Logger;
  readonly reporter: OutcomeReporter;
  readonly completions: CompletionBatcher;
  /** Called each time a job has finished and reported: a slot is free. */
  readonly finished: () => void;
  /** The worker's heartbeat, sent with each lease renewal. */
  readonly heartbeat: () => Heartbeat;
}

/** The running jobs of one worker, keyed by queue and id. */
export class RunningJobs {
  #queue: Queue;
  #backend: QueueBackend;
  #clock: Clock;
  #options: RunningJobsOptions;
  #runs = new Map<string, Run>();
  #renewing = false;
  #settled = 0;

  constructor(options: RunningJobsOptions) {
    this.#queue = options.queue;
    this.#backend = options.queue.backend;
    this.#clock = options.queue.clock;
    this.#options = options;
  }

  /** How many jobs are running. */
  get size(): number {
    return this.#runs.size;
  }

  /** The ids of the running jobs. */
  ids(): string[] {
    return [...this.#runs.values()].map((run) => run.job.id);
  }

  /** How many started jobs have finished and reported, ever. */
  get settled(): number {
    return this.#settled;
  }

  /** Runs a reserved job in the background, under the lease `token`. */
  start(job: StoredJob, token: string): void {
    const key = `${job.queue}\n${job.id}`;
    const run: Run = {
      job,
      token,
      controller: new AbortController(),
      lost: false,
      abandoned: false,
      done: Promise.resolve(),
      decided: this.#options.completions.hold(token),
      progressWrite: undefined,
      progressNext: undefined,
      logs: [],
    };
    this.#runs.set(key, run);
    run.done = this.#execute(run).catch((error) => {
      this.#options.logger.error("Unexpected error while running a job", {
        jobId: job.id,
        error: describeError(error),
      });
    }).finally(() => {
      this.#settled++;
      // The slot is free before the outcome counts as decided: a report leaving then
      // reserves the slot on its way (the worker's #share counts running jobs).
      this.#runs.delete(key);
      run.decided();
      this.#options.finished();
    });
  }

  /**
   * Waits until every running job has finished, or `grace` milliseconds pass.
   * Handlers already abandoned are not waited for again.
   */
  async waitFor(grace: number): Promise<void> {
    const waiting = [...this.#runs.values()].filter((run) => !run.abandoned);
    if (waiting.length === 0) return;
    let timer: unknown;
    await Promise.race([
      Promise.all(waiting.map((run) => run.done)),
      new Promise<void>((resolve) => {
        if (Number.isFinite(grace)) timer = this.#clock.setTimeout(resolve, Math.max(0, grace));
      }),
    ]);
    if (timer !== undefined) this.#clock.clearTimeout(timer);
  }

  /**
   * Gives up on the handlers still running: aborts their signal and stops
   * renewing their leases, without reporting anything, so a job whose outcome
   * was not reported comes back as a stall once its lease expires. Each
   * handler keeps its concurrency slot until it really returns. Each signal is
   * aborted with a {@linkcode JobAbandonedError}.
   *
   * @returns The jobs given up on now.
   */
  abandon(): AbandonedJob[] {
    const abandoned: AbandonedJob[] = [];
    for (const run of this.#runs.values()) {
      if (run.abandoned) continue;
      run.abandoned = true;
      run.lost = true;
      run.decided();
      run.controller.abort(new JobAbandonedError(run.job.id));
      abandoned.push({ id: run.job.id, queue: run.job.queue, name: run.job.name });
    }
    return abandoned;
  }

  /** Aborts the handlers still holding their lease and hands their jobs back. */
  async handBack(): Promise<void> {
    for (const run of this.#runs.values()) {
      if (run.lost) continue;
      run.lost = true;
      run.controller.abort(new WorkerStoppedError(run.job.id));
      await this.#options.reporter.report(
        run.job,
        "release",
        this.#queue.clock.now(),
        undefined,
        run.token,
      );
    }
  }

  /** Extends the leases of the running jobs; aborts those whose lease was lost. */
  async renew(): Promise<void> {
    if (this.#renewing || this.#runs.size === 0) return;
    const { events, logger, leaseDuration } = this.#options;
    this.#renewing = true;
    try {
      const byQueue = new Map<string, Run[]>();
      for (const run of this.#runs.values()) {
        if (run.lost) continue;
        const list = byQueue.get(run.job.queue) ?? [];
        list.push(run);
        byQueue.set(run.job.queue, list);
      }
      for (const [queue, runs] of byQueue) {
        const lost = new Set(
          await this.#backend.extend(
            queue,
            runs.map((run) => ({ id: run.job.id, token: run.token })),
            leaseDuration,
            this.#queue.clock.now(),
            this.#options.heartbeat(),
          ),
        );
        for (const run of runs) {
          if (!lost.has(run.job.id) || run.lost) continue;
          run.lost = true;
          // A lost lease is rare: only then ask whether an operator cancelled the job.
          const now = await this.#backend.getJob(queue, run.job.id).catch(() => null);
          if (now?.state === "failed" && now.errors.at(-1)?.name === CANCELLED_ERROR_NAME) {
            const error = new JobCancelledError(run.job.id);
            run.controller.abort(error);
            events.emit("failed", { job: run.job, error });
            continue;
          }
          run.controller.abort(new LeaseLostError(run.job.id));
          events.emit("stalled", { jobId: run.job.id, queue, failed: false });
        }
      }
    } catch (error) {
      events.emit("error", { error });
      logger.warn("Could not renew leases", { error: describeError(error) });
    } finally {
      this.#renewing = false;
    }
  }

  async #execute(run: Run): Promise<void> {
    const { job } = run;
    const { reporter, events } = this.#options;
    // The attempt's span, when the queue traces.
    const span = tracerOf(this.#queue)?.process(job);
    const definition = this.#options.jobs.get(job.name);
    if (definition === undefined) {
      run.decided();
      run.lost = true; // the outcome is decided: stop renewing
      const error = new UnknownJobError(job.name);
      span?.end({ error });
      return await reporter.fail(job, run.token, error, "dead");
    }
    let payload: unknown;
    try {
      payload = await parsePayload(job.name, definition.schema, job.payload);
    } catch (error) {
      // A payload that no longer validates will not validate on a retry either.
      run.decided();
      run.lost = true;
      span?.end({ error });
      return await reporter.fail(job, run.token, error, "dead");
    }
    let releasedAfter: number | undefined;
    const ctx: MiddlewareContext = {
      jobId: job.id,
      name: job.name,
      queue: job.queue,
      attempt: job.attempts,
      signal: run.controller.signal,
      logger: withFields(this.#options.logger, {
        jobId: job.id,
        job: job.name,
        attempt: job.attempts,
      }),
      progress: (value: number) => {
        if (typeof value !== "number" || !Number.isFinite(value)) {
          throw new TypeError(`progress must be a finite number, got ${String(value)}`);
        }
        events.emit("progress", { job, value });
        this.#storeProgress(run, value);
      },
      release: (delay = 0) => {
        releasedAfter = Math.max(0, delay);
      },
      log: (line: string) => {
        if (typeof line !== "string") throw new TypeError("log line must be a string");
        if (run.logs.length === MAX_LOG_LINES) run.logs.shift();
        run.logs.push(line.length > MAX_LOG_LINE ? `${line.slice(0, MAX_LOG_LINE)}…` : line);
      },
      job,
      limiter: this.#backend,
      now: () => this.#clock.now(),
      ...workflowContext(job, run.controller.signal),
    };
    const started = performance.now();
    const call = () =>
      compose(this.#options.middleware, ctx, () => definition.handle(payload, ctx as JobContext));
    const handled: Promise<Outcome> = (span === undefined ? call() : span.run(call))
      .then((value) => ({ ok: true as const, value }), (error) => ({ ok: false as const, error }));
    const outcome = definition.timeout === undefined
      ? await handled
      : await withTimeout(this.#clock, handled, definition.timeout, () => {
        const error = new JobTimeoutError(job.name, definition.timeout!);
        run.controller.abort(error);
        return error;
      });
    const held = !run.lost;
    // A completion is decided once it is in the batch and its slot is free (start()'s
    // finally): a flush waiting for it must not leave without it, to send it alone on
    // a round trip of its own, nor before its slot can be reserved again on the way.
    const completes = held && outcome.ok && releasedAfter === undefined;
    if (!completes) run.decided();
    span?.end(outcome.ok ? undefined : outcome);
    const runTime = performance.now() - started;
    // From here on the outcome owns the lease: stop renewing it and storing progress
    // (a handler that ignored a timeout may run on, holding its slot, but not the job).
    run.lost = true;
    // Progress already on its way lands before the outcome ends the lease.
    await run.progressWrite;
    if (held) {
      if (!outcome.ok) {
        await reporter.fail(job, run.token, outcome.error, "retry", run.logs, runTime);
      } else if (releasedAfter !== undefined) {
        await reporter.report(
          job,
          "release",
          this.#queue.clock.now() + releasedAfter,
          undefined,
          run.token,
          false,
          run.logs,
        );
      } else {
        this.#options.completions.add({
          id: job.id,
          token: run.token,
          uniqueKey: job.uniqueKey,
          dedupeFor: job.dedupeFor,
          flow: job.flow,
          // A chain's next step reads the result, kept or not.
          resultJson: this.#queue.retain.completed === false && job.workflow?.chain === undefined
            ? undefined
            : resultJson(outcome.value),
          logs: run.logs,
          job,
          result: outcome.value,
          duration: runTime,
        });
      }
    }
    // The slot stays taken until the handler really returns, even after a timeout,
    // so a handler that ignores its signal never pushes the worker past its concurrency.
    await handled;
    await run.progressWrite;
  }

  /** Writes the latest progress in the background, one write in flight per job. */
  #storeProgress(run: Run, value: number): void {
    if (run.lost) return;
    if (run.progressWrite !== undefined) {
      run.progressNext = value;
      return;
    }
    const write = async (next: number): Promise<void> => {
      try {
        await this.#backend.progress(run.job.queue, { id: run.job.id, token: run.token }, next);
      } catch (error) {
        this.#options.logger.warn("Could not store a job's progress", {
          jobId: run.job.id,
          error: describeError(error),
        });
      }
      const following = run.progressNext;
      run.progressNext = undefined;
      if (following !== undefined && !run.lost) return await write(following);
    };
    run.progressWrite = write(value).finally(() => (run.progressWrite = undefined));
  }
}

/** A job's `ctx.chain`, `ctx.previous` and `ctx.batch`, for the steps, members and callbacks of one. */
function workflowContext(job: StoredJob, signal: AbortSignal): Partial<JobContext> {
  const workflow = job.workflow;
  if (workflow === undefined) return {};
  const batch = workflow.batch;
  return {
    ...(workflow.chain ? { chain: workflow.chain } : {}),
    ...("previous" in workflow ? { previous: workflow.previous } : {}),
    ...(batch
      ? {
        batch: {
          id: batch.id,
          // A running member learns of cancelBatch() as of queue.remove(): its signal aborts.
          get cancelled() {
            return batch.cancelled || signal.reason instanceof JobCancelledError;
          },
        },
      }
      : {}),
  };
}

/**
 * The handler's result as JSON, kept with the completed job: `undefined`
 * (kept as `null`) when JSON cannot carry it or it is over `MAX_RESULT_BYTES`,
 * so a huge or odd return value never makes the completion report fail.
 */
function resultJson(value: unknown): string | undefined {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    return undefined;
  }
  if (json === undefined || json.length > MAX_RESULT_BYTES) return undefined;
  return utf8Length(json) > MAX_RESULT_BYTES ? undefined : json;
}

/** Settles with `outcome`, or with a failure built by `onTimeout` after `ms`, whichever is first. */
async function withTimeout(
  clock: Clock,
  outcome: Promise<Outcome>,
  ms: number,
  onTimeout: () => unknown,
): Promise<Outcome> {
  let timer: unknown;
  const timedOut = new Promise<Outcome>((resolve) => {
    timer = clock.setTimeout(() => resolve({ ok: false, error: onTimeout() }), ms);
  });
  try {
    return await Promise.race([outcome, timedOut]);
  } finally {
    clock.clearTimeout(timer);
  }
}
