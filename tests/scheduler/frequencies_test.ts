import assert from "node:assert/strict";
import { type ScheduledTask, Scheduler } from "../../src/scheduler/mod.ts";

const FROM = "2025-01-01T10:17:30Z"; // a Wednesday

/** The next `count` runs after `from` of one task, as ISO strings. */
async function nextRuns(
  build: (task: ScheduledTask) => unknown,
  from = FROM,
  count = 3,
  timezone = "UTC",
): Promise<string[]> {
  const scheduler = new Scheduler({ timezone });
  build(scheduler.call("task", () => {}));
  const [info] = await scheduler.list({ from: new Date(from), count });
  return info.nextRuns.map((date) => date.toISOString().replace(".000", ""));
}

const cases: [string, (task: ScheduledTask) => unknown, string[]][] = [
  ["everySecond", (t) => t.everySecond(), ["10:17:31", "10:17:32", "10:17:33"]],
  ["everyTwoSeconds", (t) => t.everyTwoSeconds(), ["10:17:32", "10:17:34", "10:17:36"]],
  ["everyFiveSeconds", (t) => t.everyFiveSeconds(), ["10:17:35", "10:17:40", "10:17:45"]],
  ["everyTenSeconds", (t) => t.everyTenSeconds(), ["10:17:40", "10:17:50", "10:18:00"]],
  ["everyFifteenSeconds", (t) => t.everyFifteenSeconds(), ["10:17:45", "10:18:00", "10:18:15"]],
  ["everyTwentySeconds", (t) => t.everyTwentySeconds(), ["10:17:40", "10:18:00", "10:18:20"]],
  ["everyThirtySeconds", (t) => t.everyThirtySeconds(), ["10:18:00", "10:18:30", "10:19:00"]],
  ["everyMinute", (t) => t.everyMinute(), ["10:18:00", "10:19:00", "10:20:00"]],
  ["the default schedule", () => {}, ["10:18:00", "10:19:00", "10:20:00"]],
  ["everyTwoMinutes", (t) => t.everyTwoMinutes(), ["10:18:00", "10:20:00", "10:22:00"]],
  ["everyThreeMinutes", (t) => t.everyThreeMinutes(), ["10:18:00", "10:21:00", "10:24:00"]],
  ["everyFourMinutes", (t) => t.everyFourMinutes(), ["10:20:00", "10:24:00", "10:28:00"]],
  ["everyFiveMinutes", (t) => t.everyFiveMinutes(), ["10:20:00", "10:25:00", "10:30:00"]],
  ["everyTenMinutes", (t) => t.everyTenMinutes(), ["10:20:00", "10:30:00", "10:40:00"]],
  ["everyFifteenMinutes", (t) => t.everyFifteenMinutes(), ["10:30:00", "10:45:00", "11:00:00"]],
  ["everyThirtyMinutes", (t) => t.everyThirtyMinutes(), ["10:30:00", "11:00:00", "11:30:00"]],
  ["hourly", (t) => t.hourly(), ["11:00:00", "12:00:00", "13:00:00"]],
  ["hourlyAt(17)", (t) => t.hourlyAt(17), ["11:17:00", "12:17:00", "13:17:00"]],
  ["everyTwoHours", (t) => t.everyTwoHours(), ["12:00:00", "14:00:00", "16:00:00"]],
  ["everyThreeHours", (t) => t.everyThreeHours(), ["12:00:00", "15:00:00", "18:00:00"]],
  ["everyFourHours", (t) => t.everyFourHours(), ["12:00:00", "16:00:00", "20:00:00"]],
  ["everySixHours", (t) => t.everySixHours(), ["12:00:00", "18:00:00", "01-02T00:00:00"]],
  ["daily", (t) => t.daily(), ["01-02T00:00:00", "01-03T00:00:00", "01-04T00:00:00"]],
  ["dailyAt", (t) => t.dailyAt("13:05"), ["13:05:00", "01-02T13:05:00", "01-03T13:05:00"]],
  ["dailyAt with seconds", (t) => t.dailyAt("9:00:15"), [
    "01-02T09:00:15",
    "01-03T09:00:15",
    "01-04T09:00:15",
  ]],
  ["twiceDaily", (t) => t.twiceDaily(), ["13:00:00", "01-02T01:00:00", "01-02T13:00:00"]],
  ["twiceDaily(8, 20)", (t) => t.twiceDaily(8, 20), [
    "20:00:00",
    "01-02T08:00:00",
    "01-02T20:00:00",
  ]],
  ["weekly", (t) => t.weekly(), ["01-05T00:00:00", "01-12T00:00:00", "01-19T00:00:00"]],
  ["weeklyOn by name", (t) => t.weeklyOn("mon", "08:00"), [
    "01-06T08:00:00",
    "01-13T08:00:00",
    "01-20T08:00:00",
  ]],
  ["weeklyOn by number", (t) => t.weeklyOn(5, "17:30"), [
    "01-03T17:30:00",
    "01-10T17:30:00",
    "01-17T17:30:00",
  ]],
  ["monthly", (t) => t.monthly(), ["02-01T00:00:00", "03-01T00:00:00", "04-01T00:00:00"]],
  ["monthlyOn", (t) => t.monthlyOn(15, "09:00"), [
    "01-15T09:00:00",
    "02-15T09:00:00",
    "03-15T09:00:00",
  ]],
  ["monthlyOn(31) skips short months", (t) => t.monthlyOn(31), [
    "01-31T00:00:00",
    "03-31T00:00:00",
    "05-31T00:00:00",
  ]],
  ["lastDayOfMonth", (t) => t.lastDayOfMonth("23:00"), [
    "01-31T23:00:00",
    "02-28T23:00:00",
    "03-31T23:00:00",
  ]],
  ["quarterly", (t) => t.quarterly(), ["04-01T00:00:00", "07-01T00:00:00", "10-01T00:00:00"]],
  ["yearly", (t) => t.yearly(), [
    "2026-01-01T00:00:00",
    "2027-01-01T00:00:00",
    "2028-01-01T00:00:00",
  ]],
  ["weekdays", (t) => t.weekdays().dailyAt("09:00"), [
    "01-02T09:00:00",
    "01-03T09:00:00",
    "01-06T09:00:00",
  ]],
  ["weekends", (t) => t.daily().weekends(), [
    "01-04T00:00:00",
    "01-05T00:00:00",
    "01-11T00:00:00",
  ]],
  ["days", (t) => t.days(["thu", 2]).dailyAt("07:00"), [
    "01-02T07:00:00",
    "01-07T07:00:00",
    "01-09T07:00:00",
  ]],
  ["cron with seconds", (t) => t.cron("*/20 * * * * *"), ["10:17:40", "10:18:00", "10:18:20"]],
  ["cron with five fields", (t) => t.cron("0 12 * * 1"), [
    "01-06T12:00:00",
    "01-13T12:00:00",
    "01-20T12:00:00",
  ]],
  ["a cron nickname refined by weekdays", (t) => t.cron("@daily").weekends(), [
    "01-04T00:00:00",
    "01-05T00:00:00",
    "01-11T00:00:00",
  ]],
  ["between", (t) => t.everyFiveMinutes().between("10:25", "10:35"), [
    "10:25:00",
    "10:30:00",
    "10:35:00",
    "01-02T10:25:00",
  ]],
  ["unlessBetween", (t) => t.hourly().unlessBetween("12:00", "20:00"), [
    "11:00:00",
    "21:00:00",
    "22:00:00",
  ]],
];

