/**
 * Cases for `@kiln/core/scheduler` in tick mode, the mode serverless runtimes
 * use: `runDue()` with fluent schedules and time zones (croner and `Intl`
 * in each runtime), the Cloudflare `scheduled` handler with a realistic
 * controller and `ctx.waitUntil`, and `onOneServer()` and `pause()`
 * through the real Redis gateway.
 *
 * @module
 */
import { cloudflareScheduled, RedisHistory, RedisMutex, Scheduler } from "@kiln/core/scheduler";
import * as assert from "./_assert.mjs";

/** The suite's name, printed by every runner. */
export const name = "scheduler";

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "runDue() runs each due task once per tick, reading schedules in their time zone",
    async run() {
      const ran = [];
      const scheduler = new Scheduler({ timezone: "Europe/Berlin" });
      scheduler.call("berlin-midnight", () => ran.push("berlin-midnight")).daily();
      scheduler.call("ny-nine", () => ran.push("ny-nine")).dailyAt("09:00")
        .timezone("America/New_York");
      scheduler.call("five", () => ran.push("five")).everyFiveMinutes().between("00:00", "00:30");
      // Midnight in Berlin (winter) is 23:00 UTC.
      const tick = new Date("2025-01-01T23:00:00Z");
      await scheduler.runDue(tick);
      const again = await scheduler.runDue(tick);
      assert.deepEqual(ran.sort(), ["berlin-midnight", "five"]);
      assert.ok(again.every((outcome) => outcome.status === "skipped"));
      const [, ny] = await scheduler.list({ from: tick, count: 1 });
      assert.equal(ny.nextRuns[0].toISOString(), "2025-01-02T14:00:00.000Z");
    },
  },
  {
    name: "the Cloudflare scheduled handler runs due tasks inside ctx.waitUntil",
    async run() {
      const ran = [];
      const scheduler = new Scheduler();
      scheduler.call("quarter", ({ scheduledAt }) => ran.push(scheduledAt.toISOString()))
        .everyFifteenMinutes();
      const kept = [];
      const ctx = { waitUntil: (promise) => kept.push(promise), passThroughOnException() {} };
      const controller = {
        scheduledTime: Date.parse("2025-06-02T12:15:00Z"),
        cron: "* * * * *",
        noRetry() {},
      };
      await cloudflareScheduled(scheduler)(controller, {}, ctx);
      assert.equal(kept.length, 1);
      await kept[0];
      assert.deepEqual(ran, ["2025-06-02T12:15:00.000Z"]);
    },
  },
  {
    name: "onOneServer() through the Redis gateway runs an occurrence once across three schedulers",
    async run(ctx) {
      let runs = 0;
      const namespace = `${ctx.namespace}-scheduler`;
      const schedulers = [1, 2, 3].map(() => {
        const redis = new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken });
        const scheduler = new Scheduler({
          mutex: new RedisMutex({ redis, prefix: namespace }),
          history: new RedisHistory({ redis, prefix: namespace }),
        });
        scheduler.call("backup", () => runs++).everyMinute().onOneServer();
        return scheduler;
      });
      const tick = new Date("2025-06-02T12:00:00Z");
      await Promise.all(schedulers.map((scheduler) => scheduler.runDue(tick)));
      assert.equal(runs, 1);
      const history = await schedulers[0].history("backup");
      assert.equal(history.length, 1);
      assert.equal(history[0].scheduledAt, tick.getTime());
    },
  },
  {
    name: "pause() through the Redis gateway is obeyed by another scheduler, and tasks() shows it",
    async run(ctx) {
      const ran = [];
      const prefix = `${ctx.namespace}-pause`;
      const [a, b] = ["a", "b"].map((instance) => {
        const redis = new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken });
        const scheduler = new Scheduler({
          timezone: "Europe/Berlin",
          history: new RedisHistory({ redis, prefix }),
        });
        scheduler.call("digest", () => ran.push(instance)).dailyAt("08:00");
        return scheduler;
      });
      await a.pause("digest");
      const eight = new Date("2025-06-02T06:00:00Z"); // 08:00 in Berlin
      const [skipped] = await b.runDue(eight);
      assert.equal(skipped.status === "skipped" && skipped.reason, "paused");
      const [digest] = await b.tasks();
      assert.equal(digest.schedule, "daily at 08:00, Europe/Berlin");
      assert.equal(digest.paused, true);
      await b.resume("digest");
      const manual = await a.run("digest");
      assert.equal(manual.status, "succeeded");
      assert.deepEqual(ran, ["a"]);
      assert.equal((await b.tasks())[0].lastRun.status, "succeeded");
    },
  },
];
