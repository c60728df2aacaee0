/**
 * tasks() shows each schedule in the builder's own words, with its windows and
 * the time zone wherever local time matters.
 */
import assert from "node:assert/strict";
import { type ScheduledTask, Scheduler } from "../../src/scheduler/mod.ts";

const CASES: [string, (task: ScheduledTask) => unknown, string][] = [
  ["every second", (t) => t.everySecond(), "every second"],
  ["every ten seconds", (t) => t.everyTenSeconds(), "every 10 seconds"],
  ["every minute (the default)", () => {}, "every minute"],
  ["every five minutes", (t) => t.everyFiveMinutes(), "every 5 minutes"],
  ["every thirty minutes", (t) => t.everyThirtyMinutes(), "every 30 minutes"],
  ["hourly", (t) => t.hourly(), "every hour"],
  ["hourly at :15", (t) => t.hourlyAt(15), "every hour at :15"],
  ["every six hours", (t) => t.everySixHours(), "every 6 hours, Europe/Berlin"],
  ["daily", (t) => t.daily(), "daily at 00:00, Europe/Berlin"],
  ["daily at 08:00", (t) => t.dailyAt("08:00"), "daily at 08:00, Europe/Berlin"],
  ["daily at a second", (t) => t.dailyAt("08:00:30"), "daily at 08:00:30, Europe/Berlin"],
  ["twice daily", (t) => t.twiceDaily(1, 13), "daily at 01:00 and 13:00, Europe/Berlin"],
  ["weekdays", (t) => t.dailyAt("09:30").weekdays(), "weekdays at 09:30, Europe/Berlin"],
  ["weekends", (t) => t.dailyAt("10:00").weekends(), "weekends at 10:00, Europe/Berlin"],
  ["weekly", (t) => t.weekly(), "weekly on Sunday at 00:00, Europe/Berlin"],
  [
    "weekly on Monday",
    (t) => t.weeklyOn("mon", "08:00"),
    "weekly on Monday at 08:00, Europe/Berlin",
  ],
  [
    "some days",
    (t) => t.dailyAt("07:00").days(["fri", "mon", "wed"]),
    "Monday, Wednesday and Friday at 07:00, Europe/Berlin",
  ],
  ["monthly", (t) => t.monthly(), "monthly on the 1st at 00:00, Europe/Berlin"],
  [
    "monthly on the 22nd",
    (t) => t.monthlyOn(22, "06:00"),
    "monthly on the 22nd at 06:00, Europe/Berlin",
  ],
  [
    "the last day of the month",
    (t) => t.lastDayOfMonth("23:00"),
    "monthly on the last day at 23:00, Europe/Berlin",
  ],
  ["quarterly", (t) => t.quarterly(), "quarterly on the 1st at 00:00, Europe/Berlin"],
  ["yearly", (t) => t.yearly(), "yearly on January 1 at 00:00, Europe/Berlin"],
  [
    "a frequency on weekdays",
    (t) => t.everyFifteenMinutes().weekdays(),
    "every 15 minutes on weekdays, Europe/Berlin",
  ],
  [
    "a frequency between two times",
    (t) => t.everyFiveMinutes().between("09:00", "17:00"),
    "every 5 minutes, between 09:00 and 17:00, Europe/Berlin",
  ],
  [
    "a frequency outside a window",
    (t) => t.everyMinute().unlessBetween("23:00", "04:00"),
    "every minute, except between 23:00 and 04:00, Europe/Berlin",
  ],
  [
    "the task's own time zone",
    (t) => t.dailyAt("08:00").timezone("America/New_York"),
    "daily at 08:00, America/New_York",
  ],
  ["a 5-field cron", (t) => t.cron("30 4 * * *"), "daily at 04:30, Europe/Berlin"],
  ["a nickname", (t) => t.cron("@weekly"), "weekly on Sunday at 00:00, Europe/Berlin"],
  // Outside the builder's words, the expression itself, never a wrong sentence.
  ["uneven steps", (t) => t.cron("*/7 * * * *"), "cron 0 */7 * * * *, Europe/Berlin"],
  ["a range of hours", (t) => t.cron("0 9-17 * * *"), "cron 0 0 9-17 * * *, Europe/Berlin"],
  ["the nth weekday", (t) => t.cron("0 8 * * 1#1"), "cron 0 0 8 * * 1#1, Europe/Berlin"],
  ["a year", (t) => t.cron("0 0 0 1 1 * 2030"), "cron 0 0 0 1 1 * 2030, Europe/Berlin"],
];

Deno.test("tasks() describes each schedule in the builder's words", async () => {
  const scheduler = new Scheduler({ timezone: "Europe/Berlin" });
  for (const [name, build] of CASES) build(scheduler.call(name, () => {}));
  const statuses = await scheduler.tasks({ count: 0, history: 0 });
  assert.deepEqual(
    statuses.map((status) => [status.name, status.schedule]),
    CASES.map(([name, , expected]) => [name, expected]),
  );
});
