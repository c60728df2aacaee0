/**
 * The scheduler: registers tasks, runs them from one timer (`start()`) or
 * from a platform tick (`runDue()`), with locks, retries, timeouts and history.
 *
 * @module
 */
// Types only: the scheduler dispatches through the queue it is given, so it never
// loads the queue module (or valibot) at run time.
import type {
  DispatchOptions,
  DispatchResult,
  JobDefinition,
  PayloadInput,
  PayloadSchema,
} from "../queue/mod.ts";
import type { RetryBackoff, TaskDefinition, TimeWindow } from "./_definition.ts";
import { MinHeap } from "./_min_heap.ts";
import { type CompiledPattern, isTimezone, localSecondsOfDay, PatternCache } from "./_patterns.ts";
import { type SchedulerClock, systemClock } from "./clock.ts";
import { TaskTimeoutError } from "./errors.ts";
import { MemoryHistory, type SchedulerHistory, type TaskRunRecord } from "./history.ts";
import { MemoryMutex, type SchedulerMutex } from "./mutex.ts";
import { ScheduledTask, type TaskHost } from "./task.ts";
import type {
  SchedulerErrorHandler,
  TaskContext,
  TaskHandler,
  TaskRunInfo,
  TaskRunOutcome,
  TaskSkipReason,
} from "./types.ts";

/** Options for {@linkcode Scheduler}. */
export interface SchedulerOptions {
  /**
   * The IANA time zone schedules are read in, unless a task sets its own.
   * @default "UTC"
   */
  timezone?: string;
  /**
   * Where overlap locks and one-server claims live. Share a `RedisMutex`
   * between instances for `onOneServer()` to mean anything across processes.
   * @default new MemoryMutex()
   */
  mutex?: SchedulerMutex;
  /**
   * Where run history is kept.
   * @default new MemoryHistory()
   */
  history?: SchedulerHistory;
  /**
   * The time source and timer; inject one in tests.
   * @default systemClock
   */
  clock?: SchedulerClock;
  /**
   * Receives errors that are not a task's own failure: hooks after the run,
   * pings, history writes and the mutex.
   * @default console.error
   */
  onError?: SchedulerErrorHandler;
  /**
   * The `fetch` used by `pingBefore()` and `thenPing()`.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /**
   * How far back `runDue(at)` looks for an occurrence, in milliseconds: set it
   * to the platform's tick interval. Each task runs at most once per tick, for
   * its latest occurrence in `(at - window, at]`.
   * @default 60_000
   */
  window?: number;
  /**
   * The longest the timer waits before checking the clock again, so a machine
   * waking from sleep notices within this long.
   * @default 30_000
   */
  maxWait?: number;
  /**
   * How long an `onOneServer()` claim on an occurrence lives: longer than the
   * clock skew between servers plus `window`.
   * @default 3_600_000
   */
  claimTtl?: number;
  /**
   * This instance's name in history records.
   * @default crypto.randomUUID()
   */
  instance?: string;
}

/** Options for {@linkcode Scheduler.start}. */
export interface SchedulerStartOptions {
  /**
   * Keep the process alive while waiting. By default the timer is unref'd
   * (Deno, Node, Bun), so a scheduler never keeps a finished program running;
   * a process that only schedules must pass `true`.
   * @default false
   */
  keepAlive?: boolean;
}

/** Options for {@linkcode Scheduler.stop}. */
export interface SchedulerStopOptions {
  /**
   * Abort the `signal` of runs in progress instead of letting them finish.
   * `stop()` still waits for them to settle.
   * @default false
   */
  abort?: boolean;
}

/** Options for {@linkcode Scheduler.list}. */
export interface TaskListOptions {
  /**
   * The time to list next runs from.
   * @default the clock's now
   */
  from?: Date;
  /**
   * How many next runs to list per task.
   * @default 3
   */
  count?: number;
}

/** One task as {@linkcode Scheduler.list} shows it. */
export interface ScheduledTaskInfo {
  /** The task's unique name. */
  name: string;
  /** `call` for a function, `job` for a queue dispatch. */
  kind: "call" | "job";
  /** The description set with `description()`. */
  description?: string;
  /** The cron expression, seconds first. */
  expression: string;
  /** The time zone it is read in. */
  timezone: string;
  /** The next occurrences that pass the `between()` filters. */
  nextRuns: Date[];
  /** The newest run in history, if any. */
  lastRun?: TaskRunRecord;
  /** Whether `withoutOverlapping()` is on. */
  withoutOverlapping: boolean;
  /** Whether `onOneServer()` is on. */
  onOneServer: boolean;
}

