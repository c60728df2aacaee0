/**
 * The fluent task builder returned by `scheduler.call()` and `scheduler.job()`.
 *
 * @module
 */
import { cronFields, DAY, HOUR, MINUTE, MONTH, SECOND, WEEKDAY } from "./_cron_fields.ts";
import type { RetryBackoff, TaskDefinition } from "./_definition.ts";
import { isTimezone, type PatternCache } from "./_patterns.ts";
import {
  assertInteger,
  parseTimeOfDay,
  parseWeekday,
  secondsOfDay,
  type Weekday,
} from "./_time_of_day.ts";
import type { TaskRunRecord } from "./history.ts";
import type { TaskCondition, TaskRunInfo } from "./types.ts";

/** What the builder needs from its scheduler. */
export interface TaskHost {
  readonly patterns: PatternCache;
  /** Called after every change, so a running scheduler re-plans. */
  changed(): void;
  /** Whether `definition` is still the task registered under its name. */
  holds(definition: TaskDefinition): boolean;
  /** Unregisters `definition`: one of its builder calls threw. */
  drop(definition: TaskDefinition): void;
}

/**
 * One scheduled task. Every method returns the task, so calls chain:
 * a frequency (`cron()`, `everyFiveMinutes()`, `dailyAt()` …), filters
 * (`weekdays()`, `between()` …), conditions, hooks and safety settings.
 * Frequencies and day filters each set some fields of one cron expression,
 * so `dailyAt("08:00").weekdays()` runs at 08:00 on Monday to Friday.
 * Invalid arguments throw at once, naming the task, and unregister it: a task
 * is either registered as written or not at all, never left running on the
 * every-minute default or half a schedule. A builder whose task was
 * unregistered refuses further calls.
 *
 * @example A backup at 02:00 Berlin time, on one server, retried twice
 * ```ts
 * import { Scheduler } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * const scheduler = new Scheduler();
 * scheduler.call("backup", () => {})
 *   .dailyAt("02:00").timezone("Europe/Berlin").onOneServer().retry(2, 1_000);
 * const [backup] = await scheduler.list({ from: new Date("2025-01-01T00:00:00Z") });
 * assert.equal(backup.expression, "0 0 2 * * *");
 * assert.equal(backup.nextRuns[0].toISOString(), "2025-01-01T01:00:00.000Z");
 * ```
 */
export class ScheduledTask {
  #definition: TaskDefinition;
  #host: TaskHost;

  /**
   * Created by `Scheduler.call()` and `Scheduler.job()`; not constructed directly.
   *
   * @param internals The scheduler's record of the task, opaque to callers.
   */
  constructor(internals: object) {
    const { definition, host } = internals as { definition: TaskDefinition; host: TaskHost };
    this.#definition = definition;
    this.#host = host;
  }

  /** The task's unique name. */
  get name(): string {
    return this.#definition.name;
  }

