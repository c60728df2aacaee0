import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue } from "../../src/queue/mod.ts";
import { type ScheduledTask, Scheduler } from "../../src/scheduler/mod.ts";
import { FakeClock } from "./_fake_clock.ts";

function noop(): void {}

const mailJob = defineJob({ name: "mail", schema: v.object({}), handle: noop });
const digestJob = defineJob({ name: "digest", schema: v.object({ to: v.string() }), handle: noop });
const queue = () => new Queue({ backend: new MemoryBackend() });

Deno.test("an invalid cron expression throws at registration, naming the task", () => {
  const scheduler = new Scheduler();
  assert.throws(
    () => scheduler.call("reports", noop).cron("61 * * * *"),
    (error: Error) => error instanceof TypeError && /Task "reports"/.test(error.message),
  );
  assert.throws(() => scheduler.call("two", noop).cron("* *"), /Task "two".*5, 6 or 7 fields/);
  assert.throws(() => scheduler.call("junk", noop).cron("every day"), /Task "junk"/);
});

Deno.test("an impossible time of day throws at registration, naming the task", () => {
  // Each throw unregisters its task, so every case builds a fresh one.
  const task = () => new Scheduler().call("backup", noop);
  assert.throws(() => task().dailyAt("25:00"), /Task "backup": dailyAt\(\) .*"25:00"/);
  assert.throws(() => task().dailyAt("12:60"), RangeError);
  assert.throws(() => task().weeklyOn("mon", "7pm"), /Task "backup": weeklyOn/);
  assert.throws(() => task().between("09:00", "24:00"), /Task "backup": between/);
  assert.throws(() => task().weeklyOn("someday" as never), /Task "backup": weeklyOn.*"someday"/);
  assert.throws(() => task().monthlyOn(32), /Task "backup": monthlyOn.*32/);
  assert.throws(() => task().hourlyAt(-1), RangeError);
  assert.throws(() => task().days([]), /Task "backup": days/);
});

Deno.test("an unknown time zone throws, naming the task", () => {
  const scheduler = new Scheduler();
  assert.throws(
    () => scheduler.call("sync", noop).timezone("Mars/Olympus_Mons"),
    /Task "sync": unknown time zone "Mars\/Olympus_Mons"/,
  );
  assert.throws(() => new Scheduler({ timezone: "Nowhere/Land" }), RangeError);
});

Deno.test("a duplicate task name throws", () => {
  const scheduler = new Scheduler();
  scheduler.call("sync", noop);
  assert.throws(() => scheduler.call("sync", noop), /Task "sync" is already registered/);
  assert.throws(() => scheduler.job(mailJob, {}, queue(), { name: "sync" }), {
    message: 'Task "sync" is already registered',
  });
});

Deno.test("a missing handler or a bad name throws, naming the task", () => {
  const scheduler = new Scheduler();
  assert.throws(() => scheduler.call("cleanup", undefined as never), /Task "cleanup": the handler/);
  assert.throws(() => scheduler.call("", noop), TypeError);
  assert.throws(() => scheduler.call("a\nb", noop), TypeError);
  assert.throws(() => scheduler.job(mailJob, {}, {} as never), /Task "job:mail": job\(\)/);
});

Deno.test("hostile hook, condition, ping and retry arguments are rejected", () => {
  const task = () => new Scheduler().call("t", noop);
  assert.throws(() => task().when("yes" as never), /Task "t": when\(\) expects a function/);
  assert.throws(() => task().before(null as never), TypeError);
  assert.throws(() => task().then(42 as never), TypeError);
  assert.throws(() => task().pingBefore("javascript:alert(1)"), /http\(s\) URL/);
  assert.throws(() => task().retry(-1), RangeError);
  assert.throws(() => task().retry(2, -5), RangeError);
  assert.throws(() => task().timeout(0), RangeError);
  assert.throws(() => task().withoutOverlapping(1.5), RangeError);
});

Deno.test("then() naming an unknown task or chaining back to itself is reported before running", async () => {
  const unknown = new Scheduler();
  unknown.call("a", noop).then("missing");
  await assert.rejects(
    () => unknown.runDue(new Date()),
    /Task "a": then\(\) names unknown task "missing"/,
  );

  const cycle = new Scheduler();
  cycle.call("a", noop).then("b");
  cycle.call("b", noop).then("a");
  await assert.rejects(() => cycle.start(), /chains back to itself/);
  assert.equal(cycle.running, false);
});

Deno.test("list() shows every task with its expression, zone, flags and last run", async () => {
  const scheduler = new Scheduler({ timezone: "Europe/Berlin" });
  scheduler.call("backup", noop).dailyAt("02:00").onOneServer().description("Nightly backup");
  scheduler.job(digestJob, { to: "all" }, queue()).hourly()
    .withoutOverlapping();
  await scheduler.runDue(new Date("2025-01-01T01:00:00Z")); // 02:00 in Berlin
  const [backup, digest] = await scheduler.list({
    from: new Date("2025-01-01T12:00:00Z"),
    count: 1,
  });
  assert.equal(backup.name, "backup");
  assert.equal(backup.kind, "call");
  assert.equal(backup.description, "Nightly backup");
  assert.equal(backup.expression, "0 0 2 * * *");
  assert.equal(backup.timezone, "Europe/Berlin");
  assert.equal(backup.onOneServer, true);
  assert.equal(backup.withoutOverlapping, false);
  assert.deepEqual(backup.nextRuns, [new Date("2025-01-02T01:00:00Z")]);
  assert.equal(backup.lastRun?.status, "succeeded");
  assert.equal(backup.lastRun?.scheduledAt, Date.parse("2025-01-01T01:00:00Z"));
  assert.equal(digest.name, "job:digest");
  assert.equal(digest.kind, "job");
  assert.equal(digest.withoutOverlapping, true);
  assert.equal(digest.lastRun?.status, "succeeded");
});

