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

Deno.test("tasks() names the time zone of a minute-level schedule whose runs it shifts (offsets of :30 or :45)", async () => {
  const cases: [string, string, (task: ScheduledTask) => unknown, string][] = [
    // +05:30: on the hour in Kolkata is half past in UTC, and every 20 minutes starts at :10.
    ["Asia/Kolkata", "hourly", (t) => t.hourly(), "every hour, Asia/Kolkata"],
    ["Asia/Kolkata", "hourly at :15", (t) => t.hourlyAt(15), "every hour at :15, Asia/Kolkata"],
    [
      "Asia/Kolkata",
      "every 20 minutes",
      (t) => t.cron("*/20 * * * *"),
      "every 20 minutes, Asia/Kolkata",
    ],
    // Every 5 or 30 minutes in Kolkata are the same instants as in UTC: no zone to name.
    ["Asia/Kolkata", "every 5 minutes", (t) => t.everyFiveMinutes(), "every 5 minutes"],
    ["Asia/Kolkata", "every 30 minutes", (t) => t.everyThirtyMinutes(), "every 30 minutes"],
    ["Asia/Kolkata", "every 10 seconds", (t) => t.everyTenSeconds(), "every 10 seconds"],
    // +05:45.
    [
      "Asia/Kathmandu",
      "every 30 minutes",
      (t) => t.everyThirtyMinutes(),
      "every 30 minutes, Asia/Kathmandu",
    ],
    ["Asia/Kathmandu", "every 15 minutes", (t) => t.everyFifteenMinutes(), "every 15 minutes"],
    // +11:00 in January but +10:30 in July (a half-hour daylight saving shift).
    ["Australia/Lord_Howe", "hourly", (t) => t.hourly(), "every hour, Australia/Lord_Howe"],
    ["Europe/Berlin", "hourly", (t) => t.hourly(), "every hour"],
  ];
  const scheduler = new Scheduler();
  for (const [zone, name, build] of cases) {
    build(scheduler.call(`${zone} ${name}`, () => {}).timezone(zone));
  }
  const statuses = await scheduler.tasks({
    from: new Date("2025-01-15T00:00:00Z"),
    count: 0,
    history: 0,
  });
  assert.deepEqual(
    statuses.map((status) => [status.name, status.schedule]),
    cases.map(([zone, name, , expected]) => [`${zone} ${name}`, expected]),
  );
});

Deno.test("tasks() reads hours and weekdays in order, once, whatever order the expression lists them", async () => {
  const cases: [string, (task: ScheduledTask) => unknown, string][] = [
    ["twice daily, later hour first", (t) => t.twiceDaily(13, 1), "daily at 01:00 and 13:00, UTC"],
    ["twice daily, one hour twice", (t) => t.twiceDaily(8, 8), "daily at 08:00, UTC"],
    ["weekdays listed", (t) => t.cron("0 8 * * 1,2,3,4,5"), "weekdays at 08:00, UTC"],
    ["weekends listed backwards", (t) => t.cron("0 8 * * 6,0"), "weekends at 08:00, UTC"],
    ["Sunday as 7", (t) => t.cron("0 8 * * 7"), "weekly on Sunday at 08:00, UTC"],
    [
      "days out of order",
      (t) => t.cron("0 8 * * 5,1,3"),
      "Monday, Wednesday and Friday at 08:00, UTC",
    ],
  ];
  const scheduler = new Scheduler();
  for (const [name, build] of cases) build(scheduler.call(name, () => {}));
  const statuses = await scheduler.tasks({ count: 0, history: 0 });
  assert.deepEqual(
    statuses.map((status) => [status.name, status.schedule]),
    cases.map(([name, , expected]) => [name, expected]),
  );
});
