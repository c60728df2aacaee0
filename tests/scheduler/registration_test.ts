import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue } from "../../src/queue/mod.ts";
import { Scheduler } from "../../src/scheduler/mod.ts";

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
  const scheduler = new Scheduler();
  const task = scheduler.call("backup", noop);
  assert.throws(() => task.dailyAt("25:00"), /Task "backup": dailyAt\(\) .*"25:00"/);
  assert.throws(() => task.dailyAt("12:60"), RangeError);
  assert.throws(() => task.weeklyOn("mon", "7pm"), /Task "backup": weeklyOn/);
  assert.throws(() => task.between("09:00", "24:00"), /Task "backup": between/);
  assert.throws(() => task.weeklyOn("someday" as never), /Task "backup": weeklyOn.*"someday"/);
  assert.throws(() => task.monthlyOn(32), /Task "backup": monthlyOn.*32/);
  assert.throws(() => task.hourlyAt(-1), RangeError);
  assert.throws(() => task.days([]), /Task "backup": days/);
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
  const task = new Scheduler().call("t", noop);
  assert.throws(() => task.when("yes" as never), /Task "t": when\(\) expects a function/);
  assert.throws(() => task.before(null as never), TypeError);
  assert.throws(() => task.then(42 as never), TypeError);
  assert.throws(() => task.pingBefore("javascript:alert(1)"), /http\(s\) URL/);
  assert.throws(() => task.retry(-1), RangeError);
  assert.throws(() => task.retry(2, -5), RangeError);
  assert.throws(() => task.timeout(0), RangeError);
  assert.throws(() => task.withoutOverlapping(1.5), RangeError);
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
