/**
 * Kiln's scheduler: cron and fluent schedules with time zones, overlap
 * prevention, one-server runs, retries, timeouts and run history, run by one
 * timer in a long-running process or by a platform tick (Cloudflare cron
 * triggers, `Deno.cron`).
 *
 * @example Scheduling tasks in a long-running process
 * ```ts
 * import { Scheduler } from "@kiln/core/scheduler";
 * import assert from "node:assert/strict";
 *
 * const scheduler = new Scheduler({ timezone: "Europe/Berlin" });
 * scheduler.call("cleanup-logs", () => {}).cron("0 0 * * *");
 * scheduler.call("sync", () => {}).everyFiveMinutes().withoutOverlapping();
 * scheduler.call("backup", () => {}).dailyAt("02:00").onOneServer().retry(2);
 * await scheduler.start();
 * const from = new Date("2025-06-02T12:00:00Z"); // 14:00 in Berlin
 * const [, , backup] = await scheduler.list({ from, count: 1 });
 * assert.equal(backup.nextRuns[0].toISOString(), "2025-06-03T00:00:00.000Z"); // 02:00 Berlin
 * await scheduler.stop();
 * ```
 *
 * @module
 */
export { Scheduler } from "./scheduler.ts";
// Both files hold only public shapes: what the Scheduler takes and answers, and
// what a task's handler, conditions and hooks receive.
export type * from "./scheduler_options.ts";
export type * from "./types.ts";
export { ScheduledTask } from "./task.ts";
export type { Weekday } from "./_time_of_day.ts";
export type { RetryBackoff } from "./_definition.ts";
export { type Clock, systemClock } from "../clock.ts";
export { MemoryMutex, type MemoryMutexOptions, type SchedulerMutex } from "./mutex.ts";
export type { TaskPauses } from "./pauses.ts";
export {
  MemoryHistory,
  type MemoryHistoryOptions,
  type SchedulerHistory,
  type TaskRunRecord,
} from "./history.ts";
export { RedisMutex, type RedisMutexOptions } from "./redis_mutex.ts";
export { RedisHistory, type RedisHistoryOptions } from "./redis_history.ts";
export {
  cloudflareScheduled,
  type ExecutionContextLike,
  type ScheduledControllerLike,
  type SchedulerSource,
} from "./cloudflare.ts";
export { denoCron, type DenoCronFunction, type DenoCronOptions } from "./deno_cron.ts";
