/**
 * A schedule in words, for an operator's list of tasks: "daily at 08:00,
 * Europe/Berlin", "every 10 seconds", "weekdays at 09:30, UTC".
 *
 * Written here rather than taken from cronstrue: the words are the fluent
 * builder's (`dailyAt`, `weekdays`, `everyTenSeconds`, `between`), which
 * cronstrue does not use ("At 08:00 AM, Monday through Friday"), and the
 * builder's `between()` windows and time zone are not in the cron text at all.
 * An expression outside the builder's vocabulary reads as `cron <expression>`.
 *
 * @module
 */
import { DAY, HOUR, MINUTE, MONTH, SECOND, WEEKDAY } from "./_cron_fields.ts";
import type { TimeWindow } from "./_definition.ts";
import { localSecondsOfDay } from "./_patterns.ts";

/** Half a year: a zone's offset is read at the reference time and half a year on, across DST. */
const HALF_YEAR_MS = 182 * 86_400_000;

const WEEKDAY_NAMES = [
  "Sunday",
  "Monday",
  "Tuesday",
  "Wednesday",
  "Thursday",
  "Friday",
  "Saturday",
];
const MONTH_NAMES = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/**
 * Describes a task's schedule.
 *
 * @param fields The cron fields, seconds first (a seventh, the year, reads as cron).
 * @param timezone The time zone the schedule is read in.
 * @param windows The task's `between()` and `unlessBetween()` windows.
 * @param at When the zone's offsets are read (they change with daylight saving). @default now
 */
export function describeSchedule(
  fields: readonly string[],
  timezone: string,
  windows: readonly TimeWindow[] = [],
  at: number = Date.now(),
): string {
  const words = fields.length === 6 ? inWords(fields) : undefined;
  if (words === undefined) return `cron ${fields.join(" ")}, ${timezone}`;
  const limits = windows.map((window) =>
    `${window.inside ? "between" : "except between"} ${clock(window.start)} and ${
      clock(window.end)
    }`
  );
  // Local time matters once an hour, a day or a window is fixed ("every 10 seconds" has
  // none), and for the minutes when the zone's offset shifts them: on the hour in
  // Asia/Kolkata (+05:30) is half past in UTC.
  const local = fields[HOUR] !== "*" || fields[DAY] !== "*" || fields[MONTH] !== "*" ||
    fields[WEEKDAY] !== "*" || windows.length > 0 ||
    shiftsMinutes(fields[MINUTE], timezone, at);
  return [words, ...limits, ...(local ? [timezone] : [])].join(", ");
}

/**
 * Whether the zone's offset, now or half a year on, moves the runs of a
 * minute field off the instants it names in UTC: a fixed minute moves with
 * an offset that is not whole hours, every n minutes with one that is not a
 * multiple of n.
 */
function shiftsMinutes(minute: string, timezone: string, at: number): boolean {
  const period = isNumber(minute) ? 60 : stepOf(minute, 60);
  if (period === undefined || period === 1) return false;
  return [at, at + HALF_YEAR_MS].some((instant) => {
    const utc = Math.floor(instant / 1000) % 86_400;
    // Within a day, as a day's minutes are a multiple of every period that divides 60.
    const offsetMinutes = Math.round((localSecondsOfDay(instant, timezone) - utc) / 60);
    return ((offsetMinutes % period) + period) % period !== 0;
  });
}

/** The schedule without its windows and zone, or `undefined` outside the vocabulary. */
function inWords(fields: readonly string[]): string | undefined {
  const [second, minute, hour] = [fields[SECOND], fields[MINUTE], fields[HOUR]];
  const days = dayWords(fields[DAY], fields[MONTH], fields[WEEKDAY]);
  if (days === undefined) return undefined;
  const hours = numbers(hour, 23);
  if (hours !== undefined && isNumber(minute) && isNumber(second)) {
    const times = hours.map((h) => time(h, number(minute)!, number(second)!));
    return `${days.at ?? "daily"} at ${list(times)}`;
  }
  const frequency = frequencyWords(second, minute, hour);
  if (frequency === undefined) return undefined;
  return days.on === undefined ? frequency : `${frequency} ${days.on}`;
}

