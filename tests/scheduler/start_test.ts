import assert from "node:assert/strict";
import { Scheduler } from "../../src/scheduler/mod.ts";
import { SchedulerStoppedError } from "../../src/public_errors.ts";
import { FakeClock, settle } from "./_fake_clock.ts";

const T0 = "2025-06-02T12:00:00Z";
const ms = (iso: string) => Date.parse(iso);

Deno.test("start() arms one unref'd timer for the earliest next run, however many tasks", async () => {
  const clock = new FakeClock("2025-06-02T12:00:07Z");
  const scheduler = new Scheduler({ clock });
  for (let i = 0; i < 500; i++) scheduler.call(`daily-${i}`, () => {}).dailyAt("18:00");
  scheduler.call("soon", () => {}).everyTenSeconds();
  await scheduler.start();
  assert.equal(clock.timers.length, 1);
  assert.equal(clock.timers[0].at, ms("2025-06-02T12:00:10Z"));
  assert.equal(clock.timers[0].unref, true);
  await scheduler.stop();
  assert.equal(clock.timers.length, 0);

  await scheduler.start({ keepAlive: true });
  assert.equal(clock.timers[0].unref, false);
  await scheduler.stop();
});

Deno.test("a long wait is capped at maxWait and re-armed until the run is due", async () => {
  const clock = new FakeClock(T0);
  const runs: number[] = [];
  const scheduler = new Scheduler({ clock, maxWait: 30_000 });
  scheduler.call("later", () => runs.push(clock.now())).dailyAt("12:02");
  await scheduler.start();
  assert.equal(clock.timers[0].at, ms("2025-06-02T12:00:30Z"));
  await clock.advance(30_000);
  assert.equal(clock.timers.length, 1);
  assert.equal(clock.timers[0].at, ms("2025-06-02T12:01:00Z"));
  await clock.advance(90_000);
  assert.deepEqual(runs, [ms("2025-06-02T12:02:00Z")]);
  await scheduler.stop();
});

Deno.test("start() runs every occurrence at its time with its scheduled time", async () => {
  const clock = new FakeClock(T0);
  const seen: string[] = [];
  const scheduler = new Scheduler({ clock });
  scheduler.call("tens", ({ scheduledAt }) => {
    assert.equal(clock.now(), scheduledAt.getTime());
    seen.push(scheduledAt.toISOString().slice(11, 19));
  }).everyTenSeconds();
  scheduler.call("minute", () => seen.push("minute")).everyMinute();
  await scheduler.start();
  await clock.advance(60_000);
  await scheduler.stop();
  // Tasks due at the same instant start together, in no promised order.
  assert.deepEqual(seen.filter((name) => name !== "minute"), [
    "12:00:00",
    "12:00:10",
    "12:00:20",
    "12:00:30",
    "12:00:40",
    "12:00:50",
    "12:01:00",
  ]);
  assert.equal(seen.filter((name) => name === "minute").length, 2);
});

Deno.test("after the machine sleeps past several occurrences, each task catches up once, with its latest occurrence", async () => {
  const clock = new FakeClock("2025-06-02T12:00:30Z");
  const seen: string[] = [];
  const scheduler = new Scheduler({ clock });
  scheduler.call("hourly", ({ scheduledAt }) => seen.push(scheduledAt.toISOString())).hourly();
  await scheduler.start();
  // Suspended for five hours: on waking, the capped timer fires within maxWait.
  clock.jump("2025-06-02T17:20:00Z");
  await clock.advance(30_000);
  assert.deepEqual(seen, ["2025-06-02T17:00:00.000Z"]);
  await clock.advance(40 * 60_000);
  assert.deepEqual(seen, ["2025-06-02T17:00:00.000Z", "2025-06-02T18:00:00.000Z"]);
  await scheduler.stop();
});

Deno.test("after the clock is set back, the schedule follows the new time", async () => {
  const clock = new FakeClock(T0);
  const seen: string[] = [];
  const scheduler = new Scheduler({ clock });
  scheduler.call(
    "minutely",
    ({ scheduledAt }) => seen.push(scheduledAt.toISOString().slice(11, 16)),
  )
    .everyMinute();
  await scheduler.start();
  await clock.advance(60_000); // 12:00 and 12:01
  clock.jump("2025-06-02T11:00:30Z");
  await clock.advance(30_000); // the armed timer notices the jump
  await clock.advance(60_000);
  await scheduler.stop();
  assert.deepEqual(seen, ["12:00", "12:01", "11:01", "11:02"]);
});

Deno.test("a task registered while running is scheduled without a restart", async () => {
  const clock = new FakeClock(T0);
  const seen: string[] = [];
  const scheduler = new Scheduler({ clock });
  scheduler.call("slow", () => seen.push("slow")).hourly();
  await scheduler.start();
  await clock.advance(1_000);
  scheduler.call("fast", () => seen.push("fast")).everyFiveSeconds();
  await settle();
  assert.equal(clock.timers.length, 1);
  assert.equal(clock.timers[0].at, ms("2025-06-02T12:00:05Z"));
  await clock.advance(4_000);
  await scheduler.stop();
  assert.deepEqual(seen, ["slow", "fast"]);
});

