/**
 * The `Deno.cron` adapter: one Deno cron job (on Deno Deploy, or locally with
 * `--unstable-cron`) that ticks the scheduler.
 *
 * @module
 */
import { CompiledPattern } from "./_patterns.ts";
import type { Scheduler } from "./scheduler.ts";
import { type Clock, systemClock } from "../clock.ts";

/** The signature of `Deno.cron(name, schedule, handler)`. */
export type DenoCronFunction = (
  name: string,
  schedule: string,
  handler: () => Promise<void>,
) => Promise<void>;

/** Options for {@linkcode denoCron}. */
export interface DenoCronOptions {
  /**
   * The Deno cron job's name (unique per Deploy project).
   * @default "kiln-scheduler"
   */
  name?: string;
  /**
   * The Deno cron schedule: five fields, in UTC. Set the scheduler's `window`
   * to its interval.
   * @default "* * * * *"
   */
  schedule?: string;
  /**
   * The cron function to register with; tests inject one.
   * @default Deno.cron, when the runtime has it
   */
  cron?: DenoCronFunction;
  /**
   * Where a delivery reads the time to find its tick; tests inject one.
   * @default systemClock
   */
  clock?: Clock;
}

/**
 * Registers a `Deno.cron` job that runs the scheduler's due tasks on every
 * tick. `Deno.cron` does not pass the tick's time, so the adapter uses the
 * schedule's latest occurrence at the moment the handler runs: a late or
 * repeated delivery maps to the same occurrence, which runs once.
 *
 * @param scheduler The scheduler to tick.
 * @param options The cron job's name and schedule.
 * @returns What `Deno.cron` returns (a promise that settles when the job is closed).
 * @throws {TypeError} When `Deno.cron` is not available (run with `--unstable-cron`
 * or on Deno Deploy) or the schedule is not a five-field cron expression.
 *
 * @example On Deno Deploy (here with a stand-in for `Deno.cron`)
 * ```ts
 * import { denoCron, type DenoCronFunction, Scheduler, systemClock } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * const scheduler = new Scheduler();
 * const runs: string[] = [];
 * scheduler.call("cleanup", ({ scheduledAt }) => void runs.push(scheduledAt.toISOString()))
 *   .everyFiveMinutes();
 * // On Deploy: denoCron(scheduler); Deno.cron delivers each minute's tick.
 * let tick: () => Promise<void> = () => Promise.resolve();
 * const cron: DenoCronFunction = (_name, _schedule, handler) => {
 *   tick = handler;
 *   return Promise.resolve();
 * };
 * const clock = { ...systemClock, now: () => Date.parse("2025-06-02T12:05:00.400Z") };
 * await denoCron(scheduler, { cron, clock });
 * await tick();
 * assert.deepEqual(runs, ["2025-06-02T12:05:00.000Z"]);
 * ```
 */
export function denoCron(scheduler: Scheduler, options: DenoCronOptions = {}): Promise<void> {
  const name = options.name ?? "kiln-scheduler";
  const schedule = options.schedule ?? "* * * * *";
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== "function") {
    throw new TypeError("denoCron clock must have a now() method");
  }
  // Feature-detected at call time, never imported: this module loads on every runtime.
  const cron = options.cron ??
    (globalThis as { Deno?: { cron?: DenoCronFunction } }).Deno?.cron?.bind(
      (globalThis as { Deno?: object }).Deno,
    );
  if (typeof cron !== "function") {
    throw new TypeError(
      "Deno.cron is not available: run on Deno Deploy or with --unstable-cron, or pass options.cron",
    );
  }
  if (typeof schedule !== "string" || schedule.trim().split(/\s+/).length !== 5) {
    throw new TypeError(`Deno.cron schedules have five fields, got ${JSON.stringify(schedule)}`);
  }
  let ticks: CompiledPattern;
  try {
    ticks = new CompiledPattern(`0 ${schedule.trim()}`, "UTC");
  } catch (error) {
    throw new TypeError(`Invalid Deno.cron schedule ${JSON.stringify(schedule)}`, { cause: error });
  }
  return cron(name, schedule, async () => {
    const now = clock.now();
    const tick = ticks.latestAtOrBefore(now) ?? now;
    await scheduler.runDue(new Date(tick));
  });
}