/** Expands "10:17:31" and "01-02T09:00:00" to full ISO times in 2025. */
function iso(short: string): string {
  if (/^\d{4}-/.test(short)) return `${short}Z`;
  if (/^\d{2}-\d{2}T/.test(short)) return `2025-${short}Z`;
  return `2025-01-01T${short}Z`;
}

for (const [name, build, expected] of cases) {
  Deno.test(`${name} lists its next runs from a given time`, async () => {
    assert.deepEqual(
      await nextRuns(build, FROM, expected.length),
      expected.map(iso),
    );
  });
}

Deno.test("between() across midnight runs late in the evening and early in the morning", async () => {
  const runs = await nextRuns(
    (t) => t.everyThirtyMinutes().between("22:00", "02:00"),
    "2025-01-01T21:00:00Z",
    10,
  );
  assert.deepEqual(runs, [
    "2025-01-01T22:00:00Z",
    "2025-01-01T22:30:00Z",
    "2025-01-01T23:00:00Z",
    "2025-01-01T23:30:00Z",
    "2025-01-02T00:00:00Z",
    "2025-01-02T00:30:00Z",
    "2025-01-02T01:00:00Z",
    "2025-01-02T01:30:00Z",
    "2025-01-02T02:00:00Z",
    "2025-01-02T22:00:00Z",
  ]);
});

Deno.test("between() is read in the task's time zone, so a tick outside it is filtered", async () => {
  const ran: string[] = [];
  const scheduler = new Scheduler();
  scheduler.call("night", () => ran.push("night")).everyThirtyMinutes()
    .timezone("Europe/Berlin").between("23:00", "01:00");
  // 23:30 in Berlin is 22:30 UTC in winter.
  const [inside] = await scheduler.runDue(new Date("2025-01-01T22:30:00Z"));
  const [outside] = await scheduler.runDue(new Date("2025-01-02T00:30:00Z")); // 01:30 Berlin
  assert.equal(inside.status, "succeeded");
  assert.deepEqual(outside, {
    task: "night",
    scheduledAt: new Date("2025-01-02T00:30:00Z"),
    status: "skipped",
    reason: "filtered",
  });
  assert.deepEqual(ran, ["night"]);
});

