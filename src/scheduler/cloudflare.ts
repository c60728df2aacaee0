/**
 * The Cloudflare Workers adapter: a `scheduled(controller, env, ctx)` handler
 * that runs the scheduler's due tasks on each cron trigger.
 *
 * @module
 */
import { Scheduler } from "./scheduler.ts";

/** The parts of Cloudflare's `ScheduledController` the handler reads. */
export interface ScheduledControllerLike {
  /** The trigger's scheduled time, epoch milliseconds. */
  readonly scheduledTime: number;
  /** The cron trigger that fired. */
  readonly cron?: string;
}

/** The parts of Cloudflare's `ExecutionContext` the handler uses. */
export interface ExecutionContextLike {
  /** Keeps the Worker alive until the promise settles. */
  waitUntil(promise: Promise<unknown>): void;
}

/** The scheduler to tick: one instance, or a factory given the Worker's `env`. */
export type SchedulerSource<Env> = Scheduler | ((env: Env) => Scheduler | Promise<Scheduler>);

/**
 * Creates a Workers `scheduled` handler. Each cron trigger runs the tasks due
 * at `controller.scheduledTime` (within the scheduler's `window`, which
 * should match the trigger's interval), kept alive with `ctx.waitUntil`.
 * Cloudflare may deliver a trigger twice: give the scheduler a `RedisMutex`
 * and mark tasks `onOneServer()` so each occurrence runs once across isolates.
 *
 * @param source The scheduler, or a function building it from `env` (called once per env).
 * @returns The handler, for `export default { scheduled }`.
 * @throws {TypeError} When `source` is neither a Scheduler nor a function.
 *
 * @example A Worker with a cron trigger of "* * * * *"
 * ```ts
 * import { cloudflareScheduled, Scheduler } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * const scheduler = new Scheduler();
 * const runs: string[] = [];
 * scheduler.call("cleanup", ({ scheduledAt }) => void runs.push(scheduledAt.toISOString()))
 *   .everyFiveMinutes();
 * const worker = { scheduled: cloudflareScheduled(scheduler) }; // export default worker;
 *
 * // What Cloudflare does at 12:05 UTC:
 * const pending: Promise<unknown>[] = [];
 * await worker.scheduled(
 *   { scheduledTime: Date.parse("2025-06-02T12:05:00Z"), cron: "* * * * *" },
 *   {},
 *   { waitUntil: (promise) => void pending.push(promise) },
 * );
 * await Promise.all(pending);
 * assert.deepEqual(runs, ["2025-06-02T12:05:00.000Z"]);
 * ```
 */
export function cloudflareScheduled<Env = unknown>(
  source: SchedulerSource<Env>,
): (controller: ScheduledControllerLike, env: Env, ctx: ExecutionContextLike) => Promise<void> {
  if (!(source instanceof Scheduler) && typeof source !== "function") {
    throw new TypeError("cloudflareScheduled() expects a Scheduler or a function returning one");
  }
  const built = new WeakMap<object, Promise<Scheduler>>();
  const resolve = (env: Env): Promise<Scheduler> => {
    if (source instanceof Scheduler) return Promise.resolve(source);
    // One scheduler per env object, so an isolate keeps its per-instance de-duplication.
    const key = typeof env === "object" && env !== null ? env : resolve;
    let scheduler = built.get(key);
    if (!scheduler) built.set(key, scheduler = Promise.resolve().then(() => source(env)));
    return scheduler;
  };
  return async function scheduled(controller, env, ctx) {
    const scheduledTime = controller?.scheduledTime;
    if (typeof scheduledTime !== "number" || !Number.isFinite(scheduledTime)) {
      throw new TypeError("scheduled(): controller.scheduledTime must be epoch milliseconds");
    }
    const work = resolve(env).then((scheduler) => scheduler.runDue(new Date(scheduledTime)));
    ctx.waitUntil(work);
    await work;
  };
}
