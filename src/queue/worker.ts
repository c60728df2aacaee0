/**
 * The consumer side: workers that reserve jobs, run their handlers with
 * leases, retries and timeouts, and report back in batches.
 *
 * @module
 */
import type { Queue } from "./queue.ts";
import type { Middleware } from "./middleware.ts";
import { describeError } from "./logger.ts";
import {
  type AbandonedJob,
  type DrainCounts,
  type DrainOptions,
  type DrainSummary,
  nonNegative,
  resolveWorkerOptions,
  type StopOptions,
  type WorkerOptions,
  type WorkerSettings,
  zeroCounts,
} from "./worker_options.ts";
import { WorkerEventEmitter, type WorkerEvents } from "./worker_events.ts";
import { CompletionBatcher, type PendingCompletion } from "./_completion_batcher.ts";
import { OutcomeReporter } from "./_outcome_reporter.ts";
import { RunningJobs } from "./_running_jobs.ts";
import { retryDelay } from "./_retry_delay.ts";
import { Backoff } from "../_backoff.ts";
import { WakeSignal } from "./_wake_signal.ts";
import { WorkerBusyError } from "./errors.ts";
import type { Heartbeat } from "./backend.ts";
import { hostName, runtimeName } from "./_runtime_info.ts";

type Mode = "idle" | "running" | "draining" | "stopping";

