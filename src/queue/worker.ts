/**
 * The consumer side: workers that reserve jobs, run their handlers with
 * leases, retries and timeouts, and report back in batches.
 *
 * @module
 */
import type { AttemptError, Completion, FailOutcome, QueueBackend, StoredJob } from "./backend.ts";
import type { AnyJob, JobContext } from "./job.ts";
import type { Queue } from "./queue.ts";
import { compose, type Middleware, type MiddlewareContext } from "./middleware.ts";
import { consoleLogger, type Logger, withFields } from "./logger.ts";
import { JobTimeoutError, LeaseLostError, UnknownJobError } from "./errors.ts";
import { backoffDelay } from "./backoff.ts";
import { parsePayload } from "./_payload.ts";
import { DEFAULT_MAX_STALLS } from "./_constants.ts";

/** Options for {@linkcode Worker}. */
export interface WorkerOptions {
  /** The job definitions this worker can run; jobs with other names go to the failed store. */
  jobs: readonly AnyJob[];
  /** The most handlers running at once. @default 1 */
  concurrency?: number;
  /** The queues to take jobs from, in order: a later queue is served only when earlier ones have nothing due. @default the queues of `jobs`, in order */
  queues?: readonly string[];
  /** How long a reserved job's lease lasts; running jobs renew it every third of this. @default 30000 */
  leaseMs?: number;
  /**
   * How many times a job's lease may expire before the job is dead-lettered
   * with a `JobStalledError`, for jobs that set no `maxStalls` of their own
   * (like BullMQ's `maxStalledCount`). A stall is not a failed attempt: the
   * job is served again and costs no retry.
   * @default 1
   */
  maxStalls?: number;
  /** The longest wait between polls once idle: an idle worker costs at most one request per interval. @default 5000 */
  maxPollInterval?: number;
  /** The first wait after a poll found nothing; it doubles up to `maxPollInterval`. @default 50 */
  minPollInterval?: number;
  /** How long `stop()` waits for running handlers before aborting them and handing their jobs back. @default 10000 */
  gracePeriod?: number;
  /** Where the worker and handlers log. @default consoleLogger */
  logger?: Logger;
  /** A source of numbers in [0, 1) for backoff jitter. @default Math.random */
  random?: () => number;
}

/** Options for {@linkcode Worker.drain}. */
export interface DrainOptions {
  /** Start at most this many jobs. @default Infinity */
  maxJobs?: number;
  /** Stop reserving after this many milliseconds (running jobs still finish). @default Infinity */
  maxTime?: number;
}

/** What one {@linkcode Worker.drain} did. */
export interface DrainSummary {
  /** Jobs started. */
  processed: number;
  /** Jobs completed. */
  completed: number;
  /** Attempts that failed and were scheduled again. */
  retried: number;
  /** Jobs moved to the failed store. */
  failed: number;
  /** Jobs put back without a failure (by middleware, or handed back). */
  released: number;
  /** Why it stopped: nothing due, `maxJobs` reached, or `maxTime` elapsed. */
  stoppedBy: "empty" | "maxJobs" | "maxTime";
  /** How long it took, in milliseconds. */
  durationMs: number;
}

/** Options for {@linkcode Worker.stop}. */
export interface StopOptions {
  /** Overrides the worker's grace period for this stop. */
  gracePeriod?: number;
}

/** The events a worker emits and what each carries. */
export interface WorkerEvents {
  /** A job completed. */
  completed: { job: StoredJob; result: unknown; durationMs: number };
  /** An attempt failed and the job will run again at `retryAt`. */
  retrying: { job: StoredJob; error: unknown; retryAt: number };
  /** A job went to the failed store. */
  failed: { job: StoredJob; error: unknown };
  /**
   * A lease expired or was lost: the job will be served again, or, when
   * `failed` is true, it stalled more than its max stalls and went to the
   * failed store. `failed` is known only to the worker that reclaimed the job;
   * a worker that finds its own lease lost reports `false`.
   */
  stalled: { jobId: string; queue: string; failed: boolean };
  /** A handler reported progress. */
  progress: { job: StoredJob; value: number };
  /** The backend failed; the worker backs off and carries on. */
  error: { error: unknown };
}

