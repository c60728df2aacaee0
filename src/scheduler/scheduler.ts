/**
 * The scheduler: registers tasks, runs them from one timer (`start()`) or
 * from a platform tick (`runDue()`), with locks, retries, timeouts and history.
 *
 * @module
 */
// Types only: the scheduler dispatches through the queue it is given, so it never
// loads the queue module (or valibot) at run time.
import type { JobDefinition, PayloadInput, PayloadSchema } from "../queue/mod.ts";
import type { TaskDefinition } from "./_definition.ts";
import { jobTask } from "./_job_task.ts";
import { resolveOptions } from "./_resolve_options.ts";
import { TaskRegistry } from "./_task_registry.ts";
import { type RunTrigger, TaskRunner } from "./_task_runner.ts";
import { nextRunsInWindows } from "./_time_windows.ts";
import { TimerLoop } from "./_timer_loop.ts";
import { describeSchedule } from "./_describe.ts";
import { SchedulerStoppedError, UnknownTaskError } from "./errors.ts";
import type { Clock } from "../clock.ts";
import type { SchedulerHistory, TaskRunRecord } from "./history.ts";
import type { TaskPauses } from "./pauses.ts";
import type {
  JobDispatcher,
  JobTaskOptions,
  ScheduledTaskInfo,
  SchedulerOptions,
  SchedulerStartOptions,
  SchedulerStopOptions,
  TaskListOptions,
  TaskStatus,
  TaskStatusOptions,
} from "./scheduler_options.ts";
import { ScheduledTask, type TaskHost } from "./task.ts";
import type { SchedulerErrorHandler, TaskHandler, TaskRunInfo, TaskRunOutcome } from "./types.ts";

/** The most next runs `list()` and `tasks()` show per task. */
const MAX_LISTED_RUNS = 100;

/**
 * Runs tasks on cron schedules: in a long-running process from one timer
 * ({@linkcode Scheduler.start}), or on each platform tick
 * ({@linkcode Scheduler.runDue}, for Cloudflare cron triggers and `Deno.cron`).
 *
 * Each occurrence of a task runs at most once per instance, and with
 * `onOneServer()` at most once among all instances sharing the mutex.
 * A failing or hanging task never delays or stops the others.
 *
 * @example Registering tasks and running one tick
 * ```ts
 * import { Scheduler } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * const ran: string[] = [];
 * const scheduler = new Scheduler({ timezone: "Europe/Berlin" });
 * scheduler.call("cleanup", () => ran.push("cleanup")).daily();
 * scheduler.call("sync", () => ran.push("sync")).everyFiveMinutes().withoutOverlapping();
 *
 * // Midnight in Berlin is 23:00 UTC in winter.
 * const outcomes = await scheduler.runDue(new Date("2025-01-01T23:00:00Z"));
 * assert.deepEqual(ran.sort(), ["cleanup", "sync"]);
 * assert.ok(outcomes.every((outcome) => outcome.status === "succeeded"));
 * ```
 */
export class Scheduler {
  #timezone: string;
  #clock: Clock;
  #history: SchedulerHistory;
  #pauses: TaskPauses;
  /** The read of the paused tasks that the runs of one tick share, while it is under way. */
  #pausedRead: Promise<ReadonlySet<string>> | undefined;
  #onError: SchedulerErrorHandler;
  #window: number;
  #tasks: TaskRegistry;
  #host: TaskHost;
  #runner: TaskRunner;
  #loop: TimerLoop;
  #inFlight = new Set<Promise<unknown>>();