/** The longest a busy worker goes between heartbeats riding on its takes, in ms. */
const HEARTBEAT_EVERY = 1_000;
/** From this many slots on, a worker keeps two round trips on their way (see #share). */
const SPLIT_FROM = 8;
/** The round trips such a worker keeps on their way, each for an equal share of its slots. */
const OVERLAPPING_ROUND_TRIPS = 2;

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
  /** This worker's id, kept with each job it runs (`JobInfo.workerId`). */
  readonly id: string = crypto.randomUUID();
  #queue: Queue;
  #settings: WorkerSettings;
  #middleware: Middleware[] = [];
  #events: WorkerEventEmitter;
  #signal: WakeSignal;
  #reporter: OutcomeReporter;
  #completions: CompletionBatcher;
  #runs: RunningJobs;

  #mode: Mode = "idle";
  /** Whether two round trips may be on their way: SPLIT_FROM slots or more, on one queue. */
  readonly #overlaps: boolean;
  /** Slots promised to reservations on their way. */
  #claimed = 0;
  /** Whether the loop's own reservation is on its way. */
  #reserving = false;
  /** How many more jobs this run may start. */
  #budget = Infinity;
  #nextDueAt: number | null = null;
  #loop: Promise<void> = Promise.resolve();
  #renewTimer: unknown;
  #unsubscribe: (() => void) | undefined;
  /** Set when a stop's grace period is over: failing reports are given up. */
  #abandon = false;
  #counts: DrainCounts = zeroCounts();

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
    this.#signal = new WakeSignal(queue.clock);
    const settings = resolveWorkerOptions(options);
    this.#settings = settings;
    this.#overlaps = settings.concurrency >= SPLIT_FROM && settings.queues.length === 1;
    const { jobs, logger, maxPoll } = settings;
    const events = new WorkerEventEmitter(logger);
    const gaveUp = () => this.#abandon;
    this.#events = events;
    this.#reporter = new OutcomeReporter({
      queue,
      jobs,
      events,
      logger,
      random: settings.random,
      maxDelay: maxPoll,
      gaveUp,
      count: (result) => this.#counts[result]++,
    });
    this.#completions = new CompletionBatcher({
      send: (queue, batch) => this.#take(queue, this.#piggybacks(queue) ? this.#share() : 0, batch),
      events,
      logger,
      clock: queue.clock,
      maxDelay: maxPoll,
      gaveUp,
      flushed: () => this.#signal.wake(),
      // Per queue, round trips at most two on one queue with SPLIT_FROM slots, else one
      // (on several queues, one report per queue may be under way), the loop's own
      // reservation counting as one while it is out.
      flushes: () => (this.#overlaps ? OVERLAPPING_ROUND_TRIPS : 1) - (this.#reserving ? 1 : 0),
    });
    this.#runs = new RunningJobs({
      queue,
      jobs,
      middleware: this.#middleware,
      leaseDuration: settings.leaseDuration,
      events,
      logger,
      reporter: this.#reporter,
      completions: this.#completions,
      finished: () => this.#signal.wake(),
      heartbeat: () => this.#heartbeat(),
    });
  }

  #startedAt = Date.now();
  #host = hostName();

  /**
   * This worker's heartbeat, sent with every reservation and lease renewal it
   * makes anyway (no request of its own). It lasts three times the longest
   * gap between them: an idle worker polls every `maxPollInterval` at most, a
   * busy one renews every third of `leaseDuration`.
   */
  /** When each queue last got this worker's heartbeat with a take, on the queue's clock. */
  #beats = new Map<string, number>();

  /**
   * The heartbeat to send with a take on `queue` at `now`, or none when one
   * went less than a second (or a third of its ttl) ago: a busy worker makes
   * hundreds of takes a second, and each would rewrite the same record in
   * Redis. Lease renewals still carry it every time (they are rare).
   */
  #heartbeatDue(queue: string, now: number): Heartbeat | undefined {
    const heartbeat = this.#heartbeat();
    const last = this.#beats.get(queue);
    const every = Math.min(HEARTBEAT_EVERY, heartbeat.ttl / 3);
    return last === undefined || now - last >= every || now < last ? heartbeat : undefined;
  }

  #heartbeat(): Heartbeat {
    const { queues, concurrency, maxPoll, leaseDuration } = this.#settings;
    return {
      info: {
        id: this.id,
        host: this.#host,
        runtime: runtimeName(),
        queues,
        concurrency,
        active: this.#runs.ids(),
        startedAt: this.#startedAt,
      },
      ttl: 3 * Math.max(maxPoll, Math.ceil(leaseDuration / 3)),
    };
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
   * import assert from "node:assert/strict";
   *
   * const noop = defineJob({ name: "noop", schema: v.unknown(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const worker = new Worker(queue, { jobs: [noop] });
   * const timed: string[] = [];
   * worker.use(async (ctx, next) => {
   *   const started = performance.now();
   *   try {
   *     return await next();
   *   } finally {
   *     timed.push(ctx.name);
   *     ctx.logger.debug(`took ${performance.now() - started} ms`);
   *   }
   * });
   * await queue.dispatch(noop, null);
   * await worker.drain();
   * assert.deepEqual(timed, ["noop"]);
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
   * import assert from "node:assert/strict";
   *
   * const boom = defineJob({
   *   name: "boom",
   *   schema: v.null(),
   *   maxRetries: 0,
   *   handle() {
   *     throw new Error("no");
   *   },
   * });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const worker = new Worker(queue, { jobs: [boom], logger: { debug() {}, info() {}, warn() {}, error() {} } });
   * const dead: string[] = [];
   * const off = worker.on("failed", ({ job }) => dead.push(job.id));
   * const { id } = await queue.dispatch(boom, null);
   * await worker.drain();
   * off(); // no more calls after this
   * assert.deepEqual(dead, [id]);
   * ```
   */
  on<E extends keyof WorkerEvents>(
    event: E,
    listener: (event: WorkerEvents[E]) => void,
  ): () => void {
    return this.#events.on(event, listener);
  }

  /**
   * Starts taking jobs in the background; resolves once started.
   *
   * @returns Once started.
   * @throws {WorkerBusyError} (as a rejection) When the worker is already started, draining or stopping.
   *
   * @example Starting and stopping
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   *
   * import assert from "node:assert/strict";
   *
   * const noop = defineJob({ name: "noop", schema: v.unknown(), handle() {} });
   * const worker = new Worker(new Queue({ backend: new MemoryBackend() }), { jobs: [noop] });
   * await worker.start();
   * assert.equal(worker.running, true);
   * await worker.stop();
   * assert.equal(worker.running, false);
   * ```
   */
  start(): Promise<void> {
    // Rejects rather than throws: a caller awaiting start() handles one failure path.
    if (this.#mode !== "idle") return Promise.reject(new WorkerBusyError(this.#mode));
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
   * @example Stopping with a grace period; the unfinished job is handed back
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   * import { WorkerStoppedError } from "@kiln/core/errors";
   * import assert from "node:assert/strict";
   *
   * let reason: unknown;
   * const { promise: started, resolve } = Promise.withResolvers<void>();
   * const slow = defineJob({
   *   name: "slow",
   *   schema: v.null(),
   *   handle: (_payload, ctx) =>
   *     new Promise<void>((done) => {
   *       ctx.signal.addEventListener("abort", () => done(void (reason = ctx.signal.reason)));
   *       resolve();
   *     }),
   * });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const worker = new Worker(queue, { jobs: [slow], gracePeriod: 10 });
   * // In a service: Deno.addSignalListener("SIGTERM", () => worker.stop().then(() => Deno.exit(0)));
   * await worker.start();
   * await queue.dispatch(slow, null);
   * await started;
   * await worker.stop();
   * assert.ok(reason instanceof WorkerStoppedError);
   * assert.equal((await queue.counts()).ready, 1); // back in the queue, not lost
   * ```
   */
  async stop(options: StopOptions = {}): Promise<void> {
    if (this.#mode === "idle" || this.#mode === "stopping") return await this.#loop;
    this.#mode = "stopping";
    this.#signal.wake();
    await this.#loop;
    const grace = nonNegative("gracePeriod", options.gracePeriod ?? this.#settings.grace);
    await this.#settleRunning(grace);
    this.#end();
  }

  /**
   * Processes what is due now and returns a summary: for a Cloudflare
   * `scheduled()` handler, a `Deno.cron` callback or an HTTP-triggered function.
   *
   * With `maxTime`, it stops reserving at `maxTime` and returns by `maxTime +
   * gracePeriod` (plus one round trip to report completions), even when a
   * handler ignores its signal: handlers still running then are abandoned
   * and listed in the summary's `abandoned`. Time and timers come from the
   * queue's clock.
   *
   * @param options Limits on jobs started and time spent, and the grace period.
   * @returns What it did.
   * @throws {WorkerBusyError} When the worker is started, draining or stopping.
   * @throws {import("../errors.ts").RedisError} When the backend cannot be reached (after running jobs are reported).
   *
   * @example A Cloudflare Workers cron trigger
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
   * import assert from "node:assert/strict";
   *
   * const ping = defineJob({ name: "ping", schema: v.number(), handle() {} });
   * const queue = new Queue({ backend: new MemoryBackend() }); // a RedisBackend on Workers
   * const handler = {
   *   scheduled(_controller: unknown, _env: unknown, ctx: { waitUntil(p: Promise<unknown>): void }) {
   *     const worker = new Worker(queue, { jobs: [ping], concurrency: 20 });
   *     ctx.waitUntil(worker.drain({ maxJobs: 500, maxTime: 25_000 }));
   *   },
   * };
   * await queue.dispatchMany(ping, [1, 2, 3]);
   * const pending: Promise<unknown>[] = [];
   * handler.scheduled({}, {}, { waitUntil: (p) => pending.push(p) });
   * const [summary] = await Promise.all(pending);
   * assert.equal((summary as { completed: number }).completed, 3);
   * ```
   */
  async drain(options: DrainOptions = {}): Promise<DrainSummary> {
    if (this.#mode !== "idle") throw new WorkerBusyError(this.#mode);
    const maxJobs = options.maxJobs ?? Infinity;
    const maxTime = options.maxTime ?? Infinity;
    if (!(maxJobs >= 0)) throw new RangeError(`maxJobs must be non-negative, got ${maxJobs}`);
    if (maxTime !== Infinity) nonNegative("maxTime", maxTime);
    const grace = nonNegative("gracePeriod", options.gracePeriod ?? this.#settings.grace);
    if (maxTime !== Infinity) nonNegative("maxTime plus gracePeriod", maxTime + grace);
    const clock = this.#queue.clock;
    const started = clock.now();
    const deadline = started + maxTime;
    this.#begin("draining", maxJobs);
    let stoppedBy: DrainSummary["stoppedBy"] = "empty";
    let failure: unknown;
    try {
      for (;;) {
        if (clock.now() >= deadline) {
          stoppedBy = "maxTime";
          break;
        }
        if (this.#budget <= 0 && this.#claimed === 0) {
          stoppedBy = "maxJobs";
          break;
        }
        const free = this.#free();
        if (!this.#mayReserve(free)) {
          await this.#signal.sleep(deadline - clock.now());
          continue;
        }
        const settledBefore = this.#runs.settled;
        const reporting = this.#completions.busy;
        const got = await this.#reserve(free);
        if (got > 0) continue;
        // A job that ended while the reserve was on its way may have been retried at
        // once, after the reserve looked: look again before calling the queue empty.
        if (this.#runs.settled !== settledBefore) continue;
        if (this.#reportLanded(reporting)) continue;
        // The backend looks at a bounded number of jobs per call (jobs parked on a busy
        // key, a burst of due delayed ones): a job due now means "ask again", not empty.
        if (this.#nextDueAt !== null && this.#nextDueAt <= clock.now()) continue;
        if (this.#runs.size === 0 && !this.#completions.busy) break;
        await this.#signal.sleep(deadline - clock.now());
      }
    } catch (error) {
      failure = error;
    }
    this.#mode = "stopping";
    let abandoned: AbandonedJob[] = [];
    if (Number.isFinite(deadline)) {
      // However early the loop ended, handlers get until maxTime + grace, and no longer.
      const end = deadline + grace;
      await this.#runs.waitFor(end - clock.now());
      abandoned = this.#runs.abandon();
      await this.#flushCompletions(end - clock.now());
    } else {
      await this.#settleRunning(Infinity);
    }
    this.#end();
    if (failure !== undefined) throw failure;
    return { ...this.#counts, stoppedBy, abandoned, duration: clock.now() - started };
  }

  #begin(mode: Mode, budget: number): void {
    this.#mode = mode;
    this.#budget = budget;
    this.#abandon = false;
    this.#counts = zeroCounts();
    this.#nextDueAt = null;
    this.#unsubscribe = this.#queue.backend.onEnqueue?.((queue) => {
      if (this.#settings.queues.includes(queue)) this.#signal.wake();
    });
    const clock = this.#queue.clock;
    const every = Math.max(1, Math.floor(this.#settings.leaseDuration / 3));
    const renew = () => {
      this.#renewTimer = clock.setTimeout(renew, every);
      void this.#runs.renew();
    };
    this.#renewTimer = clock.setTimeout(renew, every);
  }

  #end(): void {
    if (this.#renewTimer !== undefined) this.#queue.clock.clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#mode = "idle";
  }

  /** Waits for handlers up to `grace`, hands back the rest, and reports every completion. */
  async #settleRunning(grace: number): Promise<void> {
    await this.#runs.waitFor(grace);
    await this.#runs.handBack();
    await this.#flushCompletions(Number.isFinite(grace) ? grace : 30_000);
  }

  /**
   * Reports every pending completion. Reports that keep failing are given up
   * after `giveUpAfter` ms (at once when it is not positive: one attempt
   * each); their leases expire and the jobs run again (at-least-once).
   */
  async #flushCompletions(giveUpAfter: number): Promise<void> {
    const clock = this.#queue.clock;
    let giveUp: unknown;
    if (giveUpAfter > 0) giveUp = clock.setTimeout(() => (this.#abandon = true), giveUpAfter);
    else this.#abandon = true;
    try {
      await this.#completions.flushAll();
    } finally {
      if (giveUp !== undefined) clock.clearTimeout(giveUp);
    }
  }

  /** Reserves while started: polls back off while idle, and further while the backend fails. */
  async #runLoop(): Promise<void> {
    const { minPoll, maxPoll, logger } = this.#settings;
    // Polls that find nothing wait twice as long each time, from minPoll up to maxPoll.
    const idlePoll = new Backoff({ initial: minPoll, factor: 2, max: maxPoll, jitter: "none" });
    const errorDelay = retryDelay(maxPoll);
    while (this.#mode === "running") {
      const free = this.#free();
      if (!this.#mayReserve(free)) {
        await this.#signal.sleep(Infinity);
        continue;
      }
      let got: number;
      const asked = this.#share();
      const reporting = this.#completions.busy;
      try {
        got = await this.#reserve(asked);
        errorDelay.reset();
      } catch (error) {
        const retryIn = errorDelay.next();
        this.#events.emit("error", { error });
        logger.warn("Queue backend failed; backing off", {
          error: describeError(error),
          retryIn,
        });
        await this.#signal.sleep(retryIn);
        continue;
      }
      if (got > 0) idlePoll.reset();
      if (got >= asked || this.#reportLanded(reporting)) continue;
      const idle = got > 0 ? minPoll : idlePoll.next();
      const now = this.#queue.clock.now();
      const untilDue = this.#nextDueAt === null ? Infinity : this.#nextDueAt - now;
      await this.#signal.sleep(Math.max(0, Math.min(idle, untilDue)));
    }
  }

  /**
   * What one round trip may reserve: half the slots (rounded up), at most what is
   * free. Two round trips are then on their way at once, taking turns: while one
   * half's completions and next reservation are with the backend, the other half
   * runs, so the backend's time overlaps the handlers' instead of adding to it.
   * Below SPLIT_FROM slots a half is too small a batch to be worth a request. On
   * several queues round trips never overlap (see #mayReserve), and a half would
   * let a reservation reach a later queue while an earlier one still had jobs due.
   */
  #share(): number {
    const { concurrency } = this.#settings;
    return Math.min(
      this.#free(),
      this.#overlaps ? Math.ceil(concurrency / OVERLAPPING_ROUND_TRIPS) : concurrency,
    );
  }

  /**
   * Whether the loop may send a reservation now: with slots free, and no
   * completions being reported, except on one queue with SPLIT_FROM slots or more,
   * where a reservation may go beside a report (at most two round trips then; on
   * several queues reports go on their own, and the loop waits for them so the
   * queues' order holds). Not while completions wait to be sent, though: their
   * report reserves the slots they free on the same round trip, where a reservation
   * of its own would cost one more (a busy worker's takes then carry both, half its
   * slots each, in two round trips taking turns).
   */
  #mayReserve(free: number): boolean {
    if (free <= 0) return false;
    if (!this.#completions.busy) return true;
    if (!this.#overlaps) return false;
    const queue = this.#settings.queues[0];
    return !this.#completions.pending(queue) &&
      this.#completions.flushing(queue) < OVERLAPPING_ROUND_TRIPS;
  }

  /**
   * Whether a report that was on its way when a reservation left (`reporting`)
   * has landed since. It may have landed after the reservation looked, making a
   * job due that the reservation did not see (a workflow's next step, a batch's
   * callback) and reserving none of it itself when every slot was taken; its
   * wake-up came while the loop was waiting for the reservation. Look again.
   */
  #reportLanded(reporting: boolean): boolean {
    return reporting && !this.#completions.busy;
  }

  /** How many more jobs may be reserved now. */
  #free(): number {
    const { concurrency } = this.#settings;
    return Math.min(concurrency - this.#runs.size - this.#claimed, this.#budget);
  }

  /**
   * Whether a completion batch for `queue` may also reserve jobs: with a single
   * queue there is no order to respect, so the same round trip can do both.
   */
  #piggybacks(queue: string): boolean {
    const { queues } = this.#settings;
    return queues.length === 1 && queues[0] === queue &&
      (this.#mode === "running" || this.#mode === "draining");
  }

  /** Reserves up to `count` jobs from the queues in order; returns how many were started. */
  async #reserve(count: number): Promise<number> {
    let got = 0;
    let nextDue: number | null = null;
    this.#reserving = true;
    try {
      for (const queue of this.#settings.queues) {
        const wanted = Math.min(count - got, this.#share());
        if (wanted <= 0) break;
        const result = await this.#take(queue, wanted, []);
        got += result.got;
        if (result.nextDueAt !== null) nextDue = Math.min(nextDue ?? Infinity, result.nextDueAt);
      }
    } finally {
      this.#reserving = false;
      // A report held back while this reservation took one of the two round trips.
      this.#completions.resume();
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
    const { leaseDuration, maxStalls, logger } = this.#settings;
    wanted = Math.max(0, Math.min(wanted, this.#budget));
    this.#claimed += wanted;
    this.#budget -= wanted;
    let result;
    const token = crypto.randomUUID();
    const now = this.#queue.clock.now();
    const heartbeat = this.#heartbeatDue(queue, now);
    try {
      result = await this.#queue.backend.take({
        queue,
        now,
        complete: completions.map((done) => ({
          id: done.id,
          token: done.token,
          uniqueKey: done.uniqueKey,
          dedupeFor: done.dedupeFor,
          flow: done.flow,
          resultJson: done.resultJson,
          logs: done.logs,
          runTime: done.duration,
        })),
        reserve: wanted,
        leaseDuration,
        token,
        maxStalls,
        retain: this.#queue.retain,
        worker: this.id,
        heartbeat,
        metrics: this.#queue.tracking.metrics,
        runs: this.#queue.tracking.search,
        sweep: this.#mode === "draining",
      });
    } finally {
      this.#claimed -= wanted;
      this.#budget += wanted;
    }
    if (heartbeat !== undefined) this.#beats.set(queue, now);
    const lost = new Set(result.lost);
    for (const completion of completions) {
      if (lost.has(completion.id)) {
        logger.warn("A completed job's lease was lost; it may run again", {
          jobId: completion.id,
          queue,
        });
        continue;
      }
      this.#counts.completed++;
      this.#events.emit("completed", {
        job: completion.job,
        result: completion.result,
        duration: completion.duration,
      });
    }
    const stalledOut = new Set(result.stalledOut);
    for (const jobId of result.stalled) {
      this.#events.emit("stalled", { jobId, queue, failed: stalledOut.has(jobId) });
    }
    for (const job of result.jobs) {
      if (this.#mode === "stopping" || this.#budget <= 0) {
        // Reserved but never started: hand it back as if it had not been taken.
        await this.#reporter.report(
          job,
          "release",
          this.#queue.clock.now(),
          undefined,
          token,
          true,
        );
        continue;
      }
      this.#budget--;
      this.#counts.processed++;
      this.#runs.start(job, token);
    }
    if (completions.length > 0 && result.nextDueAt !== null) this.#nextDueAt = result.nextDueAt;
    return { got: result.jobs.length, nextDueAt: result.nextDueAt };
  }
}
