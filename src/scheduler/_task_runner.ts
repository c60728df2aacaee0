/**
 * Running one occurrence of one task: its filters, idempotence and claims,
 * conditions, overlap lock, hooks, pings, retries, timeout and history record.
 * A failing or hanging task never throws out of here.
 *
 * @module
 */
import type { RetryBackoff, TaskDefinition } from "./_definition.ts";
import { passesWindows } from "./_time_windows.ts";
import type { Clock } from "../clock.ts";
import { PingFailedError, TaskTimeoutError } from "./errors.ts";
import type { SchedulerHistory, TaskRunRecord } from "./history.ts";
import type { SchedulerMutex } from "./mutex.ts";
import type { TaskContext, TaskRunInfo, TaskRunOutcome, TaskSkipReason } from "./types.ts";

const PING_TIMEOUT_MS = 10_000;

/** What a runner needs from its scheduler. */
export interface TaskRunnerOptions {
  /** The time zone of tasks that set none, for their `between()` windows. */
  timezone: string;
  clock: Clock;
  mutex: SchedulerMutex;
  history: SchedulerHistory;
  fetch: typeof fetch;
  /** How long an `onOneServer()` claim lives. */
  claimTtl: number;
  /** This instance's name in history records. */
  instance: string;
  /** The paused tasks, read once per tick however many runs it starts. */
  paused(): Promise<ReadonlySet<string>>;
  /** Finds a task named by `then()`; the plan has checked that it exists. */
  lookup(name: string): TaskDefinition | undefined;
  /** Receives errors that are not the task's own failure; never throws. */
  report(error: unknown, info: TaskRunInfo, phase: string): void;
}

/**
 * What started a run: its schedule; another task's `then()` (its schedule,
 * claim and idempotence do not apply, but a pause does: an operator who
 * paused a task does not expect it to run); or an operator's `run(name)`,
 * which also skips the windows, conditions and pause, as Laravel's
 * `schedule:test` does, and still respects `withoutOverlapping()`.
 */
export type RunTrigger = TaskRunRecord["trigger"];

/** Runs occurrences, and aborts the attempts in progress on request. */
export class TaskRunner {
  #options: TaskRunnerOptions;
  #attempts = new Set<AbortController>();
  /** Wakes a run waiting out a retry's backoff. */
  #backoffs = new Set<() => void>();
  /**
   * Set from {@linkcode TaskRunner.abortAttempts} until
   * {@linkcode TaskRunner.allowAttempts}: while a `stop({ abort: true })` waits,
   * no attempt starts (a retry, or a `run(name)` that came meanwhile), or the
   * stop would wait for work it was asked to abort.
   */
  #stopped: Error | undefined;

  constructor(options: TaskRunnerOptions) {
    this.#options = options;
  }

