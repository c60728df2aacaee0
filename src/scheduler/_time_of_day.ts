/**
 * Parses the human parts of fluent schedules: times of day ("08:30") and
 * weekdays ("mon", 1), with messages that name the task.
 *
 * @module
 */

/** A wall-clock time of day. */
export interface TimeOfDay {
  hour: number;
  minute: number;
  second: number;
}

const TIME = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/;

/**
 * Parses "H:MM", "HH:MM" or "HH:MM:SS".
 *
 * @throws {RangeError} When the text is not a time that exists on a 24-hour clock.
 */
export function parseTimeOfDay(task: string, method: string, text: unknown): TimeOfDay {
  const match = typeof text === "string" ? TIME.exec(text) : null;
  const hour = Number(match?.[1]);
  const minute = Number(match?.[2]);
  const second = Number(match?.[3] ?? 0);
  if (!match || hour > 23 || minute > 59 || second > 59) {
    throw new RangeError(
      `Task "${task}": ${method}() expects a time of day as "HH:MM", got ${JSON.stringify(text)}`,
    );
  }
  return { hour, minute, second };
}

/** Seconds since midnight of a time of day. */
export function secondsOfDay(time: TimeOfDay): number {
  return time.hour * 3600 + time.minute * 60 + time.second;
}

const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/** A day of the week: 0 (Sunday) to 6 (Saturday), or its English name or three-letter abbreviation. */
export type Weekday =
  | 0
  | 1
  | 2
  | 3
  | 4
  | 5
  | 6
  | "sun"
  | "mon"
  | "tue"
  | "wed"
  | "thu"
  | "fri"
  | "sat"
  | "sunday"
  | "monday"
  | "tuesday"
  | "wednesday"
  | "thursday"
  | "friday"
  | "saturday";

/**
 * Turns a weekday into cron's number, 0 (Sunday) to 6.
 *
 * @throws {RangeError} When the value names no weekday.
 */
export function parseWeekday(task: string, method: string, day: unknown): number {
  if (typeof day === "number" && Number.isInteger(day) && day >= 0 && day <= 6) return day;
  if (typeof day === "string") {
    const lower = day.toLowerCase();
    const short = DAY_NAMES.indexOf(lower);
    const index = short >= 0 ? short : FULL_NAMES.indexOf(lower);
    if (index >= 0) return index;
  }
  throw new RangeError(
    `Task "${task}": ${method}() expects a weekday (0-6 or a name such as "mon"), got ${
      JSON.stringify(day)
    }`,
  );
}

const FULL_NAMES = [
  "sunday",
  "monday",
  "tuesday",
  "wednesday",
  "thursday",
  "friday",
  "saturday",
];

/**
 * Checks an integer argument's range.
 *
 * @throws {RangeError} When `value` is not an integer in `[min, max]`.
 */
export function assertInteger(
  task: string,
  method: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Task "${task}": ${method}() expects an integer from ${min} to ${max}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}
