/**
 * Compiled cron patterns, shared: every task with the same expression and
 * time zone uses one croner object, which is what keeps 10,000 tasks cheap
 * (croner builds a year table per pattern). No croner object here ever arms
 * a timer; the scheduler keeps the only one.
 *
 * @module
 */
import { Cron, CronDate } from "croner";

/** A cron expression compiled for one time zone. */
export class CompiledPattern {
  /** The expression, as croner reads it. */
  readonly expression: string;
  /** The IANA time zone it is read in. */
  readonly timezone: string;
  #cron: Cron;

  constructor(expression: string, timezone: string) {
    this.expression = expression;
    this.timezone = timezone;
    // No callback: croner arms no timer for a Cron without one.
    this.#cron = new Cron(expression, { timezone });
  }

  /** The first run strictly after `afterMs`, or `null` when there is none. */
  next(afterMs: number): number | null {
    return this.#cron.nextRun(new Date(afterMs))?.getTime() ?? null;
  }

  /** The latest run at or before `atMs`, or `null` when there is none. */
  latestAtOrBefore(atMs: number): number | null {
    // croner counts a run earlier in the same second as the reference as "previous",
    // so one millisecond more makes a run exactly at `atMs` count.
    return this.#cron.previousRuns(1, new Date(atMs + 1))[0]?.getTime() ?? null;
  }
}

/** Compiles each distinct (expression, time zone) once. */
export class PatternCache {
  #patterns = new Map<string, CompiledPattern>();
  #valid = new Set<string>();

  /**
   * The shared compiled pattern for an expression in a time zone.
   *
   * @throws {TypeError} When croner rejects the expression.
   */
  get(expression: string, timezone: string): CompiledPattern {
    const key = `${timezone} ${expression}`;
    let pattern = this.#patterns.get(key);
    if (!pattern) {
      pattern = new CompiledPattern(expression, timezone);
      this.#patterns.set(key, pattern);
    }
    return pattern;
  }

  /**
   * Checks an expression's syntax, remembering expressions already checked so
   * registering many tasks with one expression compiles it once.
   *
   * @returns croner's message when the expression is invalid, otherwise `undefined`.
   */
  check(expression: string): string | undefined {
    if (this.#valid.has(expression)) return undefined;
    try {
      new Cron(expression, { timezone: "UTC" });
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
    this.#valid.add(expression);
    return undefined;
  }

  /** Drops patterns no task uses any more. */
  retain(used: ReadonlySet<string>): void {
    for (const key of this.#patterns.keys()) if (!used.has(key)) this.#patterns.delete(key);
  }
}

const zoneChecks = new Map<string, boolean>();

/** Whether the runtime's `Intl` knows an IANA time zone. */
export function isTimezone(timezone: unknown): timezone is string {
  if (typeof timezone !== "string" || timezone.length === 0) return false;
  let known = zoneChecks.get(timezone);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: timezone });
      known = true;
    } catch {
      known = false;
    }
    zoneChecks.set(timezone, known);
  }
  return known;
}

/** Seconds since local midnight of an instant in a time zone (croner does the zone maths). */
export function localSecondsOfDay(atMs: number, timezone: string): number {
  const local = new CronDate(new Date(atMs), timezone);
  return local.hour * 3600 + local.minute * 60 + local.second;
}