Deno.test("stop() waits for runs in progress; stop({ abort: true }) aborts their signal first", async () => {
  const clock = new FakeClock(T0);
  let finished = false;
  const scheduler = new Scheduler({ clock });
  scheduler.call("slow", async () => {
    await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), 5_000));
    finished = true;
  }).everyMinute();
  await scheduler.start();
  await clock.advance(0);
  const stopping = scheduler.stop();
  await clock.advance(5_000);
  await stopping;
  assert.equal(finished, true);
  assert.equal(clock.timers.length, 0);

  const aborting = new Scheduler({ clock });
  let reason: unknown;
  aborting.call(
    "abortable",
    ({ signal }) =>
      new Promise<void>((resolve) =>
        signal.addEventListener("abort", () => {
          reason = signal.reason;
          resolve();
        })
      ),
  );
  await aborting.start();
  await clock.advance(60_000);
  await aborting.stop({ abort: true });
  assert.ok(reason instanceof SchedulerStoppedError);
  assert.equal(reason.code, "SCHEDULER_STOPPED");
});

Deno.test("with the real clock, an every-second task runs on a whole second and stop() leaves nothing behind", async () => {
  const scheduler = new Scheduler();
  const { promise, resolve } = Promise.withResolvers<Date>();
  scheduler.call("tick", ({ scheduledAt }) => resolve(scheduledAt)).everySecond();
  // keepAlive: an unref'd timer would let the test's event loop end before the run.
  // No wall-clock threshold: however late the run starts on a busy machine, the occurrence
  // it runs is the first whole second after start() read the clock.
  const before = Date.now();
  await scheduler.start({ keepAlive: true });
  const after = Date.now();
  const scheduledAt = await promise;
  await scheduler.stop();
  // start() at 12:00:00.000 exactly runs 12:00:00 itself: the bounds are whole seconds at or after.
  const wholeSecondFrom = (ms: number) => Math.ceil(ms / 1_000) * 1_000;
  assert.equal(scheduledAt.getTime() % 1_000, 0);
  assert.ok(scheduledAt.getTime() >= wholeSecondFrom(before), "not an occurrence before start()");
  assert.ok(scheduledAt.getTime() <= wholeSecondFrom(after), "the first occurrence, none skipped");
});

Deno.test("stop({ abort: true }) ends a retrying run: no retry starts after the abort, and a backoff in progress is cut short", async () => {
  const clock = new FakeClock(T0);
  const attempts: number[] = [];
  const scheduler = new Scheduler({ clock, onError: () => {} });
  scheduler.call("flaky", ({ attempt, signal }) => {
    attempts.push(attempt);
    // The first attempt fails at once; the second waits for its signal.
    if (attempt === 1) throw new Error("first attempt fails");
    return new Promise<void>((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  }).retry(5, 60_000);
  const inBackoff = scheduler.runDue(new Date(ms(T0)));
  await clock.advance(0);
  assert.deepEqual(attempts, [1], "waiting 60 s before the second attempt");
  await scheduler.stop({ abort: true }); // must not wait out the backoff
  const outcome = await inBackoff;
  assert.equal(outcome[0].status, "failed");
  assert.ok(outcome[0].status === "failed" && outcome[0].error instanceof SchedulerStoppedError);
  assert.deepEqual(attempts, [1], "no attempt after the abort");
  assert.equal(clock.timers.length, 0, "the backoff timer is cleared");

  // An attempt aborted by stop() is not retried either.
  attempts.length = 0;
  const again = scheduler.runDue(new Date(ms(T0) + 60_000));
  await clock.advance(60_000); // the first attempt failed; the backoff passes; attempt 2 runs
  assert.deepEqual(attempts, [1, 2]);
  await scheduler.stop({ abort: true });
  const [ended] = await again;
  assert.ok(ended.status === "failed" && ended.error instanceof SchedulerStoppedError);
  assert.deepEqual(attempts, [1, 2]);
  assert.equal(clock.timers.length, 0);
});

Deno.test("a run() that comes while stop({ abort: true }) waits starts no attempt, so the stop ends", async () => {
  const clock = new FakeClock(T0);
  const scheduler = new Scheduler({ clock });
  const reasons: unknown[] = [];
  scheduler.call("export", ({ signal }) =>
    new Promise<void>((resolve) => {
      signal.addEventListener("abort", () => resolve(void reasons.push(signal.reason)));
    })).hourly();
  const first = scheduler.run("export");
  await clock.advance(0);
  // The handler settles on abort in a later turn, so stop() is still waiting when run() comes.
  const stopping = scheduler.stop({ abort: true });
  const late = scheduler.run("export");
  await stopping;
  assert.equal((await first).status, "succeeded");
  assert.deepEqual(reasons.length, 1, "the late run's handler never started");
  assert.ok(reasons[0] instanceof SchedulerStoppedError);
  const outcome = await late;
  assert.ok(outcome.status === "failed" && outcome.error instanceof SchedulerStoppedError);
  assert.equal(outcome.attempts, 0);
  // Once stop() has resolved, runs start again and are not aborted.
  let signalled: boolean | undefined;
  scheduler.call("after", ({ signal }) => void (signalled = signal.aborted));
  assert.equal((await scheduler.run("after")).status, "succeeded");
  assert.equal(signalled, false);
});
