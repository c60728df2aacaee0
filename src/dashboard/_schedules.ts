/**
 * The schedules as the page and `GET /api/schedules` show them: what
 * `scheduler.list()` and `history()` answer, plus the paused flag and the
 * human-readable schedule where the scheduler's `tasks()` gives them.
 *
 * @module
 */
import type { TaskRunRecord } from "../scheduler/mod.ts";
import type { DashboardScheduler } from "./sources.ts";

/** Runs of history shown per task. */
const HISTORY = 10;

/** One task as shown. */
export interface ScheduleView {
  /** The task's name. */
  name: string;
  /** Its description, if any. */
  description?: string;
  /** The schedule in words when the scheduler says it, else the cron expression. */
  schedule: string;
  /** The cron expression, seconds first. */
  expression: string;
  /** The time zone it is read in. */
  timezone: string;
  /** The next run, epoch milliseconds, or `null` when none is due. */
  nextRun: number | null;
  /** Whether it is paused (`false` when the scheduler cannot pause). */
  paused: boolean;
  /** The newest run. */
  lastRun?: TaskRunRecord;
  /** Recent runs, newest first. */
  history: TaskRunRecord[];
}

/** Reads every task. */
export async function readSchedules(scheduler: DashboardScheduler): Promise<ScheduleView[]> {
  const [tasks, extra] = await Promise.all([
    scheduler.list({ count: 1 }),
    scheduler.tasks ? scheduler.tasks() : Promise.resolve([]),
  ]);
  const byName = new Map<string, Record<string, unknown>>();
  for (const entry of extra) {
    const task = entry as Record<string, unknown>;
    if (typeof task.name === "string") byName.set(task.name, task);
  }
  return await Promise.all(tasks.map(async (task) => {
    const more = byName.get(task.name) ?? {};
    const view: ScheduleView = {
      name: task.name,
      schedule: humanOf(more) ?? task.expression,
      expression: task.expression,
      timezone: task.timezone,
      nextRun: task.nextRuns[0]?.getTime() ?? null,
      paused: more.paused === true,
      history: await scheduler.history(task.name, HISTORY),
    };
    if (task.description !== undefined) view.description = task.description;
    if (task.lastRun !== undefined) view.lastRun = task.lastRun;
    return view;
  }));
}

/** The human form from a `tasks()` entry: `schedule` as text, or `schedule.human`, or `human`. */
function humanOf(task: Record<string, unknown>): string | undefined {
  const schedule = task.schedule as { human?: unknown } | string | undefined;
  if (typeof schedule === "string") return schedule;
  if (typeof schedule?.human === "string") return schedule.human;
  return typeof task.human === "string" ? task.human : undefined;
}