/** "every 10 seconds", "every minute", "every hour at :15", "every 2 hours". */
function frequencyWords(second: string, minute: string, hour: string): string | undefined {
  if (hour === "*" && minute === "*") {
    if (second === "*") return "every second";
    if (isNumber(second)) {
      return second === "0" ? "every minute" : `every minute at second ${second}`;
    }
    const step = stepOf(second, 60);
    return step === undefined ? undefined : every(step, "second");
  }
  if (!isNumber(second)) return undefined;
  const past = (m: string, s: string) =>
    m === "0" && s === "0" ? "" : ` at :${pad(m)}${s === "0" ? "" : `:${pad(s)}`}`;
  if (hour === "*") {
    if (isNumber(minute)) return `every hour${past(minute, second)}`;
    const step = stepOf(minute, 60);
    return step === undefined || second !== "0" ? undefined : every(step, "minute");
  }
  const step = stepOf(hour, 24);
  if (step === undefined || !isNumber(minute)) return undefined;
  return `${every(step, "hour")}${past(minute, second)}`;
}

/**
 * The day filter, as a prefix for a time ("weekdays" at 09:30) and as a suffix
 * for a frequency (every 5 minutes "on weekdays"); `undefined` outside the vocabulary.
 */
function dayWords(
  day: string,
  month: string,
  weekday: string,
): { at?: string; on?: string } | undefined {
  if (day === "*" && month === "*") {
    if (weekday === "*") return {};
    // 7 is Sunday too, as in croner and Vixie cron.
    const set = weekday === "1-5" ? [1, 2, 3, 4, 5] : numbers(weekday.replace(/\b7\b/g, "0"), 6);
    if (set === undefined) return undefined;
    if (set.join() === "1,2,3,4,5") return { at: "weekdays", on: "on weekdays" };
    if (set.join() === "0,6") return { at: "weekends", on: "on weekends" };
    const names = set.map((d) => WEEKDAY_NAMES[d]);
    if (names.length === 1) return { at: `weekly on ${names[0]}`, on: `on ${names[0]}s` };
    return { at: list(names), on: `on ${list(names)}` };
  }
  if (weekday !== "*") return undefined;
  const date = day === "L" ? "the last day" : ordinal(day);
  if (date === undefined) return undefined;
  if (month === "*") return { at: `monthly on ${date}`, on: `on ${date} of the month` };
  if (month === "1,4,7,10") return { at: `quarterly on ${date}`, on: `on ${date} of each quarter` };
  const name = MONTH_NAMES[(number(month) ?? 0) - 1];
  if (name === undefined || day === "L") return undefined;
  return { at: `yearly on ${name} ${day}`, on: `on ${name} ${day}` };
}

/** `*\/n` (or `*`, n = 1) when n divides `cycle`, so the steps are even. */
function stepOf(field: string, cycle: number): number | undefined {
  if (field === "*") return 1;
  const match = /^\*\/(\d+)$/.exec(field);
  const step = match ? Number(match[1]) : NaN;
  return step > 0 && cycle % step === 0 ? step : undefined;
}

function every(step: number, unit: string): string {
  return step === 1 ? `every ${unit}` : `every ${step} ${unit}s`;
}

function ordinal(day: string): string | undefined {
  const n = number(day);
  if (n === undefined || n < 1 || n > 31) return undefined;
  const suffix = n % 10 === 1 && n !== 11
    ? "st"
    : n % 10 === 2 && n !== 12
    ? "nd"
    : n % 10 === 3 && n !== 13
    ? "rd"
    : "th";
  return `the ${n}${suffix}`;
}

function time(hour: number, minute: number, second: number): string {
  return `${pad(hour)}:${pad(minute)}${second === 0 ? "" : `:${pad(second)}`}`;
}

/** Seconds of the day as "HH:MM" (":SS" when not whole minutes). */
function clock(seconds: number): string {
  return time(Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60);
}

function list(items: readonly string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** A list of numbers up to `max`, sorted and without repeats, or `undefined` for anything else. */
function numbers(field: string, max: number): number[] | undefined {
  const values = field.split(",").map(number);
  if (values.some((value) => value === undefined || value > max)) return undefined;
  return [...new Set(values as number[])].sort((a, b) => a - b);
}

function isNumber(field: string): boolean {
  return number(field) !== undefined;
}

function number(field: string): number | undefined {
  return /^\d{1,2}$/.test(field) ? Number(field) : undefined;
}

function pad(value: number | string): string {
  return String(value).padStart(2, "0");
}