  /**
   * Creates a scheduler with no tasks.
   *
   * @param options Time zone, mutex, history, clock and timing settings.
   * @throws {RangeError} When the time zone is unknown or a duration is not a positive integer.
   * @throws {TypeError} When a collaborator lacks the methods it needs.
   */
  constructor(options: SchedulerOptions = {}) {
    const settings = resolveOptions(options);
    this.#timezone = settings.timezone;
    this.#clock = settings.clock;
    this.#history = settings.history;
    this.#pauses = settings.pauses;
    this.#onError = settings.onError;
    this.#window = settings.window;
    const tasks = this.#tasks = new TaskRegistry(settings.timezone);
    this.#host = {
      patterns: tasks.patterns,
      changed: () => this.#changed(),
      holds: (definition) => tasks.get(definition.name) === definition,
      drop: (definition) => {
        tasks.unregister(definition);
        this.#changed();
      },
    };
    this.#runner = new TaskRunner({
      ...settings,
      paused: () => this.#pausedNow(),
      lookup: (name) => tasks.get(name),
      report: (error, info, phase) => this.#report(error, info, phase),
    });
    this.#loop = new TimerLoop({
      clock: settings.clock,
      maxWait: settings.maxWait,
      tasks,
      launch: (definition, scheduledAt) => void this.#launch(definition, scheduledAt),
    });
  }

  /** Whether {@linkcode Scheduler.start} is in effect. */
  get running(): boolean {
    return this.#loop.running;
  }

  /**
   * Registers a function as a task. It runs every minute until a frequency
   * method says otherwise.
   *
   * @param name A unique name; it keys locks and history.
   * @param handler The work; receives the occurrence, attempt and an abort signal.
   * @returns The task, for chaining its schedule.
   * @throws {TypeError} When the name is empty or taken, or the handler is not a function.
   *
   * @example Every five minutes on weekdays during office hours
   * ```ts
   * import { Scheduler } from "@kiln/core/scheduler";
   * import assert from "node:assert/strict";
   *
   * const scheduler = new Scheduler({ timezone: "America/New_York" });
   * scheduler.call("sync", async ({ signal }) => {
   *   signal.throwIfAborted(); // pass it on: await fetch("https://example.com/sync", { signal });
   * }).everyFiveMinutes().weekdays().between("09:00", "17:00");
   * // Friday 16:58 in New York: the next runs are 17:00, then Monday 09:00 and 09:05.
   * const [sync] = await scheduler.list({ from: new Date("2025-06-06T20:58:00Z") });
   * assert.deepEqual(sync.nextRuns.map((at) => at.toISOString()), [
   *   "2025-06-06T21:00:00.000Z",
   *   "2025-06-09T13:00:00.000Z",
   *   "2025-06-09T13:05:00.000Z",
   * ]);
   * ```
   */
  call(name: string, handler: TaskHandler): ScheduledTask {
    return this.#register(name, handler, "call");
  }

  /**
   * Registers a task that dispatches a queue job on schedule: each occurrence
   * calls `queue.dispatch(job, payload, options.dispatch)`, and the task
   * succeeds once the job is enqueued (a worker runs it later). Unless
   * `options.dispatch.jobId` says otherwise, the job id is the task's name and
   * the occurrence's scheduled time, so a retried or repeated dispatch of one
   * occurrence enqueues the job once.
   *
   * The payload is checked against the job's schema here, so a payload that
   * could never be dispatched fails at registration rather than at every
   * occurrence. An asynchronous schema cannot be checked synchronously: then
   * the queue's own check at dispatch fails the run with its
   * `JobValidationError` (code `QUEUE_INVALID_PAYLOAD`), which the run's
   * outcome, `onFailure` hooks and history carry.
   *
   * @param job The job definition (`defineJob(...)`).
   * @param payload The payload dispatched each time.
   * @param queue The queue to dispatch on (a `Queue`).
   * @param options The task's name and the dispatch options.
   * @returns The task, for chaining its schedule.
   * @throws {TypeError} When the job is not a job definition, the queue cannot dispatch,
   *   the name is taken, or the payload fails the job's schema (naming the task and each issue).
   *
   * @example Dispatching a report job every hour
   * ```ts
   * import * as v from "valibot";
   * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
   * import { Scheduler } from "@kiln/core/scheduler";
   * import assert from "node:assert/strict";
   *
   * const report = defineJob({
   *   name: "report",
   *   schema: v.object({ kind: v.picklist(["hourly", "daily"]) }),
   *   handle() {},
   * });
   * const queue = new Queue({ backend: new MemoryBackend() });
   * const scheduler = new Scheduler();
   * scheduler.job(report, { kind: "hourly" }, queue).hourly();
   *
   * await scheduler.runDue(new Date("2025-01-01T10:00:00Z"));
   * assert.equal((await queue.counts("default")).ready, 1);
   * ```
   */
  job<S extends PayloadSchema>(
    job: JobDefinition<S>,
    payload: PayloadInput<S>,
    queue: JobDispatcher,
    options: JobTaskOptions = {},
  ): ScheduledTask {
    const { name, handler } = jobTask(job, payload, queue, options);
    return this.#register(name, handler, "job");
  }

  /**
   * Runs every task with an occurrence in `(at - window, at]`, once per task
   * for its latest such occurrence, and resolves when those runs have
   * finished. Calling it again for the same time runs nothing twice, so a
   * platform delivering a tick twice is harmless.
   *
   * @param at The tick's scheduled time (Cloudflare's `controller.scheduledTime`). @default now
   * @returns What happened to each task that had an occurrence in the window.
   * @throws {TypeError} When a task chains to an unknown task or its schedule cannot be compiled.
   *
   * @example A tick run twice runs each task once
   * ```ts
   * import { Scheduler } from "@kiln/core/scheduler";
   * import assert from "node:assert/strict";
   *
   * let runs = 0;
   * const scheduler = new Scheduler();
   * scheduler.call("count", () => runs++).everyMinute();
   * const tick = new Date("2025-03-01T10:00:00Z");
   * await scheduler.runDue(tick);
   * const again = await scheduler.runDue(tick);
   * assert.equal(runs, 1);
   * assert.equal(again[0].status, "skipped");
   * ```
   */
  async runDue(at: Date = new Date(this.#clock.now())): Promise<TaskRunOutcome[]> {
    const atMs = at instanceof Date ? at.getTime() : NaN;
    if (!Number.isFinite(atMs)) throw new TypeError("runDue() expects a valid Date");
    const runs: Promise<TaskRunOutcome>[] = [];
    for (const group of this.#tasks.plan()) {
      const occurrence = group.pattern.latestAtOrBefore(atMs);
      if (occurrence === null || occurrence <= atMs - this.#window) continue;
      for (const definition of group.tasks) runs.push(this.#launch(definition, occurrence));
    }
    return await Promise.all(runs);
  }

  /**
   * Starts long-running mode: one timer for the whole scheduler, armed for the
   * earliest next occurrence (waits longer than `maxWait` are re-armed).
   *
   * If the clock jumps forward or the machine sleeps past occurrences, each
   * task runs once for the latest occurrence it missed; earlier missed ones
   * are dropped. If the clock jumps back, the schedule is recomputed from the
   * new time.
   *
   * @param options Whether the timer keeps the process alive.
   * @returns Once the timer is armed.
   * @throws {TypeError} When a task chains to an unknown task or its schedule cannot be compiled.
   *
   * @example Starting and stopping
   * ```ts
   * import { Scheduler } from "@kiln/core/scheduler";
   *
   * import assert from "node:assert/strict";
   *
   * const scheduler = new Scheduler();
   * scheduler.call("heartbeat", () => {}).everyThirtySeconds();
   * await scheduler.start(); // one unref'd timer for the earliest next run
   * const [heartbeat] = await scheduler.list({ count: 1 });
   * assert.equal(heartbeat.nextRuns[0].getTime() % 30_000, 0);
   * await scheduler.stop();
   * ```
   */
  // deno-lint-ignore require-await
  async start(options: SchedulerStartOptions = {}): Promise<void> {
    if (this.#loop.running) return;
    this.#loop.start(this.#tasks.plan(), options.keepAlive ?? false);
  }

  /**
   * Stops long-running mode and waits for runs in progress to settle. With
   * `abort`, their signals are aborted first, and until the stop resolves no
   * attempt starts: a run waiting to retry, or a `run(name)` that comes
   * meanwhile, ends failed with `SchedulerStoppedError`.
   *
   * @param options Whether to abort runs in progress.
   * @returns Once no run is in progress.
   *
   * @example Stopping and aborting runs in progress
   * ```ts
   * import { Scheduler } from "@kiln/core/scheduler";
   * import { SchedulerStoppedError } from "@kiln/core/errors";
   * import assert from "node:assert/strict";
   *
   * const scheduler = new Scheduler();
   * let reason: unknown;
   * const { promise: started, resolve } = Promise.withResolvers<void>();
   * scheduler.call("export", ({ signal }) =>
   *   new Promise<void>((done) => {
   *     signal.addEventListener("abort", () => done(void (reason = signal.reason)));
   *     resolve();
   *   })
   * ).everyMinute();
   * const running = scheduler.runDue(new Date("2025-06-02T12:00:00Z"));
   * await started;
   * await scheduler.stop({ abort: true });
   * await running;
   * assert.ok(reason instanceof SchedulerStoppedError);
   * ```
   */
  async stop(options: SchedulerStopOptions = {}): Promise<void> {
    this.#loop.stop();
    if (!options.abort) {
      while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
      return;
    }
    // Until the runs have settled, no attempt starts: not a retry, not a run(name) meanwhile.
    this.#runner.abortAttempts(new SchedulerStoppedError());
    try {
      while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    } finally {
      this.#runner.allowAttempts();
    }
  }

  /**
   * Lists every task with its schedule, next runs and last run. Asynchronous
   * because the last runs come from the history store, which may be Redis
   * (`RedisHistory`: one pipelined round trip for all tasks).
   *
   * @param options Where to start and how many next runs to show.
   * @returns One entry per task, in registration order.
   * @throws {RangeError} When `count` is not an integer from 0 to 100.
   * @throws {TypeError} When `from` is not a valid Date, or a task's schedule cannot be compiled.
   *
   * @example Showing the next runs of a task
   * ```ts
   * import { Scheduler } from "@kiln/core/scheduler";
   * import assert from "node:assert/strict";
   *
   * const scheduler = new Scheduler();
   * scheduler.call("report", () => {}).weeklyOn("mon", "08:00");
   * const [report] = await scheduler.list({ from: new Date("2025-01-01T00:00:00Z"), count: 2 });
   * assert.deepEqual(report.nextRuns.map((d) => d.toISOString()), [
   *   "2025-01-06T08:00:00.000Z",
   *   "2025-01-13T08:00:00.000Z",
   * ]);
   * ```
   */
  async list(options: TaskListOptions = {}): Promise<ScheduledTaskInfo[]> {
    return (await this.#overview(options, 1)).map(({ info }) => info);
  }

  /**
   * What an operator (or a dashboard) sees of every task: its schedule as an
   * expression and in words, its next run, whether it is paused, its last run
   * and its recent history. One read of the history (one round trip on
   * `RedisHistory`) and one of the paused tasks.
   *
   * @param options Where to start, how many next runs and how many past runs to show.
   * @returns One entry per task, in registration order.
   * @throws {RangeError} When `count` is not an integer from 0 to 100, or `history` not a non-negative integer.
   * @throws {TypeError} When `from` is not a valid Date.
   * @throws {import("../errors.ts").RedisError} When the history or pauses are in Redis and it cannot be reached.
   *
   * @example A task's status after a run
   * ```ts
   * import { Scheduler } from "@kiln/core/scheduler";
   * import assert from "node:assert/strict";
   *
   * const scheduler = new Scheduler({ timezone: "Europe/Berlin" });
   * scheduler.call("digest", () => {}).dailyAt("08:00");
   * await scheduler.runDue(new Date("2025-06-02T06:00:00Z")); // 08:00 in Berlin
   * await scheduler.pause("digest");
   * const [digest] = await scheduler.tasks({ from: new Date("2025-06-02T07:00:00Z") });
   * assert.equal(digest.schedule, "daily at 08:00, Europe/Berlin");
   * assert.equal(digest.expression, "0 0 8 * * *");
   * assert.equal(digest.nextRunAt?.toISOString(), "2025-06-03T06:00:00.000Z");
   * assert.equal(digest.paused, true);
   * assert.equal(digest.lastRun?.status, "succeeded");
   * assert.equal(digest.history.length, 1);
   * ```
   */
  async tasks(options: TaskStatusOptions = {}): Promise<TaskStatus[]> {
    const limit = options.history ?? 10;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(`tasks() history must be a non-negative integer, got ${limit}`);
    }
    const [overview, paused] = await Promise.all([
      this.#overview(options, limit),
      this.#pauses.paused(),
    ]);
    const from = this.#listedFrom(options);
    return overview.map(({ definition, info, runs, nextRunAt }) => ({
      ...info,
      schedule: describeSchedule(definition.fields, info.timezone, definition.windows, from),
      nextRunAt,
      paused: paused.has(definition.name),
      history: runs,
    }));
  }

  /**
   * Pauses a task: its due occurrences, and the runs another task's `then()`
   * would start, are skipped (outcome `skipped`, reason `paused`) until
   * {@linkcode Scheduler.resume}. With a `RedisHistory` or
   * `RedisMutex` the pause is kept in that Redis, so every scheduler instance
   * sharing it obeys; otherwise it holds in this instance only. A run in
   * progress carries on, and {@linkcode Scheduler.run} still runs the task.
   *
   * @param name The task's name.
   * @throws {UnknownTaskError} When no task has that name.
   * @throws {import("../errors.ts").RedisError} When the pauses are in Redis and it cannot be reached.
   *
   * @example Pausing and resuming a task
   * ```ts
   * import { Scheduler } from "@kiln/core/scheduler";
   * import assert from "node:assert/strict";
   *
   * let runs = 0;
   * const scheduler = new Scheduler();
   * scheduler.call("sync", () => void runs++).everyMinute();
   * await scheduler.pause("sync");
   * const [outcome] = await scheduler.runDue(new Date("2025-01-01T10:00:00Z"));
   * assert.equal(outcome.status === "skipped" && outcome.reason, "paused");
   * await scheduler.resume("sync");
   * await scheduler.runDue(new Date("2025-01-01T10:01:00Z"));
   * assert.equal(runs, 1);
   * ```
   */
  async pause(name: string): Promise<void> {
    this.#known(name);
    await this.#pauses.pause(name);
    this.#pausedRead = undefined;
  }

  /**
   * Resumes a paused task: its next due occurrence runs. Resuming a task that
   * is not paused changes nothing.
   *
   * @param name The task's name.
   * @throws {UnknownTaskError} When no task has that name.
   * @throws {import("../errors.ts").RedisError} When the pauses are in Redis and it cannot be reached.
   *
   * @example Resuming a task paused on another instance
   * ```ts
   * import { Redis } from "@upstash/redis";
   * import { RedisMutex, Scheduler } from "@kiln/core/scheduler";
   * import assert from "node:assert/strict";
   *
   * // UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN name Upstash or Kiln's gateway.
   * const mutex = new RedisMutex({ redis: Redis.fromEnv(), prefix: `docs-${crypto.randomUUID()}` });
   * const [a, b] = [new Scheduler({ mutex }), new Scheduler({ mutex })];
   * for (const scheduler of [a, b]) scheduler.call("report", () => {}).hourly();
   * await a.pause("report");
   * assert.equal((await b.tasks())[0].paused, true); // b obeys a's pause
   * await b.resume("report");
   * assert.equal((await a.tasks())[0].paused, false);
   * ```
   */
  async resume(name: string): Promise<void> {
    this.#known(name);
    await this.#pauses.resume(name);
    this.#pausedRead = undefined;
  }

  /**
   * Runs one occurrence of a task now, on this instance, whatever its
   * schedule: its windows, conditions, pause and `onOneServer()` claim do not
   * apply, but `withoutOverlapping()` does (the outcome is `skipped`, reason
   * `overlapping`, while another run holds the lock). Retries, timeout, hooks,
   * pings, `then()` and history apply as for a scheduled run; the run's
   * `scheduledAt` is now. `stop()` waits for it like any run.
   *
   * @param name The task's name.
   * @returns What happened to the run.
   * @throws {UnknownTaskError} When no task has that name.
   * @throws {TypeError} When a task chains to an unknown task or its schedule cannot be compiled.
   *
   * @example Running a task now
   * ```ts
   * import { Scheduler } from "@kiln/core/scheduler";
   * import assert from "node:assert/strict";
   *
   * const scheduler = new Scheduler();
   * scheduler.call("rebuild-index", () => "done").dailyAt("03:00").withoutOverlapping();
   * const outcome = await scheduler.run("rebuild-index");
   * assert.equal(outcome.status, "succeeded");
   * assert.equal((await scheduler.history("rebuild-index")).length, 1);
   * ```
   */
  async run(name: string): Promise<TaskRunOutcome> {
    const definition = this.#known(name);
    this.#tasks.plan(); // checks then() references, as a scheduled run would have
    return await this.#launch(definition, this.#clock.now(), "manual");
  }

  /**
   * A task's recent runs from history, newest first.
   *
   * @param name The task's name.
   * @param limit At most this many.
   * @returns The runs.
   *
   * @example Reading a task's history
   * ```ts
   * import { Scheduler } from "@kiln/core/scheduler";
   * import assert from "node:assert/strict";
   *
   * const scheduler = new Scheduler();
   * scheduler.call("ping", () => {}).everyMinute();
   * await scheduler.runDue(new Date("2025-01-01T00:00:00Z"));
   * const [run] = await scheduler.history("ping");
   * assert.equal(run.status, "succeeded");
   * ```
   */
  history(name: string, limit?: number): Promise<TaskRunRecord[]> {
    return this.#history.list(name, limit);
  }

  /** The tasks with their list() entry, their next run and their recent runs. */
  async #overview(options: TaskListOptions, historyLimit: number): Promise<{
    definition: TaskDefinition;
    info: ScheduledTaskInfo;
    nextRunAt: Date | null;
    runs: TaskRunRecord[];
  }[]> {
    const from = this.#listedFrom(options);
    const count = options.count ?? 3;
    // Each next run is a croner step: a million of them per task would hold the process for minutes.
    if (!Number.isInteger(count) || count < 0 || count > MAX_LISTED_RUNS) {
      throw new RangeError(
        `list() count must be an integer from 0 to ${MAX_LISTED_RUNS}, got ${count}`,
      );
    }
    this.#tasks.plan();
    const definitions = [...this.#tasks.definitions()];
    const names = definitions.map((definition) => definition.name);
    // At least one run each: the last run is part of every listing, even with no history asked.
    const recent = await this.#history.recent(names, Math.max(historyLimit, 1));
    return definitions.map((definition, index) => {
      const pattern = this.#tasks.pattern(definition);
      const next = nextRunsInWindows(definition, pattern, this.#timezone, from, Math.max(count, 1));
      const info: ScheduledTaskInfo = {
        name: definition.name,
        kind: definition.kind,
        expression: pattern.expression,
        timezone: pattern.timezone,
        nextRuns: next.slice(0, count),
        withoutOverlapping: definition.overlapTtl !== undefined,
        onOneServer: definition.oneServer === true,
      };
      if (definition.description !== undefined) info.description = definition.description;
      const runs = recent[index] ?? [];
      if (runs[0] !== undefined) info.lastRun = runs[0];
      return { definition, info, nextRunAt: next[0] ?? null, runs: runs.slice(0, historyLimit) };
    });
  }

  /**
   * Where `list()` and `tasks()` start.
   *
   * @throws {TypeError} When `from` is not a valid Date.
   */
  #listedFrom(options: TaskListOptions): number {
    if (options.from === undefined) return this.#clock.now();
    const from = options.from instanceof Date ? options.from.getTime() : NaN;
    if (!Number.isFinite(from)) throw new TypeError("list() from must be a valid Date");
    return from;
  }

  /**
   * The registered task with this name.
   *
   * @throws {UnknownTaskError} When there is none.
   */
  #known(name: string): TaskDefinition {
    const definition = typeof name === "string" ? this.#tasks.get(name) : undefined;
    if (definition === undefined) throw new UnknownTaskError(String(name));
    return definition;
  }

  /** The paused tasks: the runs started together (one tick, one runDue) share one read. */
  #pausedNow(): Promise<ReadonlySet<string>> {
    if (this.#pausedRead === undefined) {
      const read = this.#pausedRead = this.#pauses.paused();
      const forget = () => {
        if (this.#pausedRead === read) this.#pausedRead = undefined;
      };
      read.then(forget, forget);
    }
    return this.#pausedRead;
  }

  #register(name: string, handler: TaskHandler, kind: "call" | "job"): ScheduledTask {
    const definition = this.#tasks.register(name, handler, kind);
    this.#changed();
    return new ScheduledTask({ definition, host: this.#host });
  }

  /** A schedule changed: re-plan lazily, after the caller's chain of builder calls. */
  #changed(): void {
    if (!this.#tasks.invalidate()) return;
    if (this.#loop.running) {
      queueMicrotask(() => {
        if (!this.#loop.running || this.#tasks.planned) return;
        try {
          this.#loop.replan(this.#tasks.plan());
        } catch (error) {
          this.#report(error, { task: "*", scheduledAt: new Date(this.#clock.now()) }, "plan");
        }
      });
    }
  }

  /** Starts a run and tracks it until it settles, so `stop()` can wait for it. */
  #launch(
    definition: TaskDefinition,
    scheduledAt: number,
    trigger: RunTrigger = "schedule",
  ): Promise<TaskRunOutcome> {
    const run = this.#runner.run(definition, scheduledAt, trigger);
    this.#inFlight.add(run);
    void run.finally(() => this.#inFlight.delete(run));
    return run;
  }

  #report(error: unknown, info: TaskRunInfo, phase: string): void {
    try {
      this.#onError(error, { ...info, phase });
    } catch {
      // An error handler that throws must not take a run down with it.
    }
  }
}