Deno.test("the scheduler's time zone applies to every task unless a task sets its own", async () => {
  const scheduler = new Scheduler({ timezone: "America/New_York" });
  scheduler.call("default-zone", () => {}).dailyAt("09:00");
  scheduler.call("own-zone", () => {}).dailyAt("09:00").timezone("Asia/Tokyo");
  const [ny, tokyo] = await scheduler.list({ from: new Date("2025-01-01T00:00:00Z"), count: 1 });
  assert.equal(ny.timezone, "America/New_York");
  assert.equal(ny.nextRuns[0].toISOString(), "2025-01-01T14:00:00.000Z");
  assert.equal(tokyo.timezone, "Asia/Tokyo");
  assert.equal(tokyo.nextRuns[0].toISOString(), "2025-01-02T00:00:00.000Z");
});

// DST: a fixed-time task (one hour, one minute) in the spring-forward gap runs when the
// clock has jumped, and runs once when its time occurs twice in the fall; an interval
// task skips times that do not exist and runs on both occurrences of a repeated time.

Deno.test("Europe/Berlin spring forward: a daily 02:30 task runs at 03:00 on the short day", async () => {
  assert.deepEqual(
    await nextRuns((t) => t.dailyAt("02:30"), "2025-03-29T12:00:00Z", 2, "Europe/Berlin"),
    ["2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"],
  );
});

Deno.test("Europe/Berlin spring forward: every thirty minutes skips the missing hour", async () => {
  assert.deepEqual(
    await nextRuns((t) => t.everyThirtyMinutes(), "2025-03-30T00:00:00Z", 3, "Europe/Berlin"),
    ["2025-03-30T00:30:00Z", "2025-03-30T01:00:00Z", "2025-03-30T01:30:00Z"],
  );
});

Deno.test("Europe/Berlin fall back: a daily 02:30 task runs once on the long day", async () => {
  assert.deepEqual(
    await nextRuns((t) => t.dailyAt("02:30"), "2025-10-25T12:00:00Z", 2, "Europe/Berlin"),
    ["2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"],
  );
});

Deno.test("Europe/Berlin fall back: an hourly task runs on both 02:00s", async () => {
  assert.deepEqual(
    await nextRuns((t) => t.hourly(), "2025-10-25T23:30:00Z", 3, "Europe/Berlin"),
    ["2025-10-26T00:00:00Z", "2025-10-26T01:00:00Z", "2025-10-26T02:00:00Z"],
  );
});

Deno.test("America/New_York spring forward: a daily 02:30 task runs at 03:00 on the short day", async () => {
  assert.deepEqual(
    await nextRuns((t) => t.dailyAt("02:30"), "2025-03-08T12:00:00Z", 2, "America/New_York"),
    ["2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z"],
  );
});

Deno.test("America/New_York spring forward: every fifteen minutes skips the missing hour", async () => {
  assert.deepEqual(
    await nextRuns(
      (t) => t.everyFifteenMinutes(),
      "2025-03-09T06:40:00Z",
      3,
      "America/New_York",
    ),
    ["2025-03-09T06:45:00Z", "2025-03-09T07:00:00Z", "2025-03-09T07:15:00Z"],
  );
});

Deno.test("America/New_York fall back: a daily 01:30 task runs once on the long day", async () => {
  assert.deepEqual(
    await nextRuns((t) => t.dailyAt("01:30"), "2025-11-01T12:00:00Z", 2, "America/New_York"),
    ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"],
  );
});

Deno.test("America/New_York fall back: every thirty minutes runs through the repeated hour twice", async () => {
  assert.deepEqual(
    await nextRuns(
      (t) => t.everyThirtyMinutes(),
      "2025-11-02T04:45:00Z",
      4,
      "America/New_York",
    ),
    [
      "2025-11-02T05:00:00Z",
      "2025-11-02T05:30:00Z",
      "2025-11-02T06:00:00Z",
      "2025-11-02T06:30:00Z",
    ],
  );
});

Deno.test("ticks through the New York fall-back night run a daily 01:30 task once", async () => {
  let runs = 0;
  const scheduler = new Scheduler({ timezone: "America/New_York" });
  scheduler.call("nightly", () => runs++).dailyAt("01:30");
  // A tick every minute from 00:00 EDT to 02:59 EST.
  for (
    let at = Date.parse("2025-11-02T04:00:00Z");
    at < Date.parse("2025-11-02T08:00:00Z");
    at += 60_000
  ) {
    await scheduler.runDue(new Date(at));
  }
  assert.equal(runs, 1);
  const [run] = await scheduler.history("nightly");
  assert.equal(new Date(run.scheduledAt).toISOString(), "2025-11-02T05:30:00.000Z");
});
