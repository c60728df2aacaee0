import assert from "node:assert/strict";
import {
  cloudflareScheduled,
  denoCron,
  type DenoCronFunction,
  MemoryMutex,
  Scheduler,
  systemClock,
} from "../../src/scheduler/mod.ts";

/** An ExecutionContext like Workers passes: records what it was asked to keep alive. */
function executionContext() {
  const kept: Promise<unknown>[] = [];
  return {
    kept,
    waitUntil(promise: Promise<unknown>) {
      kept.push(promise);
    },
    passThroughOnException() {},
  };
}

Deno.test("the Cloudflare handler runs the tasks due at controller.scheduledTime inside ctx.waitUntil", async () => {
  const ran: string[] = [];
  const scheduler = new Scheduler();
  scheduler.call("five", ({ scheduledAt }) => ran.push(`five@${scheduledAt.toISOString()}`))
    .everyFiveMinutes();
  scheduler.call("hourly", () => ran.push("hourly")).hourly();
  const scheduled = cloudflareScheduled(scheduler);
  const ctx = executionContext();
  const controller = {
    scheduledTime: Date.parse("2025-06-02T12:05:00Z"),
    cron: "* * * * *",
    noRetry() {},
  };
  await scheduled(controller, {}, ctx);
  assert.equal(ctx.kept.length, 1);
  await ctx.kept[0];
  assert.deepEqual(ran, ["five@2025-06-02T12:05:00.000Z"]);

  // Cloudflare delivering the same trigger again runs nothing twice.
  await scheduled(controller, {}, executionContext());
  assert.equal(ran.length, 1);
});

Deno.test("the Cloudflare handler builds the scheduler from env once per env", async () => {
  const built: unknown[] = [];
  const ran: string[] = [];
  const mutex = new MemoryMutex();
  const scheduled = cloudflareScheduled((env: { REGION: string }) => {
    built.push(env);
    const scheduler = new Scheduler({ mutex });
    scheduler.call("report", () => ran.push(env.REGION)).everyMinute().onOneServer();
    return scheduler;
  });
  const env = { REGION: "eu" };
  await scheduled({ scheduledTime: Date.parse("2025-06-02T12:00:00Z") }, env, executionContext());
  await scheduled({ scheduledTime: Date.parse("2025-06-02T12:01:00Z") }, env, executionContext());
  assert.equal(built.length, 1);
  assert.deepEqual(ran, ["eu", "eu"]);
  // Another isolate (another env object) sharing the mutex does not re-run 12:01.
  await scheduled(
    { scheduledTime: Date.parse("2025-06-02T12:01:00Z") },
    { REGION: "us" },
    executionContext(),
  );
  assert.deepEqual(ran, ["eu", "eu"]);
});

Deno.test("the Cloudflare handler rejects a controller without a scheduled time", async () => {
  const scheduled = cloudflareScheduled(new Scheduler());
  await assert.rejects(
    () => scheduled({ scheduledTime: Number.NaN }, {}, executionContext()),
    TypeError,
  );
  assert.throws(() => cloudflareScheduled("nope" as never), TypeError);
});

Deno.test("denoCron() registers one cron job and maps each delivery to its tick", async () => {
  const registered: { name: string; schedule: string; handler: () => Promise<void> }[] = [];
  const cron: DenoCronFunction = (name, schedule, handler) => {
    registered.push({ name, schedule, handler });
    return Promise.resolve();
  };
  const seen: string[] = [];
  const scheduler = new Scheduler();
  scheduler.call("five", ({ scheduledAt }) => seen.push(scheduledAt.toISOString()))
    .everyFiveMinutes();
  let now = Date.parse("2025-06-02T12:05:00.850Z"); // Deno.cron fires a little late
  await denoCron(scheduler, { cron, clock: { ...systemClock, now: () => now } });
  assert.equal(registered.length, 1);
  assert.equal(registered[0].name, "kiln-scheduler");
  assert.equal(registered[0].schedule, "* * * * *");
  await registered[0].handler();
  assert.deepEqual(seen, ["2025-06-02T12:05:00.000Z"]);
  now += 4_000; // a repeated delivery of the same tick
  await registered[0].handler();
  now = Date.parse("2025-06-02T12:10:01Z");
  await registered[0].handler();
  assert.deepEqual(seen, ["2025-06-02T12:05:00.000Z", "2025-06-02T12:10:00.000Z"]);
});

Deno.test("denoCron() with a coarser schedule ticks at that schedule's occurrences", async () => {
  let handler: () => Promise<void> = () => Promise.resolve();
  const scheduler = new Scheduler({ window: 15 * 60_000 });
  const seen: string[] = [];
  scheduler.call("quarter", ({ scheduledAt }) => seen.push(scheduledAt.toISOString()))
    .everyFifteenMinutes();
  await denoCron(scheduler, {
    name: "ticks",
    schedule: "*/15 * * * *",
    cron: (_name, _schedule, fn) => {
      handler = fn;
      return Promise.resolve();
    },
    clock: { ...systemClock, now: () => Date.parse("2025-06-02T12:16:30Z") },
  });
  await handler();
  assert.deepEqual(seen, ["2025-06-02T12:15:00.000Z"]);
});

Deno.test("denoCron() explains when Deno.cron is unavailable and rejects bad schedules", () => {
  const scheduler = new Scheduler();
  // The tests run without --unstable-cron, so the real Deno.cron is absent.
  assert.equal(typeof (Deno as { cron?: unknown }).cron, "undefined");
  assert.throws(() => denoCron(scheduler), /--unstable-cron/);
  const cron: DenoCronFunction = () => Promise.resolve();
  assert.throws(() => denoCron(scheduler, { cron, schedule: "0 * * * * *" }), /five fields/);
  assert.throws(() => denoCron(scheduler, { cron, schedule: "99 * * * *" }), TypeError);
});
