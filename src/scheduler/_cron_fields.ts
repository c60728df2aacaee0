/**
 * The cron expression a fluent schedule edits: six fields, seconds first (a
 * seventh, the year, only from `cron()`). Frequencies and day filters each set
 * some of the fields, so they combine.
 *
 * @module
 */

/** Field positions in a task's cron expression. */
export const SECOND = 0;
export const MINUTE = 1;
export const HOUR = 2;
export const DAY = 3;
export const MONTH = 4;
export const WEEKDAY = 5;

/** A new task's schedule: every minute, on the minute. */
export const EVERY_MINUTE: readonly string[] = ["0", "*", "*", "*", "*", "*"];

/** Nicknames croner accepts, spelled out so filters such as `weekdays()` can refine them. */
const NICKNAMES: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/**
 * Splits a cron expression into fields, spelling out a nickname and giving a
 * 5-field expression its seconds. The count is not checked: the caller
 * reports a wrong one.
 */
export function cronFields(expression: unknown): string[] {
  const text = typeof expression === "string" ? expression.trim() : "";
  const spelled = NICKNAMES[text.toLowerCase()] ?? text;
  const fields = spelled.split(/\s+/);
  if (fields.length === 5) fields.unshift("0");
  return fields;
}