interface Running {
  readonly job: StoredJob;
  readonly token: string;
  readonly controller: AbortController;
  lost: boolean;
  done: Promise<void>;
  /** The progress write in flight, if any, and the value waiting to follow it. */
  progressWrite: Promise<void> | undefined;
  progressNext: number | undefined;
  /** Marks the job's outcome as known (it no longer holds back a completion batch). */
  decided: () => void;
}

interface PendingCompletion extends Completion {
  readonly job: StoredJob;
  readonly result: unknown;
  readonly durationMs: number;
}

type Mode = "idle" | "running" | "draining" | "stopping";

const ERROR_BACKOFF_START = 100;

/**
 * Runs jobs from a {@linkcode Queue}: long-running with `start()`/`stop()`,
 * or one batch at a time with `drain()` in serverless functions.
 *
 * @example A long-running worker
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const double = defineJob({ name: "double", schema: v.number(), handle: (n) => n * 2 });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const worker = new Worker(queue, { jobs: [double], concurrency: 10 });
 * const results: unknown[] = [];
 * const done = new Promise<void>((resolve) => {
 *   worker.on("completed", (event) => {
 *     results.push(event.result);
 *     resolve();
 *   });
 * });
 * await worker.start();
 * await queue.dispatch(double, 21);
 * await done;
 * await worker.stop();
 * assert.deepEqual(results, [42]);
 * ```
 */
export class Worker {
  #queue: Queue;
  #backend: QueueBackend;
  #jobs = new Map<string, AnyJob>();
  #queues: readonly string[];
  #concurrency: number;
  #leaseMs: number;
  #maxStalls: number;
  #maxPoll: number;
  #minPoll: number;
  #grace: number;
  #logger: Logger;
  #random: () => number;
  #middleware: Middleware[] = [];
  #listeners = new Map<keyof WorkerEvents, Set<(event: never) => void>>();

  #mode: Mode = "idle";
  #running = new Map<string, Running>();
  #claimed = 0;
  #budget = Infinity;
  #pending = new Map<string, PendingCompletion[]>();
  #flushing = new Map<string, Promise<void>>();
  #nextDueAt: number | null = null;
  #wake: () => void = () => {};
  #wakeUp: Promise<void> = Promise.resolve();
  #loop: Promise<void> = Promise.resolve();
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  #renewing = false;
  #unsubscribe: (() => void) | undefined;
  #abandon = false;
  /** Started jobs whose outcome is not known yet. */
  #busy = 0;
  /** How many started jobs have finished and reported, ever. */
  #settled = 0;
  #onAllSettled: (() => void) | undefined;
  #summary: Omit<DrainSummary, "stoppedBy" | "durationMs"> = newSummary();