/** Every builder method that validates, with an argument it must refuse. */
const refusals: [method: string, misuse: (task: ScheduledTask) => unknown][] = [
  ["cron() with an out-of-range field", (task) => task.cron("61 * * * *")],
  ["cron() with too few fields", (task) => task.cron("* *")],
  ["cron() with words", (task) => task.cron("every day")],
  ["hourlyAt()", (task) => task.hourlyAt(60)],
  ["dailyAt()", (task) => task.dailyAt("25:00")],
  ["twiceDaily()", (task) => task.twiceDaily(1, 24)],
  ["weeklyOn() with a bad day", (task) => task.weeklyOn("someday" as never)],
  ["weeklyOn() with a bad time", (task) => task.weeklyOn("mon", "7pm")],
  ["monthlyOn() with a bad day", (task) => task.monthlyOn(32)],
  ["monthlyOn() with a bad time", (task) => task.monthlyOn(1, "24:00")],
  ["lastDayOfMonth()", (task) => task.lastDayOfMonth("noon")],
  ["days()", (task) => task.days([])],
  ["between()", (task) => task.between("09:00", "24:00")],
  ["unlessBetween()", (task) => task.unlessBetween("x", "13:00")],
  ["timezone()", (task) => task.timezone("Mars/Olympus_Mons")],
  ["description()", (task) =>
    task.description({
      toString: () => {
        throw new Error("no");
      },
    } as never)],
  ["when()", (task) => task.when("yes" as never)],
  ["skip()", (task) => task.skip(1 as never)],
  ["then()", (task) => task.then(42 as never)],
  ["before()", (task) => task.before(null as never)],
  ["after()", (task) => task.after(null as never)],
  ["onSuccess()", (task) => task.onSuccess(null as never)],
  ["onFailure()", (task) => task.onFailure(null as never)],
  ["pingBefore()", (task) => task.pingBefore("javascript:alert(1)")],
  ["thenPing()", (task) => task.thenPing("ftp://example.com")],
  ["withoutOverlapping()", (task) => task.withoutOverlapping(1.5)],
  ["retry() with bad times", (task) => task.retry(-1)],
  ["retry() with a bad backoff", (task) => task.retry(2, -5)],
  ["timeout()", (task) => task.timeout(0)],
];

Deno.test("a builder method that throws leaves nothing registered: list() and runDue() never see the task", async () => {
  for (const [method, misuse] of refusals) {
    const scheduler = new Scheduler();
    const ran: string[] = [];
    assert.throws(
      () => misuse(scheduler.call("x", () => void ran.push("x")).everyMinute()),
      (error: Error) => /Task "x"|no/.test(error.message),
      method,
    );
    assert.deepEqual(await scheduler.list(), [], `${method} left the task registered`);
    assert.deepEqual(await scheduler.runDue(new Date("2025-01-01T00:00:00Z")), [], method);
    assert.deepEqual(ran, [], method);
    // The name is free again.
    scheduler.call("x", noop).daily();
    assert.deepEqual((await scheduler.list()).map((task) => task.expression), ["0 0 0 * * *"]);
  }
});

Deno.test("a builder method that throws after an await still unregisters the task; the stale builder refuses further calls", async () => {
  const scheduler = new Scheduler();
  const task = scheduler.call("x", noop);
  scheduler.call("other", noop).hourly();
  await Promise.resolve();
  assert.throws(() => task.dailyAt("25:00"), /Task "x": dailyAt/);
  assert.deepEqual((await scheduler.list()).map((info) => info.name), ["other"]);
  assert.throws(() => task.hourly(), /Task "x" is no longer registered/);
  assert.deepEqual((await scheduler.list()).map((info) => info.name), ["other"]);
  // A new task under the old name is not touched by the stale builder.
  scheduler.call("x", noop).daily();
  assert.throws(() => task.everyMinute(), /no longer registered/);
  const [, x] = await scheduler.list();
  assert.equal(x.expression, "0 0 0 * * *");
});

Deno.test("a failed registration on a running scheduler never fires", async () => {
  const clock = new FakeClock("2025-06-02T12:00:00Z");
  const scheduler = new Scheduler({ clock });
  const ran: string[] = [];
  scheduler.call("kept", () => void ran.push("kept")).everyMinute();
  await scheduler.start();
  assert.throws(() => scheduler.call("bad", () => void ran.push("bad")).cron("* * * * * * * *"));
  assert.throws(() => scheduler.job(mailJob, {}, queue()).weeklyOn("mon", "8am"));
  await clock.advance(120_000);
  await scheduler.stop();
  assert.deepEqual(ran, ["kept", "kept", "kept"]); // 12:00, 12:01 and 12:02
  assert.deepEqual((await scheduler.list()).map((info) => info.name), ["kept"]);
});