/**
 * What {@linkcode Scheduler.job} dispatches on: the queue module's `Queue`,
 * or anything with the same `dispatch()`.
 */
export interface JobDispatcher {
  /**
   * Validates the payload and enqueues one job.
   *
   * @param job The job definition.
   * @param payload The payload.
   * @param options Delay, priority, id and unique key.
   * @returns The job's id, and whether a new job was enqueued.
   */
  dispatch<S extends PayloadSchema>(
    job: JobDefinition<S>,
    payload: PayloadInput<S>,
    options?: DispatchOptions,
  ): Promise<DispatchResult>;
}

/** Options for {@linkcode Scheduler.job}. */
export interface JobTaskOptions {
  /**
   * The task's name.
   * @default `job:<job name>`
   */
  name?: string;
  /** Passed to `dispatch()` as its options (delay, priority, …). */
  dispatch?: DispatchOptions;
}

/** A group of tasks sharing one compiled pattern, filed in the heap by its next run. */
interface Group {
  at: number;
  pattern: CompiledPattern;
  tasks: TaskDefinition[];
}

const DEFAULT_FIELDS = ["0", "*", "*", "*", "*", "*"];
const PING_TIMEOUT_MS = 10_000;
/** A clock moving back by more than this counts as a jump, not as timer jitter. */
const BACKWARD_JUMP_MS = 1_000;
/** How many occurrences `list()` examines when `between()` filters most of them out. */
const MAX_FILTERED_SCAN = 10_000;

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
  #mutex: SchedulerMutex;
  #history: SchedulerHistory;
  #clock: SchedulerClock;
  #onError: SchedulerErrorHandler;
  #fetch: typeof fetch;
  #window: number;
  #maxWait: number;
  #claimTtl: number;
  #instance: string;

  #definitions = new Map<string, TaskDefinition>();
  #host: TaskHost;
  #groups: Group[] | undefined;
  #heap = new MinHeap<Group>();

  #running = false;
  #keepAlive = false;
  #timer: unknown;
  #lastTick = 0;
  #inFlight = new Set<Promise<unknown>>();
  #attempts = new Set<AbortController>();

  /**
   * Creates a scheduler with no tasks.
   *
   * @param options Time zone, mutex, history, clock and timing settings.
   * @throws {RangeError} When the time zone is unknown or a duration is not a positive integer.
   * @throws {TypeError} When a collaborator lacks the methods it needs.
   */
  constructor(options: SchedulerOptions = {}) {
    const timezone = options.timezone ?? "UTC";
    if (!isTimezone(timezone)) {
      throw new RangeError(`Scheduler timezone: unknown time zone ${JSON.stringify(timezone)}`);
    }
    this.#timezone = timezone;
    this.#clock = options.clock ?? systemClock;
    for (const method of ["now", "setTimeout", "clearTimeout"] as const) {
      if (typeof this.#clock[method] !== "function") {
        throw new TypeError(`Scheduler clock must have a ${method}() method`);
      }
    }
    const clock = this.#clock;
    this.#mutex = options.mutex ?? new MemoryMutex({ now: () => clock.now() });
    if (typeof this.#mutex.acquire !== "function" || typeof this.#mutex.release !== "function") {
      throw new TypeError("Scheduler mutex must have acquire() and release() methods");
    }
    this.#history = options.history ?? new MemoryHistory();
    for (const method of ["record", "list", "latest"] as const) {
      if (typeof this.#history[method] !== "function") {
        throw new TypeError(`Scheduler history must have a ${method}() method`);
      }
    }
    this.#onError = options.onError ?? ((error, info) => {
      console.error(`Scheduler: ${info.phase} of task "${info.task}" failed`, error);
    });
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#window = positive("window", options.window ?? 60_000);
    this.#maxWait = positive("maxWait", options.maxWait ?? 30_000);
    this.#claimTtl = positive("claimTtl", options.claimTtl ?? 3_600_000);
    this.#instance = options.instance ?? crypto.randomUUID();
    const patterns = new PatternCache();
    this.#host = {
      patterns,
      changed: (definition) => this.#changed(definition),
    };
  }

  /** Whether {@linkcode Scheduler.start} is in effect. */
  get running(): boolean {
    return this.#running;
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
   *
   * const scheduler = new Scheduler({ timezone: "America/New_York" });
   * scheduler.call("sync", async ({ signal }) => {
   *   // await fetch("https://example.com/sync", { signal });
   * }).everyFiveMinutes().weekdays().between("09:00", "17:00");
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
    if (typeof job?.name !== "string" || job.name.length === 0 || typeof job.schema !== "object") {
      throw new TypeError("Scheduler job(): expected a job definition from defineJob()");
    }
    const name = options.name ?? `job:${job.name}`;
    if (typeof queue?.dispatch !== "function") {
      throw new TypeError(`Task "${name}": job() expects a queue with a dispatch() method`);
    }
    const issues = schemaIssues(job.schema, payload);
    if (issues !== undefined) {
      throw new TypeError(
        `Task "${name}": invalid payload for job ${job.name}: ${issues.join("; ")}`,
      );
    }
    const dispatchOptions = options.dispatch;
    return this.#register(
      name,
      ({ scheduledAt }) =>
        queue.dispatch(job, payload, {
          // One job id per (task, scheduled time): a retried dispatch, or a second
          // instance ticking the same occurrence, enqueues nothing new.
          jobId: `${name}@${scheduledAt.toISOString()}`,
          ...dispatchOptions,
        }),
      "job",
    );
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
    for (const group of this.#plan()) {
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
   * const scheduler = new Scheduler();
   * scheduler.call("heartbeat", () => {}).everyThirtySeconds();
   * await scheduler.start();
   * await scheduler.stop();
   * ```
   */
  // deno-lint-ignore require-await
  async start(options: SchedulerStartOptions = {}): Promise<void> {
    if (this.#running) return;
    const groups = this.#plan();
    this.#running = true;
    this.#keepAlive = options.keepAlive ?? false;
    this.#lastTick = this.#clock.now();
    this.#fill(groups, this.#lastTick);
    this.#arm();
  }

  /**
   * Stops long-running mode and waits for runs in progress to settle.
   *
   * @param options Whether to abort runs in progress.
   * @returns Once no run is in progress.
   *
   * @example Stopping and aborting runs in progress
   * ```ts
   * import { Scheduler } from "@kiln/core/scheduler";
   *
   * const scheduler = new Scheduler();
   * await scheduler.start();
   * await scheduler.stop({ abort: true });
   * ```
   */
  async stop(options: SchedulerStopOptions = {}): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#heap.clear();
    if (options.abort) {
      for (const controller of this.#attempts) controller.abort(new Error("Scheduler stopped"));
    }
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * Lists every task with its schedule, next runs and last run. Asynchronous
   * because the last runs come from the history store, which may be Redis
   * (`RedisHistory`: one pipelined round trip for all tasks).
   *
   * @param options Where to start and how many next runs to show.
   * @returns One entry per task, in registration order.
   * @throws {TypeError} When a task's schedule cannot be compiled.
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
    const from = options.from?.getTime() ?? this.#clock.now();
    const count = options.count ?? 3;
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(`list() count must be a non-negative integer, got ${count}`);
    }
    this.#plan();
    const definitions = [...this.#definitions.values()];
    const latest = await this.#history.latest(definitions.map((definition) => definition.name));
    return definitions.map((definition, index) => {
      const pattern = this.#pattern(definition);
      const info: ScheduledTaskInfo = {
        name: definition.name,
        kind: definition.kind,
        expression: pattern.expression,
        timezone: pattern.timezone,
        nextRuns: this.#nextRuns(definition, pattern, from, count),
        withoutOverlapping: definition.overlapTtl !== undefined,
        onOneServer: definition.oneServer === true,
      };
      if (definition.description !== undefined) info.description = definition.description;
      if (latest[index] !== undefined) info.lastRun = latest[index];
      return info;
    });
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

  #register(name: string, handler: TaskHandler, kind: "call" | "job"): ScheduledTask {
    if (typeof name !== "string" || name.trim().length === 0 || hasControlCharacter(name)) {
      throw new TypeError(
        `Task names must be non-empty strings without control characters, got ${
          JSON.stringify(name)
        }`,
      );
    }
    if (this.#definitions.has(name)) {
      throw new TypeError(`Task "${name}" is already registered`);
    }
    if (typeof handler !== "function") {
      throw new TypeError(`Task "${name}": the handler must be a function`);
    }
    const definition: TaskDefinition = { name, handler, kind, fields: [...DEFAULT_FIELDS] };
    this.#definitions.set(name, definition);
    this.#changed(definition);
    return new ScheduledTask({ definition, host: this.#host });
  }

  /** A schedule changed: re-plan lazily, after the caller's chain of builder calls. */
  #changed(_definition: TaskDefinition): void {
    if (this.#groups === undefined) return;
    this.#groups = undefined;
    if (this.#running) {
      queueMicrotask(() => {
        if (!this.#running || this.#groups !== undefined) return;
        try {
          this.#fill(this.#plan(), this.#clock.now());
          this.#arm();
        } catch (error) {
          this.#report(error, { task: "*", scheduledAt: new Date(this.#clock.now()) }, "plan");
        }
      });
    }
  }

  #pattern(definition: TaskDefinition): CompiledPattern {
    if (!definition.pattern) {
      const expression = definition.fields.join(" ");
      try {
        definition.pattern = this.#host.patterns.get(
          expression,
          definition.timezone ?? this.#timezone,
        );
      } catch (error) {
        throw new TypeError(
          `Task "${definition.name}": invalid schedule ${JSON.stringify(expression)}: ${
            error instanceof Error ? error.message : String(error)
          }`,
          { cause: error },
        );
      }
    }
    return definition.pattern;
  }

  /** Groups tasks by shared pattern and checks `then()` references, once per change. */
  #plan(): Group[] {
    if (this.#groups) return this.#groups;
    const byPattern = new Map<CompiledPattern, Group>();
    for (const definition of this.#definitions.values()) {
      for (const next of definition.chain ?? []) {
        if (typeof next === "string" && !this.#definitions.has(next)) {
          throw new TypeError(`Task "${definition.name}": then() names unknown task "${next}"`);
        }
      }
      const pattern = this.#pattern(definition);
      let group = byPattern.get(pattern);
      if (!group) byPattern.set(pattern, group = { at: 0, pattern, tasks: [] });
      group.tasks.push(definition);
    }
    this.#assertNoChainCycle();
    this.#host.patterns.retain(
      new Set([...byPattern.keys()].map((p) => `${p.timezone} ${p.expression}`)),
    );
    return this.#groups = [...byPattern.values()];
  }

  #assertNoChainCycle(): void {
    const state = new Map<string, "visiting" | "done">();
    const visit = (name: string): void => {
      if (state.get(name) === "done") return;
      if (state.get(name) === "visiting") {
        throw new TypeError(`Task "${name}": then() chains back to itself`);
      }
      state.set(name, "visiting");
      for (const next of this.#definitions.get(name)?.chain ?? []) {
        if (typeof next === "string") visit(next);
      }
      state.set(name, "done");
    };
    for (const name of this.#definitions.keys()) visit(name);
  }

  /** Files every group in the heap by its first occurrence at or after `now`. */
  #fill(groups: Group[], now: number): void {
    this.#heap.clear();
    for (const group of groups) {
      const at = group.pattern.next(now - 1);
      if (at === null) continue;
      group.at = at;
      this.#heap.push(group);
    }
  }

  #arm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#running) return;
    const next = this.#heap.peek();
    const delay = next === undefined
      ? this.#maxWait
      : Math.min(Math.max(next.at - this.#clock.now(), 0), this.#maxWait);
    this.#timer = this.#clock.setTimeout(() => this.#tick(), delay, !this.#keepAlive);
  }

  #tick(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    const now = this.#clock.now();
    if (now < this.#lastTick - BACKWARD_JUMP_MS) {
      // The wall clock was set back: occurrences ahead of the new time are real again.
      for (const definition of this.#definitions.values()) definition.lastScheduledAt = undefined;
      this.#fill(this.#plan(), now);
    }
    this.#lastTick = now;
    for (let group = this.#heap.peek(); group && group.at <= now; group = this.#heap.peek()) {
      this.#heap.pop();
      let occurrence: number | null = group.at;
      let following = group.pattern.next(occurrence);
      if (following !== null && following <= now) {
        // Asleep or jumped forward past several occurrences: run the latest one once.
        occurrence = group.pattern.latestAtOrBefore(now);
        following = group.pattern.next(now);
      }
      if (occurrence !== null) {
        for (const definition of group.tasks) void this.#launch(definition, occurrence);
      }
      if (following !== null) {
        group.at = following;
        this.#heap.push(group);
      }
    }
    this.#arm();
  }

  /** Starts a run and tracks it until it settles, so `stop()` can wait for it. */
  #launch(definition: TaskDefinition, scheduledAt: number): Promise<TaskRunOutcome> {
    const run = this.#run(definition, scheduledAt, false);
    this.#inFlight.add(run);
    void run.finally(() => this.#inFlight.delete(run));
    return run;
  }

  async #run(
    definition: TaskDefinition,
    scheduledAt: number,
    chained: boolean,
  ): Promise<TaskRunOutcome> {
    const info: TaskRunInfo = { task: definition.name, scheduledAt: new Date(scheduledAt) };
    const skipped = (reason: TaskSkipReason): TaskRunOutcome => ({
      ...info,
      status: "skipped",
      reason,
    });
    if (!this.#passesWindows(definition, scheduledAt)) return skipped("filtered");
    if (!chained) {
      const last = definition.lastScheduledAt;
      if (last !== undefined && scheduledAt <= last) return skipped("duplicate");
      // Set before any await, so a tick delivered twice at once still runs once.
      definition.lastScheduledAt = scheduledAt;
    }
    const startedAt = this.#clock.now();
    let lock: string | undefined;
    try {
      if (!chained && definition.oneServer) {
        const claimed = await this.#mutex.acquire(
          `run:${definition.name}:${scheduledAt}`,
          crypto.randomUUID(),
          this.#claimTtl,
        );
        if (!claimed) return skipped("claimed");
      }
      for (const { test, expect } of definition.conditions ?? []) {
        if (Boolean(await test(info)) !== expect) return skipped("condition");
      }
      if (definition.overlapTtl !== undefined) {
        const token = crypto.randomUUID();
        if (
          !await this.#mutex.acquire(`overlap:${definition.name}`, token, definition.overlapTtl)
        ) {
          await this.#finish(definition, info, startedAt, "skipped", 0, "overlapping");
          return skipped("overlapping");
        }
        lock = token;
      }
    } catch (error) {
      // The mutex or a condition failed: the run cannot safely start.
      await this.#finish(definition, info, startedAt, "failed", 0, error);
      return { ...info, status: "failed", attempts: 0, error };
    }
    let attempts = 0;
    let failure: { error: unknown } | undefined;
    try {
      await Promise.all((definition.pingBefore ?? []).map((url) => this.#ping(url, info)));
      for (const hook of definition.before ?? []) await hook(info);
      for (;;) {
        attempts++;
        try {
          await this.#attempt(definition, info, attempts);
          failure = undefined;
          break;
        } catch (error) {
          failure = { error };
          if (attempts > (definition.retries ?? 0)) break;
          await this.#sleep(backoffDelay(definition.backoff ?? 0, attempts));
        }
      }
    } catch (error) {
      failure = { error };
    } finally {
      if (lock !== undefined) {
        await this.#mutex.release(`overlap:${definition.name}`, lock).catch((error) =>
          this.#report(error, info, "releasing the overlap lock")
        );
      }
    }
    const record = await this.#finish(
      definition,
      info,
      startedAt,
      failure ? "failed" : "succeeded",
      attempts,
      failure?.error,
    );
    if (failure) {
      for (const hook of definition.onFailure ?? []) {
        await this.#guard(info, "onFailure hook", () => hook(failure.error, record));
      }
    } else {
      for (const hook of definition.onSuccess ?? []) {
        await this.#guard(info, "onSuccess hook", () => hook(record));
      }
    }
    for (const hook of definition.after ?? []) {
      await this.#guard(info, "after hook", () => hook(record));
    }
    await Promise.all((definition.pingAfter ?? []).map((url) => this.#ping(url, info)));
    if (!failure) {
      for (const next of definition.chain ?? []) {
        if (typeof next === "function") {
          await this.#guard(info, "then()", () => next(info));
        } else {
          await this.#run(this.#definitions.get(next)!, scheduledAt, true);
        }
      }
    }
    return failure
      ? { ...info, status: "failed", attempts, error: failure.error }
      : { ...info, status: "succeeded", attempts };
  }

  /** One attempt, raced against the task's timeout. */
  async #attempt(definition: TaskDefinition, info: TaskRunInfo, attempt: number): Promise<void> {
    const controller = new AbortController();
    const context: TaskContext = { ...info, attempt, signal: controller.signal };
    this.#attempts.add(controller);
    let timer: unknown;
    try {
      const work = (async () => await definition.handler(context))();
      const limit = definition.timeout;
      if (limit === undefined) {
        await work;
        return;
      }
      // A handler that ignores its signal keeps running; its late outcome is ignored.
      work.catch(() => {});
      await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = this.#clock.setTimeout(() => {
            const error = new TaskTimeoutError(definition.name, limit);
            controller.abort(error);
            reject(error);
          }, limit);
        }),
      ]);
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      this.#attempts.delete(controller);
    }
  }

  async #finish(
    definition: TaskDefinition,
    info: TaskRunInfo,
    startedAt: number,
    status: TaskRunRecord["status"],
    attempts: number,
    error?: unknown,
  ): Promise<TaskRunRecord> {
    const finishedAt = this.#clock.now();
    const record: TaskRunRecord = {
      task: definition.name,
      scheduledAt: info.scheduledAt.getTime(),
      startedAt,
      finishedAt,
      durationMs: finishedAt - startedAt,
      status,
      attempts,
      instance: this.#instance,
    };
    if (error !== undefined) {
      record.error = error instanceof Error ? error.message : String(error);
    }
    await this.#history.record(record).catch((cause) =>
      this.#report(cause, info, "recording history")
    );
    return record;
  }

  #passesWindows(definition: TaskDefinition, scheduledAt: number): boolean {
    const windows = definition.windows;
    if (!windows) return true;
    const seconds = localSecondsOfDay(scheduledAt, definition.timezone ?? this.#timezone);
    return windows.every((window) => inWindow(window, seconds) === window.inside);
  }

  #nextRuns(
    definition: TaskDefinition,
    pattern: CompiledPattern,
    from: number,
    count: number,
  ): Date[] {
    const runs: Date[] = [];
    let cursor: number | null = from;
    for (let scanned = 0; runs.length < count && scanned < MAX_FILTERED_SCAN; scanned++) {
      cursor = pattern.next(cursor);
      if (cursor === null) break;
      if (this.#passesWindows(definition, cursor)) runs.push(new Date(cursor));
    }
    return runs;
  }

  async #ping(url: string, info: TaskRunInfo): Promise<void> {
    const controller = new AbortController();
    const timer = this.#clock.setTimeout(() => controller.abort(), PING_TIMEOUT_MS);
    try {
      const response = await this.#fetch(url, { signal: controller.signal });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`Ping to ${url} answered HTTP ${response.status}`);
    } catch (error) {
      this.#report(error, info, `ping to ${url}`);
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  async #guard(info: TaskRunInfo, phase: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.#report(error, info, phase);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }

  #report(error: unknown, info: TaskRunInfo, phase: string): void {
    try {
      this.#onError(error, { ...info, phase });
    } catch {
      // An error handler that throws must not take a run down with it.
    }
  }
}

/** The subset of the Standard Schema interface (which valibot implements) used here. */
interface StandardSchemaLike {
  readonly "~standard"?: {
    validate(value: unknown): StandardResult | PromiseLike<StandardResult>;
  };
}

type StandardResult = {
  readonly issues?: readonly {
    readonly message: string;
    readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[];
  }[];
};

/**
 * Checks a payload against a schema synchronously through the Standard Schema
 * interface, without loading valibot. `undefined` when the payload passes or
 * the schema can only answer asynchronously (the queue checks again at dispatch).
 */
function schemaIssues(schema: PayloadSchema, payload: unknown): string[] | undefined {
  const standard = (schema as StandardSchemaLike)["~standard"];
  if (typeof standard?.validate !== "function") return undefined;
  const result = standard.validate(payload);
  if (typeof (result as PromiseLike<unknown>).then === "function") {
    // An asynchronous schema: a rejection here is not ours to report.
    Promise.resolve(result).catch(() => {});
    return undefined;
  }
  const { issues } = result as StandardResult;
  if (!issues || issues.length === 0) return undefined;
  return issues.map((issue) => {
    const path = (issue.path ?? [])
      .map((segment) => String(typeof segment === "object" ? segment.key : segment))
      .join(".");
    return `${path || "(payload)"}: ${issue.message}`;
  });
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}

function inWindow(window: TimeWindow, seconds: number): boolean {
  return window.start <= window.end
    ? seconds >= window.start && seconds <= window.end
    // The window spans midnight, such as 22:00 to 06:00.
    : seconds >= window.start || seconds <= window.end;
}

function backoffDelay(backoff: RetryBackoff, retry: number): number {
  if (typeof backoff === "number") return backoff;
  if (typeof backoff === "function") {
    const ms = backoff(retry);
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  }
  return backoff[Math.min(retry, backoff.length) - 1];
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(
      `Scheduler ${name} must be a positive integer of milliseconds, got ${value}`,
    );
  }
  return value;
}