  /**
   * Runs on a cron expression (croner syntax: 5 fields, or 6 with seconds
   * first, or 7 with a year; `L`, `W`, `#` and nicknames such as `@daily`).
   *
   * @param expression The expression.
   * @returns This task.
   * @throws {TypeError} When the expression is invalid.
   */
  cron(expression: string): this {
    return this.#edit((definition) => {
      const fields = cronFields(expression);
      const problem = fields.length < 6 || fields.length > 7
        ? "expected 5, 6 or 7 fields"
        : this.#host.patterns.check(fields.join(" "));
      if (problem !== undefined) {
        throw new TypeError(
          `Task "${this.name}": invalid cron expression ${JSON.stringify(expression)}: ${problem}`,
        );
      }
      definition.fields = fields;
    }, true);
  }

  /** Runs every second. @returns This task. */
  everySecond(): this {
    return this.#splice({ [SECOND]: "*" });
  }
  /** Runs every two seconds. @returns This task. */
  everyTwoSeconds(): this {
    return this.#splice({ [SECOND]: "*/2" });
  }
  /** Runs every five seconds. @returns This task. */
  everyFiveSeconds(): this {
    return this.#splice({ [SECOND]: "*/5" });
  }
  /** Runs every ten seconds. @returns This task. */
  everyTenSeconds(): this {
    return this.#splice({ [SECOND]: "*/10" });
  }
  /** Runs every fifteen seconds. @returns This task. */
  everyFifteenSeconds(): this {
    return this.#splice({ [SECOND]: "*/15" });
  }
  /** Runs every twenty seconds. @returns This task. */
  everyTwentySeconds(): this {
    return this.#splice({ [SECOND]: "*/20" });
  }
  /** Runs every thirty seconds. @returns This task. */
  everyThirtySeconds(): this {
    return this.#splice({ [SECOND]: "*/30" });
  }
  /** Runs at the start of every minute (the default). @returns This task. */
  everyMinute(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "*" });
  }
  /** Runs every two minutes. @returns This task. */
  everyTwoMinutes(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "*/2" });
  }
  /** Runs every three minutes. @returns This task. */
  everyThreeMinutes(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "*/3" });
  }
  /** Runs every four minutes. @returns This task. */
  everyFourMinutes(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "*/4" });
  }
  /** Runs every five minutes. @returns This task. */
  everyFiveMinutes(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "*/5" });
  }
  /** Runs every ten minutes. @returns This task. */
  everyTenMinutes(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "*/10" });
  }
  /** Runs every fifteen minutes. @returns This task. */
  everyFifteenMinutes(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "*/15" });
  }
  /** Runs every thirty minutes. @returns This task. */
  everyThirtyMinutes(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "*/30" });
  }
  /** Runs at the start of every hour. @returns This task. */
  hourly(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "0" });
  }

  /**
   * Runs every hour at a minute past the hour.
   *
   * @param minute 0 to 59.
   * @returns This task.
   * @throws {RangeError} When `minute` is out of range.
   */
  hourlyAt(minute: number): this {
    return this.#edit((definition) => {
      assertInteger(this.name, "hourlyAt", minute, 0, 59);
      setFields(definition, { [SECOND]: "0", [MINUTE]: String(minute) });
    }, true);
  }

  /** Runs every two hours, on the hour. @returns This task. */
  everyTwoHours(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "0", [HOUR]: "*/2" });
  }
  /** Runs every three hours, on the hour. @returns This task. */
  everyThreeHours(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "0", [HOUR]: "*/3" });
  }
  /** Runs every four hours, on the hour. @returns This task. */
  everyFourHours(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "0", [HOUR]: "*/4" });
  }
  /** Runs every six hours, on the hour. @returns This task. */
  everySixHours(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "0", [HOUR]: "*/6" });
  }
  /** Runs every day at midnight. @returns This task. */
  daily(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "0", [HOUR]: "0" });
  }

  /**
   * Runs every day at a time.
   *
   * @param time "HH:MM" (or "HH:MM:SS") on a 24-hour clock.
   * @returns This task.
   * @throws {RangeError} When `time` is not a valid time of day, such as "25:00".
   */
  dailyAt(time: string): this {
    return this.#edit((definition) => this.#at(definition, "dailyAt", time), true);
  }

  /**
   * Runs every day at two hours, on the hour.
   *
   * @param first The first hour. @default 1
   * @param second The second hour. @default 13
   * @returns This task.
   * @throws {RangeError} When an hour is out of range.
   */
  twiceDaily(first = 1, second = 13): this {
    return this.#edit((definition) => {
      assertInteger(this.name, "twiceDaily", first, 0, 23);
      assertInteger(this.name, "twiceDaily", second, 0, 23);
      setFields(definition, { [SECOND]: "0", [MINUTE]: "0", [HOUR]: `${first},${second}` });
    }, true);
  }

  /** Runs every Sunday at midnight. @returns This task. */
  weekly(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "0", [HOUR]: "0", [WEEKDAY]: "0" });
  }

  /**
   * Runs every week on a day at a time.
   *
   * @param day The weekday: 0 (Sunday) to 6, or a name such as "mon".
   * @param time "HH:MM". @default "00:00"
   * @returns This task.
   * @throws {RangeError} When the day or time is invalid.
   */
  weeklyOn(day: Weekday, time = "00:00"): this {
    return this.#edit((definition) => {
      const weekday = parseWeekday(this.name, "weeklyOn", day);
      this.#at(definition, "weeklyOn", time);
      setFields(definition, { [WEEKDAY]: String(weekday) });
    }, true);
  }

  /** Runs on the first day of every month at midnight. @returns This task. */
  monthly(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "0", [HOUR]: "0", [DAY]: "1" });
  }

  /**
   * Runs every month on a day at a time. Months without that day are skipped.
   *
   * @param day 1 to 31. @default 1
   * @param time "HH:MM". @default "00:00"
   * @returns This task.
   * @throws {RangeError} When the day or time is invalid.
   */
  monthlyOn(day = 1, time = "00:00"): this {
    return this.#edit((definition) => {
      assertInteger(this.name, "monthlyOn", day, 1, 31);
      this.#at(definition, "monthlyOn", time);
      setFields(definition, { [DAY]: String(day) });
    }, true);
  }

  /**
   * Runs on the last day of every month at a time.
   *
   * @param time "HH:MM". @default "00:00"
   * @returns This task.
   * @throws {RangeError} When the time is invalid.
   */
  lastDayOfMonth(time = "00:00"): this {
    return this.#edit((definition) => {
      this.#at(definition, "lastDayOfMonth", time);
      setFields(definition, { [DAY]: "L" });
    }, true);
  }

  /** Runs on the first day of every quarter at midnight. @returns This task. */
  quarterly(): this {
    return this.#splice({
      [SECOND]: "0",
      [MINUTE]: "0",
      [HOUR]: "0",
      [DAY]: "1",
      [MONTH]: "1,4,7,10",
    });
  }

  /** Runs on January 1st at midnight. @returns This task. */
  yearly(): this {
    return this.#splice({ [SECOND]: "0", [MINUTE]: "0", [HOUR]: "0", [DAY]: "1", [MONTH]: "1" });
  }

  /** Limits the task to Monday to Friday. @returns This task. */
  weekdays(): this {
    return this.#splice({ [WEEKDAY]: "1-5" });
  }

  /** Limits the task to Saturday and Sunday. @returns This task. */
  weekends(): this {
    return this.#splice({ [WEEKDAY]: "0,6" });
  }

  /**
   * Limits the task to some weekdays.
   *
   * @param days Weekdays: 0 (Sunday) to 6, or names such as "mon".
   * @returns This task.
   * @throws {RangeError} When the list is empty or names no weekday.
   */
  days(days: readonly Weekday[]): this {
    return this.#edit((definition) => {
      if (!Array.isArray(days) || days.length === 0) {
        throw new RangeError(`Task "${this.name}": days() expects a non-empty list of weekdays`);
      }
      const numbers = [...new Set(days.map((day) => parseWeekday(this.name, "days", day)))];
      setFields(definition, { [WEEKDAY]: numbers.sort((a, b) => a - b).join(",") });
    }, true);
  }

  /**
   * Runs only when the occurrence's local time is between two times, both
   * included. When `start` is after `end` the window spans midnight.
   *
   * @param start "HH:MM".
   * @param end "HH:MM".
   * @returns This task.
   * @throws {RangeError} When a time is invalid.
   */
  between(start: string, end: string): this {
    return this.#window("between", start, end, true);
  }

  /**
   * Skips occurrences whose local time is between two times, both included.
   *
   * @param start "HH:MM".
   * @param end "HH:MM".
   * @returns This task.
   * @throws {RangeError} When a time is invalid.
   */
  unlessBetween(start: string, end: string): this {
    return this.#window("unlessBetween", start, end, false);
  }

  /**
   * Reads the schedule in an IANA time zone instead of the scheduler's.
   *
   * @param timezone Such as "Europe/Berlin".
   * @returns This task.
   * @throws {RangeError} When the runtime does not know the time zone.
   */
  timezone(timezone: string): this {
    return this.#edit((definition) => {
      if (!isTimezone(timezone)) {
        throw new RangeError(
          `Task "${this.name}": unknown time zone ${JSON.stringify(timezone)}`,
        );
      }
      definition.timezone = timezone;
    }, true);
  }

  /**
   * Sets a description shown by `list()`.
   *
   * @param text The description.
   * @returns This task.
   */
  description(text: string): this {
    return this.#edit((definition) => {
      definition.description = String(text);
    });
  }

  /**
   * Runs only when the condition holds. Several conditions must all hold.
   *
   * @param condition Sync or async; receives the task and occurrence.
   * @returns This task.
   * @throws {TypeError} When `condition` is not a function.
   */
  when(condition: TaskCondition): this {
    return this.#condition("when", condition, true);
  }

  /**
   * Skips the run when the condition holds.
   *
   * @param condition Sync or async; receives the task and occurrence.
   * @returns This task.
   * @throws {TypeError} When `condition` is not a function.
   */
  skip(condition: TaskCondition): this {
    return this.#condition("skip", condition, false);
  }

  /**
   * After a successful run, runs another task (its conditions, hooks and
   * locks apply, its schedule does not) or a function.
   *
   * @param next A task name or a function.
   * @returns This task.
   * @throws {TypeError} When `next` is neither.
   */
  then(next: string | ((info: TaskRunInfo) => unknown)): this {
    return this.#edit((definition) => {
      if (typeof next !== "function" && (typeof next !== "string" || next.length === 0)) {
        throw new TypeError(`Task "${this.name}": then() expects a task name or a function`);
      }
      (definition.chain ??= []).push(next);
    });
  }

  /**
   * Calls a hook before each run; if it throws, the run fails without starting.
   *
   * @param hook Receives the task and occurrence.
   * @returns This task.
   * @throws {TypeError} When `hook` is not a function.
   */
  before(hook: (info: TaskRunInfo) => unknown): this {
    return this.#edit((definition) =>
      void (definition.before ??= []).push(this.#fn("before", hook))
    );
  }

  /**
   * Calls a hook after each run, whether it succeeded or failed.
   *
   * @param hook Receives the run's record.
   * @returns This task.
   * @throws {TypeError} When `hook` is not a function.
   */
  after(hook: (run: TaskRunRecord) => unknown): this {
    return this.#edit((definition) => void (definition.after ??= []).push(this.#fn("after", hook)));
  }

  /**
   * Calls a hook after each successful run.
   *
   * @param hook Receives the run's record.
   * @returns This task.
   * @throws {TypeError} When `hook` is not a function.
   */
  onSuccess(hook: (run: TaskRunRecord) => unknown): this {
    return this.#edit((definition) =>
      void (definition.onSuccess ??= []).push(this.#fn("onSuccess", hook))
    );
  }

  /**
   * Calls a hook after each failed run (after its last retry).
   *
   * @param hook Receives the error and the run's record.
   * @returns This task.
   * @throws {TypeError} When `hook` is not a function.
   */
  onFailure(hook: (error: unknown, run: TaskRunRecord) => unknown): this {
    return this.#edit((definition) =>
      void (definition.onFailure ??= []).push(this.#fn("onFailure", hook))
    );
  }

  /**
   * Sends a GET to a URL (a health-check service) before each run.
   *
   * @param url An http(s) URL.
   * @returns This task.
   * @throws {TypeError} When `url` is not an http(s) URL.
   */
  pingBefore(url: string): this {
    return this.#edit((definition) =>
      void (definition.pingBefore ??= []).push(this.#url("pingBefore", url))
    );
  }

  /**
   * Sends a GET to a URL after each run.
   *
   * @param url An http(s) URL.
   * @returns This task.
   * @throws {TypeError} When `url` is not an http(s) URL.
   */
  thenPing(url: string): this {
    return this.#edit((definition) =>
      void (definition.pingAfter ??= []).push(this.#url("thenPing", url))
    );
  }

  /**
   * Skips a run while the previous run still holds the task's lock. The lock
   * expires after `ttl`, so a crashed run never blocks the task for good:
   * make it longer than the longest run.
   *
   * @param ttl The lock's time to live. @default 86_400_000 (24 hours)
   * @returns This task.
   * @throws {RangeError} When `ttl` is not a positive integer.
   */
  withoutOverlapping(ttl = 86_400_000): this {
    return this.#edit((definition) => {
      definition.overlapTtl = assertInteger(
        this.name,
        "withoutOverlapping",
        ttl,
        1,
        Number.MAX_SAFE_INTEGER,
      );
    });
  }

  /**
   * Among all scheduler instances sharing the mutex (a `RedisMutex`), runs
   * each occurrence on only one of them.
   *
   * @returns This task.
   */
  onOneServer(): this {
    return this.#edit((definition) => {
      definition.oneServer = true;
    });
  }

  /**
   * Retries a failed attempt.
   *
   * @param times How many retries after the first attempt.
   * @param backoff Milliseconds before each retry: one number, a list (the last
   * repeats), or a function of the retry number (1-based). @default 0
   * @returns This task.
   * @throws {RangeError} When `times` or `backoff` is invalid.
   */
  retry(times: number, backoff: RetryBackoff = 0): this {
    return this.#edit((definition) => {
      assertInteger(this.name, "retry", times, 0, 1_000);
      const valid = typeof backoff === "function" ||
        (typeof backoff === "number" && Number.isFinite(backoff) && backoff >= 0) ||
        (Array.isArray(backoff) && backoff.length > 0 &&
          backoff.every((ms) => typeof ms === "number" && Number.isFinite(ms) && ms >= 0));
      if (!valid) {
        throw new RangeError(
          `Task "${this.name}": retry() backoff must be milliseconds, a list of them or a function`,
        );
      }
      definition.retries = times;
      definition.backoff = backoff;
    });
  }

  /**
   * Fails an attempt that takes longer than `ms`; its `signal` is aborted.
   *
   * @param ms The limit, in milliseconds.
   * @returns This task.
   * @throws {RangeError} When `ms` is not a positive integer.
   */
  timeout(ms: number): this {
    return this.#edit((definition) => {
      definition.timeout = assertInteger(this.name, "timeout", ms, 1, 2 ** 31 - 1);
    });
  }

  /**
   * Applies one builder call. A call that throws unregisters the task, so a
   * bad argument never leaves it running on the default or half a schedule.
   *
   * @param schedule Whether the call changes the cron expression or time zone.
   */
  #edit(change: (definition: TaskDefinition) => void, schedule = false): this {
    const definition = this.#definition;
    if (!this.#host.holds(definition)) {
      throw new TypeError(
        `Task "${this.name}" is no longer registered: an earlier call on its builder threw`,
      );
    }
    try {
      change(definition);
    } catch (error) {
      this.#host.drop(definition);
      throw error;
    }
    if (schedule) {
      definition.pattern = undefined;
      this.#host.changed();
    }
    return this;
  }

  /** Sets the second, minute and hour fields from a time of day. */
  #at(definition: TaskDefinition, method: string, time: string): void {
    const { hour, minute, second } = parseTimeOfDay(this.name, method, time);
    setFields(definition, {
      [SECOND]: String(second),
      [MINUTE]: String(minute),
      [HOUR]: String(hour),
    });
  }

  /** A frequency or day filter: sets some fields of the cron expression. */
  #splice(values: Record<number, string>): this {
    return this.#edit((definition) => setFields(definition, values), true);
  }

  #window(method: string, start: string, end: string, inside: boolean): this {
    return this.#edit((definition) => {
      const from = secondsOfDay(parseTimeOfDay(this.name, method, start));
      const to = secondsOfDay(parseTimeOfDay(this.name, method, end));
      (definition.windows ??= []).push({ start: from, end: to, inside });
    });
  }

  #condition(method: string, test: TaskCondition, expect: boolean): this {
    return this.#edit((definition) =>
      void (definition.conditions ??= []).push({ test: this.#fn(method, test), expect })
    );
  }

  #fn<T>(method: string, fn: T): T {
    if (typeof fn !== "function") {
      throw new TypeError(`Task "${this.name}": ${method}() expects a function`);
    }
    return fn;
  }

  #url(method: string, url: string): string {
    if (typeof url !== "string" || !/^https?:\/\/\S+$/.test(url)) {
      throw new TypeError(`Task "${this.name}": ${method}() expects an http(s) URL`);
    }
    return url;
  }
}

/** Overwrites some fields (by index) of a task's cron expression. */
function setFields(definition: TaskDefinition, values: Record<number, string>): void {
  for (const [index, value] of Object.entries(values)) definition.fields[Number(index)] = value;
}