  /**
   * Aborts the `signal` of every attempt in progress, cuts short the backoffs
   * of runs waiting to retry, and starts no attempt until
   * {@linkcode TaskRunner.allowAttempts}.
   */
  abortAttempts(reason: Error): void {
    this.#stopped = reason;
    for (const controller of this.#attempts) controller.abort(reason);
    for (const wake of this.#backoffs) wake();
  }

  /** Lets attempts start again, once the stop that aborted them has finished. */
  allowAttempts(): void {
    this.#stopped = undefined;
  }

  /** Runs one occurrence, or says why it was skipped. */
  async run(
    definition: TaskDefinition,
    scheduledAt: number,
    trigger: RunTrigger = "schedule",
  ): Promise<TaskRunOutcome> {
    const { clock, mutex } = this.#options;
    const info: TaskRunInfo = { task: definition.name, scheduledAt: new Date(scheduledAt) };
    const skipped = (reason: TaskSkipReason): TaskRunOutcome => ({
      ...info,
      status: "skipped",
      reason,
    });
    const scheduled = trigger === "schedule";
    if (trigger !== "manual" && !passesWindows(definition, scheduledAt, this.#options.timezone)) {
      return skipped("filtered");
    }
    if (scheduled) {
      const last = definition.lastScheduledAt;
      if (last !== undefined && scheduledAt <= last) return skipped("duplicate");
      // Set before any await, so a tick delivered twice at once still runs once.
      definition.lastScheduledAt = scheduledAt;
    }
    if (trigger !== "manual" && await this.#isPaused(info)) return skipped("paused");
    const startedAt = clock.now();
    let lock: string | undefined;
    try {
      if (scheduled && definition.oneServer) {
        const claimed = await mutex.acquire(
          `run:${definition.name}:${scheduledAt}`,
          crypto.randomUUID(),
          this.#options.claimTtl,
        );
        if (!claimed) return skipped("claimed");
      }
      for (const { test, expect } of trigger === "manual" ? [] : definition.conditions ?? []) {
        if (Boolean(await test(info)) !== expect) return skipped("condition");
      }
      if (definition.overlapTtl !== undefined) {
        const token = crypto.randomUUID();
        if (!await mutex.acquire(`overlap:${definition.name}`, token, definition.overlapTtl)) {
          await this.#finish(definition, info, startedAt, trigger, "skipped", 0, "overlapping");
          return skipped("overlapping");
        }
        lock = token;
      }
    } catch (error) {
      // The mutex or a condition failed: the run cannot safely start.
      await this.#finish(definition, info, startedAt, trigger, "failed", 0, error);
      return { ...info, status: "failed", attempts: 0, error };
    }
    let attempts = 0;
    let failure: { error: unknown } | undefined;
    try {
      await Promise.all((definition.pingBefore ?? []).map((url) => this.#ping(url, info)));
      for (const hook of definition.before ?? []) await hook(info);
      for (;;) {
        if (this.#stopped) throw this.#stopped;
        attempts++;
        try {
          await this.#attempt(definition, info, attempts);
          failure = undefined;
          break;
        } catch (error) {
          failure = { error };
          if (attempts > (definition.retries ?? 0) || this.#stopped) break;
          await this.#backoff(backoffDelay(definition.backoff ?? 0, attempts));
        }
      }
    } catch (error) {
      failure = { error };
    } finally {
      if (lock !== undefined) {
        await mutex.release(`overlap:${definition.name}`, lock).catch((error) =>
          this.#options.report(error, info, "releasing the overlap lock")
        );
      }
    }
    const record = await this.#finish(
      definition,
      info,
      startedAt,
      trigger,
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
          await this.run(this.#options.lookup(next)!, scheduledAt, "chain");
        }
      }
    }
    return failure
      ? { ...info, status: "failed", attempts, error: failure.error }
      : { ...info, status: "succeeded", attempts };
  }

  /**
   * Whether an operator paused the task. A pause store that cannot be read is
   * reported and counts as not paused: a Redis outage must not stop every task
   * (only `onOneServer()` ones, which cannot claim), so a pause is a request
   * that holds while its store answers.
   */
  async #isPaused(info: TaskRunInfo): Promise<boolean> {
    try {
      return (await this.#options.paused()).has(info.task);
    } catch (error) {
      this.#options.report(error, info, "reading paused tasks");
      return false;
    }
  }

  /** One attempt, raced against the task's timeout. */
  async #attempt(definition: TaskDefinition, info: TaskRunInfo, attempt: number): Promise<void> {
    const { clock } = this.#options;
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
          timer = clock.setTimeout(() => {
            const error = new TaskTimeoutError(definition.name, limit);
            controller.abort(error);
            reject(error);
          }, limit);
        }),
      ]);
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
      this.#attempts.delete(controller);
    }
  }

  /** Writes the run's history record; a failing history store is reported, not thrown. */
  async #finish(
    definition: TaskDefinition,
    info: TaskRunInfo,
    startedAt: number,
    trigger: RunTrigger,
    status: TaskRunRecord["status"],
    attempts: number,
    error?: unknown,
  ): Promise<TaskRunRecord> {
    const finishedAt = this.#options.clock.now();
    const record: TaskRunRecord = {
      task: definition.name,
      scheduledAt: info.scheduledAt.getTime(),
      startedAt,
      finishedAt,
      duration: finishedAt - startedAt,
      status,
      attempts,
      instance: this.#options.instance,
      trigger,
    };
    if (error !== undefined) {
      record.error = error instanceof Error ? error.message : String(error);
    }
    await this.#options.history.record(record).catch((cause) =>
      this.#options.report(cause, info, "recording history")
    );
    return record;
  }

  async #ping(url: string, info: TaskRunInfo): Promise<void> {
    const { clock } = this.#options;
    const controller = new AbortController();
    const timer = clock.setTimeout(() => controller.abort(), PING_TIMEOUT_MS);
    try {
      const response = await this.#options.fetch(url, { signal: controller.signal });
      await response.body?.cancel();
      if (!response.ok) throw new PingFailedError(url, response.status);
    } catch (error) {
      this.#options.report(error, info, `ping to ${url}`);
    } finally {
      clock.clearTimeout(timer);
    }
  }

  async #guard(info: TaskRunInfo, phase: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.#options.report(error, info, phase);
    }
  }

  /** Waits before a retry; an aborting stop wakes it early. */
  #backoff(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    const { clock } = this.#options;
    return new Promise((resolve) => {
      const wake = () => {
        clock.clearTimeout(timer);
        this.#backoffs.delete(wake);
        resolve();
      };
      const timer = clock.setTimeout(wake, ms);
      this.#backoffs.add(wake);
    });
  }
}

function backoffDelay(backoff: RetryBackoff, retry: number): number {
  if (typeof backoff === "number") return backoff;
  if (typeof backoff === "function") {
    const ms = backoff(retry);
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  }
  return backoff[Math.min(retry, backoff.length) - 1];
}
