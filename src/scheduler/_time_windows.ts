/**
 * The `between()` and `unlessBetween()` filters: whether an occurrence's local
 * time of day lets it run, and the next occurrences that do.
 *
 * @module
 */
import type { TaskDefinition, TimeWindow } from "./_definition.ts";
import { type CompiledPattern, localSecondsOfDay } from "./_patterns.ts";

/** How many occurrences `nextRunsInWindows()` examines when the windows filter most of them out. */
const MAX_FILTERED_SCAN = 10_000;

/**
 * Whether an occurrence passes every window of a task, read in the task's time
 * zone or else `timezone`.
 */
export function passesWindows(
  definition: TaskDefinition,
  scheduledAt: number,
  timezone: string,
): boolean {
  const windows = definition.windows;
  if (!windows) return true;
  const seconds = localSecondsOfDay(scheduledAt, definition.timezone ?? timezone);
  return windows.every((window) => inWindow(window, seconds) === window.inside);
}

/** Up to `count` occurrences after `from` that pass the task's windows. */
export function nextRunsInWindows(
  definition: TaskDefinition,
  pattern: CompiledPattern,
  timezone: string,
  from: number,
  count: number,
): Date[] {
  const runs: Date[] = [];
  let cursor: number | null = from;
  for (let scanned = 0; runs.length < count && scanned < MAX_FILTERED_SCAN; scanned++) {
    cursor = pattern.next(cursor);
    if (cursor === null) break;
    if (passesWindows(definition, cursor, timezone)) runs.push(new Date(cursor));
  }
  return runs;
}

function inWindow(window: TimeWindow, seconds: number): boolean {
  return window.start <= window.end
    ? seconds >= window.start && seconds <= window.end
    // The window spans midnight, such as 22:00 to 06:00.
    : seconds >= window.start || seconds <= window.end;
}