  /**
   * Creates a worker. Nothing runs until `start()` or `drain()`.
   *
   * @param queue The queue client (its backend and clock are used).
   * @param options The jobs to run, concurrency, queues and timings.
   * @throws {TypeError} When `jobs` is empty or holds two jobs with one name, or `queues` is empty.
   * @throws {RangeError} When a number option is out of range.
   */
  constructor(queue: Queue, options: WorkerOptions) {
    this.#queue = queue;
    this.#backend = queue.backend;
    if (!Array.isArray(options?.jobs) || options.jobs.length === 0) {
      throw new TypeError("Worker needs at least one job definition in jobs");
    }
    for (const job of options.jobs) {
      if (this.#jobs.has(job.name)) {
        throw new TypeError(`Two job definitions are named ${job.name}`);
      }
      this.#jobs.set(job.name, job);
    }
    this.#queues = options.queues ?? [...new Set(options.jobs.map((job) => job.queue))];
    if (this.#queues.length === 0) throw new TypeError("queues must name at least one queue");
    this.#concurrency = positiveInteger("concurrency", options.concurrency ?? 1);
    this.#leaseMs = positiveInteger("leaseMs", options.leaseMs ?? 30_000);
    this.#maxStalls = options.maxStalls ?? DEFAULT_MAX_STALLS;
    if (!Number.isInteger(this.#maxStalls) || this.#maxStalls < 0) {
      throw new RangeError(`maxStalls must be a non-negative integer, got ${this.#maxStalls}`);
    }
    this.#maxPoll = positiveInteger("maxPollInterval", options.maxPollInterval ?? 5_000);
    this.#minPoll = Math.min(
      positiveInteger("minPollInterval", options.minPollInterval ?? 50),
      this.#maxPoll,
    );
    this.#grace = nonNegative("gracePeriod", options.gracePeriod ?? 10_000);
    this.#logger = options.logger ?? consoleLogger;
    this.#random = options.random ?? Math.random;
  }

  /** Whether the worker is started (and not yet stopped). */
  get running(): boolean {
    return this.#mode === "running";
  }

  /**
   * Adds middleware around every handler; the first added runs outermost.
   *
   * @param middleware The middleware.
   * @returns This worker, for chaining.
   * @throws {TypeError} When `middleware` is not a function.
   *
   * @example Timing every job
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   *
   * const noop = defineJob({ name: "noop", schema: v.unknown(), handle() {} });
   * const worker = new Worker(new Queue({ backend: new MemoryBackend() }), { jobs: [noop] });
   * worker.use(async (ctx, next) => {
   *   const started = performance.now();
   *   try {
   *     return await next();
   *   } finally {
   *     ctx.logger.debug(`took ${performance.now() - started} ms`);
   *   }
   * });
   * ```
   */
  use(middleware: Middleware): this {
    if (typeof middleware !== "function") throw new TypeError("middleware must be a function");
    this.#middleware.push(middleware);
    return this;
  }

  /**
   * Listens to an event.
   *
   * @param event The event's name.
   * @param listener Called with the event's details; exceptions it throws are logged.
   * @returns A function that removes the listener.
   *
   * @example Logging dead letters
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   *
   * const noop = defineJob({ name: "noop", schema: v.unknown(), handle() {} });
   * const worker = new Worker(new Queue({ backend: new MemoryBackend() }), { jobs: [noop] });
   * const off = worker.on("failed", ({ job, error }) => console.error(job.id, error));
   * off();
   * ```
   */
  on<E extends keyof WorkerEvents>(
    event: E,
    listener: (event: WorkerEvents[E]) => void,
  ): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (event: never) => void);
    return () => set.delete(listener as (event: never) => void);
  }

  /**
   * Starts taking jobs in the background; resolves once started.
   *
   * @throws {Error} When the worker is already started or draining.
   *
   * @example Starting and stopping
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   *
   * const noop = defineJob({ name: "noop", schema: v.unknown(), handle() {} });
   * const worker = new Worker(new Queue({ backend: new MemoryBackend() }), { jobs: [noop] });
   * await worker.start();
   * await worker.stop();
   * ```
   */
  start(): Promise<void> {
    if (this.#mode !== "idle") throw new Error(`Worker is already ${this.#mode}`);
    this.#begin("running", Infinity);
    this.#loop = this.#runLoop();
    return Promise.resolve();
  }

  /**
   * Stops taking jobs, waits for running handlers up to the grace period,
   * then aborts the rest and hands their jobs back, as well as any job
   * reserved but not yet started. Completions are reported before it resolves.
   *
   * @param options A grace period for this stop.
   * @returns Once everything is reported.
   *
   * @example Stopping on SIGTERM (Deno)
   * ```ts ignore
   * Deno.addSignalListener("SIGTERM", () => worker.stop().then(() => Deno.exit(0)));
   * ```
   */
  async stop(options: StopOptions = {}): Promise<void> {
    if (this.#mode === "idle" || this.#mode === "stopping") return await this.#loop;
    this.#mode = "stopping";
    this.#wake();
    await this.#loop;
    const grace = nonNegative("gracePeriod", options.gracePeriod ?? this.#grace);
    await this.#settleRunning(grace);
    this.#end();
  }

  /**
   * Processes what is due now and returns a summary: for a Cloudflare
   * `scheduled()` handler, a `Deno.cron` callback or an HTTP-triggered function.
   *
   * @param options Limits on jobs started and time spent reserving.
   * @returns What it did.
   * @throws {Error} When the worker is started or already draining.
   * @throws {import("../errors.ts").RedisError} When the backend cannot be reached (after running jobs are reported).
   *
   * @example A Cloudflare Workers cron trigger
   * ```ts ignore
   * export default {
   *   async scheduled(_event, env, ctx) {
   *     ctx.waitUntil(makeWorker(env).drain({ maxJobs: 500, maxTime: 25_000 }));
   *   },
   * };
   * ```
   */
  async drain(options: DrainOptions = {}): Promise<DrainSummary> {
    if (this.#mode !== "idle") throw new Error(`Worker is already ${this.#mode}`);
    const maxJobs = options.maxJobs ?? Infinity;
    const maxTime = options.maxTime ?? Infinity;
    if (!(maxJobs >= 0)) throw new RangeError(`maxJobs must be non-negative, got ${maxJobs}`);
    if (!(maxTime >= 0)) throw new RangeError(`maxTime must be non-negative, got ${maxTime}`);
    const started = Date.now();
    const deadline = started + maxTime;
    this.#begin("draining", maxJobs);
    let stoppedBy: DrainSummary["stoppedBy"] = "empty";
    let failure: unknown;
    try {
      for (;;) {
        if (Date.now() >= deadline) {
          stoppedBy = "maxTime";
          break;
        }
        if (this.#budget <= 0 && this.#claimed === 0) {
          stoppedBy = "maxJobs";
          break;
        }
        const free = this.#free();
        if (free <= 0 || this.#flushBusy()) {
          await this.#sleep(deadline - Date.now());
          continue;
        }
        const settledBefore = this.#settled;
        const got = await this.#reserve(free);
        if (got > 0) continue;
        // A job that ended while the reserve was on its way may have been retried at
        // once, after the reserve looked: look again before calling the queue empty.
        if (this.#settled !== settledBefore) continue;
        if (this.#running.size === 0 && !this.#flushBusy()) break;
        await this.#sleep(deadline - Date.now());
      }
    } catch (error) {
      failure = error;
    }
    this.#mode = "stopping";
    await this.#settleRunning(Infinity);
    this.#end();
    if (failure !== undefined) throw failure;
    return { ...this.#summary, stoppedBy, durationMs: Date.now() - started };
  }

  #begin(mode: Mode, budget: number): void {
    this.#mode = mode;
    this.#budget = budget;
    this.#abandon = false;
    this.#summary = newSummary();
    this.#nextDueAt = null;
    this.#resetWake();
    this.#unsubscribe = this.#backend.onEnqueue?.((queue) => {
      if (this.#queues.includes(queue)) this.#wake();
    });
    this.#renewTimer = setInterval(() => this.#renew(), Math.max(1, Math.floor(this.#leaseMs / 3)));
  }

  #end(): void {
    clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#mode = "idle";
  }

  /** Waits for handlers up to `grace`, hands back the rest, and reports every completion. */
  async #settleRunning(grace: number): Promise<void> {
    const all = Promise.all([...this.#running.values()].map((run) => run.done));
    if (this.#running.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        all,
        new Promise<void>((resolve) => {
          if (Number.isFinite(grace)) timer = setTimeout(resolve, grace);
        }),
      ]);
      clearTimeout(timer);
    }
    for (const run of this.#running.values()) {
      if (run.lost) continue;
      run.lost = true;
      run.controller.abort(new Error("The worker stopped before the job finished"));
      await this.#report(run.job, "release", this.#queue.now(), undefined, run.token);
    }
    // Completions whose report keeps failing are given up after the grace period:
    // their leases expire and the jobs run again (at-least-once).
    const giveUp = setTimeout(
      () => (this.#abandon = true),
      Number.isFinite(grace) ? grace : 30_000,
    );
    try {
      while (this.#flushing.size > 0 || this.#hasPending()) {
        for (const queue of this.#pending.keys()) this.#scheduleFlush(queue);
        await Promise.all(this.#flushing.values());
        if (this.#abandon) break;
      }
    } finally {
      clearTimeout(giveUp);
    }
  }

  async #runLoop(): Promise<void> {
    let idle = this.#minPoll;
    let errorDelay = ERROR_BACKOFF_START;
    while (this.#mode === "running") {
      const free = this.#free();
      if (free <= 0 || this.#flushBusy()) {
        await this.#sleep(Infinity);
        continue;
      }
      let got: number;
      try {
        got = await this.#reserve(free);
        errorDelay = ERROR_BACKOFF_START;
      } catch (error) {
        this.#emit("error", { error });
        this.#logger.warn("Queue backend failed; backing off", {
          error: describe(error),
          retryInMs: errorDelay,
        });
        await this.#sleep(errorDelay);
        errorDelay = Math.min(errorDelay * 2, this.#maxPoll);
        continue;
      }
      if (got >= free) {
        idle = this.#minPoll;
        continue;
      }
      if (got > 0) idle = this.#minPoll;
      const untilDue = this.#nextDueAt === null ? Infinity : this.#nextDueAt - this.#queue.now();
      await this.#sleep(Math.max(0, Math.min(idle, untilDue)));
      if (got === 0) idle = Math.min(idle * 2, this.#maxPoll);
    }
  }

  #free(): number {
    return Math.min(this.#concurrency - this.#running.size - this.#claimed, this.#budget);
  }

  #flushBusy(): boolean {
    return this.#flushing.size > 0 || this.#hasPending();
  }

  #hasPending(): boolean {
    for (const list of this.#pending.values()) if (list.length > 0) return true;
    return false;
  }

  /** Reserves up to `count` jobs from the queues in order; returns how many were started. */
  async #reserve(count: number): Promise<number> {
    let got = 0;
    let nextDue: number | null = null;
    for (const queue of this.#queues) {
      const wanted = Math.min(count - got, this.#free());
      if (wanted <= 0) break;
      const result = await this.#take(queue, wanted, []);
      got += result.got;
      if (result.nextDueAt !== null) nextDue = Math.min(nextDue ?? Infinity, result.nextDueAt);
    }
    this.#nextDueAt = nextDue;
    return got;
  }

  /** One round trip: report completions, reserve up to `wanted` and start them. */
  async #take(
    queue: string,
    wanted: number,
    completions: readonly PendingCompletion[],
  ): Promise<{ got: number; nextDueAt: number | null }> {
    wanted = Math.max(0, Math.min(wanted, this.#budget));
    this.#claimed += wanted;
    this.#budget -= wanted;
    let result;
    const token = crypto.randomUUID();
    try {
      result = await this.#backend.take({
        queue,
        now: this.#queue.now(),
        complete: completions.map(({ id, token, uniqueKey }) => ({ id, token, uniqueKey })),
        reserve: wanted,
        leaseMs: this.#leaseMs,
        token,
        maxStalls: this.#maxStalls,
      });
    } finally {
      this.#claimed -= wanted;
      this.#budget += wanted;
    }
    const lost = new Set(result.lost);
    for (const completion of completions) {
      if (lost.has(completion.id)) {
        this.#logger.warn("A completed job's lease was lost; it may run again", {
          jobId: completion.id,
          queue,
        });
        continue;
      }
      this.#summary.completed++;
      this.#emit("completed", {
        job: completion.job,
        result: completion.result,
        durationMs: completion.durationMs,
      });
    }
    const stalledOut = new Set(result.stalledOut);
    for (const jobId of result.stalled) {
      this.#emit("stalled", { jobId, queue, failed: stalledOut.has(jobId) });
    }
    for (const job of result.jobs) {
      if (this.#mode === "stopping" || this.#budget <= 0) {
        // Reserved but never started: hand it back as if it had not been taken.
        await this.#report(job, "release", this.#queue.now(), undefined, token, true);
        continue;
      }
      this.#budget--;
      this.#summary.processed++;
      this.#start(job, token);
    }
    if (completions.length > 0 && result.nextDueAt !== null) this.#nextDueAt = result.nextDueAt;
    return { got: result.jobs.length, nextDueAt: result.nextDueAt };
  }

  #start(job: StoredJob, token: string): void {
    const key = `${job.queue}\n${job.id}`;
    const run: Running = {
      job,
      token,
      controller: new AbortController(),
      lost: false,
      done: Promise.resolve(),
      decided: () => {},
      progressWrite: undefined,
      progressNext: undefined,
    };
    this.#running.set(key, run);
    this.#busy++;
    let decided = false;
    run.decided = () => {
      if (decided) return;
      decided = true;
      if (--this.#busy === 0) this.#onAllSettled?.();
    };
    run.done = this.#execute(run).catch((error) => {
      this.#logger.error("Unexpected error while running a job", {
        jobId: job.id,
        error: describe(error),
      });
    }).finally(() => {
      run.decided();
      this.#settled++;
      this.#running.delete(key);
      this.#wake();
    });
  }

  async #execute(run: Running): Promise<void> {
    const { job } = run;
    const definition = this.#jobs.get(job.name);
    if (definition === undefined) {
      run.decided();
      run.lost = true; // the outcome is decided: stop renewing
      return await this.#failed(run, new UnknownJobError(job.name), "dead");
    }
    let payload: unknown;
    try {
      payload = await parsePayload(job.name, definition.schema, job.payload);
    } catch (error) {
      // A payload that no longer validates will not validate on a retry either.
      run.decided();
      run.lost = true;
      return await this.#failed(run, error, "dead");
    }
    let releasedAfter: number | undefined;
    const ctx: MiddlewareContext = {
      jobId: job.id,
      name: job.name,
      queue: job.queue,
      attempt: job.attempts,
      signal: run.controller.signal,
      logger: withFields(this.#logger, { jobId: job.id, job: job.name, attempt: job.attempts }),
      progress: (value: number) => {
        if (typeof value !== "number" || !Number.isFinite(value)) {
          throw new TypeError(`progress must be a finite number, got ${String(value)}`);
        }
        this.#emit("progress", { job, value });
        this.#storeProgress(run, value);
      },
      release: (delayMs = 0) => {
        releasedAfter = Math.max(0, delayMs);
      },
      job,
      limiter: this.#backend,
      now: this.#queue.now,
    };
    const started = performance.now();
    const handled = compose(
      this.#middleware,
      ctx,
      () => definition.handle(payload, ctx as JobContext),
    )
      .then((value) => ({ ok: true as const, value }), (error) => ({ ok: false as const, error }));
    let outcome;
    if (definition.timeout === undefined) {
      outcome = await handled;
    } else {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<{ ok: false; error: unknown }>((resolve) => {
        timer = setTimeout(() => {
          const error = new JobTimeoutError(job.name, definition.timeout!);
          run.controller.abort(error);
          resolve({ ok: false, error });
        }, definition.timeout);
      });
      outcome = await Promise.race([handled, timedOut]);
      clearTimeout(timer);
    }
    run.decided();
    const held = !run.lost;
    // From here on the outcome owns the lease: stop renewing it and storing progress
    // (a handler that ignored a timeout may run on, holding its slot, but not the job).
    run.lost = true;
    // Progress already on its way lands before the outcome ends the lease.
    await run.progressWrite;
    if (held) {
      if (!outcome.ok) {
        await this.#failed(run, outcome.error, "retry");
      } else if (releasedAfter !== undefined) {
        await this.#report(job, "release", this.#queue.now() + releasedAfter, undefined, run.token);
      } else {
        this.#complete({
          id: job.id,
          token: run.token,
          uniqueKey: job.uniqueKey,
          job,
          result: outcome.value,
          durationMs: performance.now() - started,
        });
      }
    }
    // The slot stays taken until the handler really returns, even after a timeout,
    // so a handler that ignores its signal never pushes the worker past its concurrency.
    await handled;
    await run.progressWrite;
  }

  /** Writes the latest progress in the background, one write in flight per job. */
  #storeProgress(run: Running, value: number): void {
    if (run.lost) return;
    if (run.progressWrite !== undefined) {
      run.progressNext = value;
      return;
    }
    const write = async (next: number): Promise<void> => {
      try {
        await this.#backend.progress(run.job.queue, { id: run.job.id, token: run.token }, next);
      } catch (error) {
        this.#logger.warn("Could not store a job's progress", {
          jobId: run.job.id,
          error: describe(error),
        });
      }
      const following = run.progressNext;
      run.progressNext = undefined;
      if (following !== undefined && !run.lost) return await write(following);
    };
    run.progressWrite = write(value).finally(() => (run.progressWrite = undefined));
  }

  async #failed(run: Running, error: unknown, outcome: "retry" | "dead"): Promise<void> {
    const { job } = run;
    const definition = this.#jobs.get(job.name);
    const failures = job.errors.length + 1;
    const now = this.#queue.now();
    const attemptError = toAttemptError(error, job.attempts, now);
    if (outcome === "retry" && definition !== undefined && failures <= definition.maxRetries) {
      let wait: number;
      try {
        wait = backoffDelay(definition.backoff, failures, error, this.#random);
      } catch (backoffError) {
        this.#logger.error("Backoff failed; retrying at once", { error: describe(backoffError) });
        wait = 0;
      }
      if (await this.#report(job, "retry", now + wait, attemptError, run.token) === "retried") {
        this.#emit("retrying", { job, error, retryAt: now + wait });
      }
      return;
    }
    if (await this.#report(job, "dead", now, attemptError, run.token) === "failed") {
      this.#emit("failed", { job, error });
    }
  }

  /** Sends a fail/retry/release, retrying on backend errors until the worker gives up. */
  async #report(
    job: StoredJob,
    outcome: FailOutcome,
    runAt: number,
    error: AttemptError | undefined,
    token: string,
    undoAttempt = false,
  ): Promise<string> {
    let delay = ERROR_BACKOFF_START;
    for (let attempt = 0;; attempt++) {
      try {
        const result = await this.#backend.fail({
          queue: job.queue,
          id: job.id,
          token,
          now: this.#queue.now(),
          outcome,
          runAt,
          error,
          undoAttempt,
          uniqueKey: job.uniqueKey,
        });
        if (result === "retried") this.#summary.retried++;
        else if (result === "failed") this.#summary.failed++;
        else if (result === "released") this.#summary.released++;
        else {this.#logger.warn("The job's lease was lost before its outcome was reported", {
            jobId: job.id,
          });}
        return result;
      } catch (failure) {
        this.#emit("error", { error: failure });
        if (this.#abandon || attempt >= 8) {
          // The lease will expire and the job come back: nothing is lost, it may run again.
          this.#logger.error("Could not report a job's outcome; it will run again", {
            jobId: job.id,
            error: describe(failure),
          });
          return "lost";
        }
        await delayFor(delay);
        delay = Math.min(delay * 2, this.#maxPoll);
      }
    }
  }

  #complete(completion: PendingCompletion): void {
    const queue = completion.job.queue;
    let list = this.#pending.get(queue);
    if (!list) {
      list = [];
      this.#pending.set(queue, list);
    }
    list.push(completion);
    this.#scheduleFlush(queue);
  }

  #scheduleFlush(queue: string): void {
    if (this.#flushing.has(queue)) return;
    this.#flushing.set(queue, this.#flush(queue));
  }

  async #flush(queue: string): Promise<void> {
    // Let the other running handlers that are about to finish join the batch: wait
    // until none is left undecided, or a timer turn, whichever comes first.
    if (this.#busy > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#onAllSettled = resolve;
        timer = setTimeout(resolve, 1);
      });
      clearTimeout(timer);
      this.#onAllSettled = undefined;
    }
    let delay = ERROR_BACKOFF_START;
    try {
      for (;;) {
        const list = this.#pending.get(queue);
        if (!list || list.length === 0) break;
        const batch = list.splice(0, 1_000);
        // With a single queue there is no order to respect, so the same round trip
        // can also reserve the next jobs.
        const piggyback = this.#queues.length === 1 && this.#queues[0] === queue &&
          (this.#mode === "running" || this.#mode === "draining");
        try {
          await this.#take(queue, piggyback ? this.#free() : 0, batch);
          delay = ERROR_BACKOFF_START;
        } catch (error) {
          list.unshift(...batch);
          this.#emit("error", { error });
          this.#logger.warn("Could not report completed jobs; retrying", {
            error: describe(error),
          });
          if (this.#abandon) break;
          await delayFor(delay);
          delay = Math.min(delay * 2, this.#maxPoll);
        }
      }
    } finally {
      this.#flushing.delete(queue);
      this.#wake();
    }
  }

  async #renew(): Promise<void> {
    if (this.#renewing || this.#running.size === 0) return;
    this.#renewing = true;
    try {
      const byQueue = new Map<string, Running[]>();
      for (const run of this.#running.values()) {
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
            this.#leaseMs,
            this.#queue.now(),
          ),
        );
        for (const run of runs) {
          if (!lost.has(run.job.id) || run.lost) continue;
          run.lost = true;
          run.controller.abort(new LeaseLostError(run.job.id));
          this.#emit("stalled", { jobId: run.job.id, queue, failed: false });
        }
      }
    } catch (error) {
      this.#emit("error", { error });
      this.#logger.warn("Could not renew leases", { error: describe(error) });
    } finally {
      this.#renewing = false;
    }
  }

  #resetWake(): void {
    this.#wakeUp = new Promise<void>((resolve) => {
      this.#wake = () => {
        // Each wake-up fires the current promise and arms a new one. The loops check
        // their state synchronously before capturing it, so no wake-up is missed.
        this.#resetWake();
        resolve();
      };
    });
  }

  /** Sleeps until `ms` pass or something wakes the worker (a slot frees, a local dispatch, stop). */
  async #sleep(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#wakeUp,
      new Promise<void>((resolve) => {
        if (Number.isFinite(ms)) timer = setTimeout(resolve, Math.max(0, ms));
      }),
    ]);
    clearTimeout(timer);
  }

  #emit<E extends keyof WorkerEvents>(event: E, detail: WorkerEvents[E]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as (event: WorkerEvents[E]) => void)(detail);
      } catch (error) {
        this.#logger.error(`A ${event} listener threw`, { error: describe(error) });
      }
    }
  }
}

function newSummary(): Omit<DrainSummary, "stoppedBy" | "durationMs"> {
  return { processed: 0, completed: 0, retried: 0, failed: 0, released: 0 };
}

function toAttemptError(error: unknown, attempt: number, at: number): AttemptError {
  if (error instanceof Error) {
    return {
      attempt,
      name: error.name,
      message: error.message,
      ...(error.stack !== undefined ? { stack: error.stack } : {}),
      at,
    };
  }
  return { attempt, name: "Error", message: String(error), at };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== "number" || !(value >= 0)) {
    throw new RangeError(`${name} must be a non-negative number, got ${value}`);
  }
  return value;
}

function delayFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
