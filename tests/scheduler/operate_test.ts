/**
 * The operate API a dashboard calls: tasks(), pause(), resume() and run(), in
 * memory and on a real Redis through the gateway (pauses shared by instances).
 */
import assert from "node:assert/strict";
import { RedisError, UnknownTaskError } from "../../src/public_errors.ts";
import { UpstashRedis } from "../../src/redis/mod.ts";
import type { RedisCommand, RedisLike } from "../../src/redis/redis_like.ts";
import {
  MemoryHistory,
  MemoryMutex,
  RedisHistory,
  RedisMutex,
  Scheduler,
  type TaskPauses,
} from "../../src/scheduler/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { FakeClock } from "./_fake_clock.ts";

const T0 = Date.parse("2025-06-02T12:00:00Z");
const minute = (n: number) => new Date(T0 + n * 60_000);

/** A promise a test settles by hand, to hold a run in progress. */
function gate() {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { promise, open: resolve };
}

Deno.test("pause() skips a task's due occurrences until resume(), and tasks() shows it", async () => {
  const ran: number[] = [];
  const scheduler = new Scheduler();
  scheduler.call("sync", ({ scheduledAt }) => void ran.push(scheduledAt.getTime())).everyMinute();
  scheduler.call("other", () => {}).everyMinute();
  await scheduler.pause("sync");
  await scheduler.pause("sync"); // twice is once
  const outcomes = await scheduler.runDue(minute(0));
  assert.deepEqual(
    outcomes.map((o) => [o.task, o.status, o.status === "skipped" ? o.reason : ""]),
    [["sync", "skipped", "paused"], ["other", "succeeded", ""]],
  );
  const [sync, other] = await scheduler.tasks();
  assert.equal(sync.paused, true);
  assert.equal(other.paused, false);
  assert.deepEqual(sync.history, [], "a paused skip is not written to history");
  await scheduler.resume("sync");
  await scheduler.resume("sync"); // resuming a running task changes nothing
  await scheduler.runDue(minute(1));
  assert.deepEqual(ran, [minute(1).getTime()]);
  assert.equal((await scheduler.tasks())[0].paused, false);
});

Deno.test("a paused task is not started by another task's then() either; run() of the first still chains", async () => {
  const ran: string[] = [];
  const scheduler = new Scheduler();
  scheduler.call("report", () => void ran.push("report")).hourly().then("notify");
  scheduler.call("notify", () => void ran.push("notify")).yearly();
  await scheduler.pause("notify");
  const outcomes = await scheduler.runDue(new Date(T0));
  assert.deepEqual(outcomes.map((o) => [o.task, o.status]), [["report", "succeeded"]]);
  assert.deepEqual(ran, ["report"], "an operator who paused notify does not see it run");
  assert.deepEqual(await scheduler.history("notify"), []);
  await scheduler.resume("notify");
  await scheduler.run("report");
  assert.deepEqual(ran, ["report", "report", "notify"]);
});

Deno.test("a pause is kept by name: a task dropped by a failing builder call and registered again is still paused", async () => {
  const scheduler = new Scheduler();
  const task = scheduler.call("digest", () => {}).hourly();
  await scheduler.pause("digest");
  assert.throws(() => task.dailyAt("25:00"), RangeError); // drops the task
  assert.deepEqual(await scheduler.tasks(), []);
  await assert.rejects(scheduler.resume("digest"), UnknownTaskError);
  scheduler.call("digest", () => {}).dailyAt("08:00");
  const [again] = await scheduler.tasks();
  assert.equal(again.paused, true);
  const [outcome] = await scheduler.runDue(new Date("2025-06-02T08:00:00Z"));
  assert.equal(outcome.status === "skipped" && outcome.reason, "paused");
});

Deno.test("pause(), resume() and run() refuse a name no task has, with UnknownTaskError", async () => {
  const scheduler = new Scheduler();
  scheduler.call("known", () => {});
  for (
    const call of [
      () => scheduler.pause("unknown"),
      () => scheduler.resume("Known"),
      () => scheduler.run(""),
      () => scheduler.run(undefined as unknown as string),
    ]
  ) {
    await assert.rejects(
      call(),
      (error: unknown) =>
        error instanceof UnknownTaskError && error.code === "SCHEDULER_UNKNOWN_TASK",
    );
  }
  assert.equal((await scheduler.tasks())[0].paused, false);
});

Deno.test("an unknown name of a megabyte is refused with a short message, the name kept whole on the error", async () => {
  const scheduler = new Scheduler();
  const name = "x".repeat(1_000_000);
  const error = await scheduler.run(name).then(() => undefined, (error: unknown) => error);
  // Plain comparisons: a failing assertion would diff megabyte strings for minutes.
  assert.ok(error instanceof UnknownTaskError);
  assert.ok(error.task === name, "the name kept whole");
  assert.ok(error.message.length < 300, `a ${error.message.length}-character message`);
});

Deno.test("run() runs one occurrence now, skipping windows, conditions and pause but not withoutOverlapping()", async () => {
  const clock = new FakeClock("2025-06-02T03:00:00Z");
  const scheduler = new Scheduler({ clock });
  const held = gate();
  const started: string[] = [];
  scheduler.call("rebuild", async ({ scheduledAt }) => {
    started.push(scheduledAt.toISOString());
    await held.promise;
  }).dailyAt("03:00").between("03:00", "03:05").when(() => false).withoutOverlapping();
  await scheduler.pause("rebuild");
  await clock.advance(10 * 60_000); // 03:10: outside its window, paused, its condition false
  const first = scheduler.run("rebuild");
  await clock.advance(0);
  assert.deepEqual(started, ["2025-06-02T03:10:00.000Z"]);
  // While the first run holds the overlap lock, a second run() is refused and does not start.
  const second = await scheduler.run("rebuild");
  assert.equal(second.status === "skipped" && second.reason, "overlapping");
  assert.equal(started.length, 1);
  held.open();
  assert.equal((await first).status, "succeeded");
  assert.equal((await scheduler.run("rebuild")).status, "succeeded");
  const [rebuild] = await scheduler.tasks();
  assert.deepEqual(rebuild.history.map((run) => run.status), ["succeeded", "succeeded", "skipped"]);
});

Deno.test("history tells an operator's run() from a scheduled run and from a then() chain", async () => {
  const clock = new FakeClock("2025-06-02T12:00:00Z");
  const scheduler = new Scheduler({ clock });
  scheduler.call("report", () => {}).hourly().then("notify");
  scheduler.call("notify", () => {}).yearly();
  await scheduler.runDue(new Date(clock.now()));
  await clock.advance(90_000);
  await scheduler.run("report");
  const [report, notify] = await scheduler.tasks();
  assert.deepEqual(report.history.map((run) => [run.trigger, run.scheduledAt]), [
    ["manual", Date.parse("2025-06-02T12:01:30Z")],
    ["schedule", Date.parse("2025-06-02T12:00:00Z")],
  ]);
  assert.deepEqual(notify.history.map((run) => run.trigger), ["chain", "chain"]);
});

Deno.test("stop() waits for a run() in progress", async () => {
  const scheduler = new Scheduler();
  const held = gate();
  let finished = false;
  scheduler.call("export", async () => {
    await held.promise;
    finished = true;
  });
  const running = scheduler.run("export");
  let stopped = false;
  const stopping = scheduler.stop().then(() => void (stopped = true));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(stopped, false);
  held.open();
  await stopping;
  assert.equal(finished, true);
  assert.equal((await running).status, "succeeded");
});

Deno.test("tasks() answers schedule, next run, last run with duration and error, and recent history", async () => {
  const clock = new FakeClock("2025-06-02T07:59:00Z");
  const scheduler = new Scheduler({ clock, timezone: "Europe/Berlin" });
  let attempt = 0;
  scheduler.call("report", async () => {
    attempt++;
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 1_500));
    if (attempt % 2 === 0) throw new Error("mail server said no");
  }).everyMinute().description("hourly report");
  for (let i = 0; i < 4; i++) {
    const done = scheduler.runDue(new Date(clock.now()));
    await clock.advance(1_500);
    await done;
    await clock.advance(60_000 - 1_500);
  }
  const [report] = await scheduler.tasks({ history: 3, count: 2 });
  assert.equal(report.name, "report");
  assert.equal(report.kind, "call");
  assert.equal(report.description, "hourly report");
  assert.equal(report.schedule, "every minute");
  assert.equal(report.expression, "0 * * * * *");
  assert.equal(report.timezone, "Europe/Berlin");
  assert.equal(report.nextRunAt?.toISOString(), "2025-06-02T08:04:00.000Z");
  assert.deepEqual(report.nextRuns.map((at) => at.toISOString()), [
    "2025-06-02T08:04:00.000Z",
    "2025-06-02T08:05:00.000Z",
  ]);
  assert.equal(report.paused, false);
  assert.deepEqual(
    report.history.map((run) => [run.status, run.duration, run.error]),
    [["failed", 1_500, "mail server said no"], ["succeeded", 1_500, undefined], [
      "failed",
      1_500,
      "mail server said no",
    ]],
  );
  assert.deepEqual(report.lastRun, report.history[0]);
  await assert.rejects(scheduler.tasks({ history: -1 }), RangeError);
  const [bare] = await scheduler.tasks({ history: 0 });
  assert.deepEqual(bare.history, []);
  assert.deepEqual(bare.lastRun, report.lastRun, "history: 0 still answers the last run");
});

Deno.test("tasks() and list() refuse a count that would take the process minutes, and a from that is no date, before any work", async () => {
  const scheduler = new Scheduler();
  scheduler.call("a", () => {}).hourly();
  for (const options of [{ count: 101 }, { count: 1e6 }, { count: 2.5 }, { count: -1 }]) {
    await assert.rejects(scheduler.tasks(options), RangeError);
    await assert.rejects(scheduler.list(options), RangeError);
  }
  for (const from of [new Date("garbage"), "2025-01-01", 1_700_000_000_000]) {
    const options = { from: from as unknown as Date };
    await assert.rejects(scheduler.tasks(options), /from must be a valid Date/);
    await assert.rejects(scheduler.list(options), /from must be a valid Date/);
  }
  assert.equal((await scheduler.tasks({ count: 100 }))[0].nextRuns.length, 100);
});

Deno.test("a history or mutex offering pauses without their methods is refused at construction, not at every tick", () => {
  const broken = { paused: () => Promise.resolve(new Set<string>()) } as unknown as TaskPauses;
  assert.throws(
    () => new Scheduler({ mutex: Object.assign(new MemoryMutex(), { pauses: broken }) }),
    (error: unknown) => error instanceof TypeError && /pause\(\)/.test(error.message),
  );
  assert.throws(
    () =>
      new Scheduler({
        history: Object.assign(new MemoryHistory(), { pauses: 42 as unknown as TaskPauses }),
      }),
    TypeError,
  );
});

Deno.test("a pause store that cannot be read is reported and the task runs: an outage does not stop every task", async () => {
  const failing: TaskPauses = {
    paused: () => Promise.reject(new RedisError("REDIS_UNAVAILABLE", "down")),
    pause: () => Promise.resolve(),
    resume: () => Promise.resolve(),
  };
  const mutex = Object.assign(new MemoryMutex(), { pauses: failing });
  let ran = false;
  const reported: [unknown, string][] = [];
  const scheduler = new Scheduler({
    mutex,
    onError: (error, info) => void reported.push([error, info.phase]),
  });
  scheduler.call("guarded", () => void (ran = true)).everyMinute();
  const [outcome] = await scheduler.runDue(minute(0));
  assert.equal(outcome.status, "succeeded");
  assert.equal(ran, true);
  assert.equal(reported.length, 1);
  assert.ok(reported[0][0] instanceof RedisError);
  assert.equal(reported[0][1], "reading paused tasks");
  // tasks() cannot say whether a task is paused: it rejects rather than guessing.
  await assert.rejects(scheduler.tasks(), RedisError);
});

/** Counts the Redis commands by name that pass through a RedisLike. */
function counting(redis: RedisLike): { redis: RedisLike; count: (name: string) => number } {
  const seen: string[] = [];
  const note = (commands: readonly RedisCommand[]) => {
    for (const [name] of commands) seen.push(name.toUpperCase());
  };
  const wrapped: RedisLike = {
    eval: (script, keys, args) => redis.eval(script, keys, args),
    evalsha: (sha1, keys, args) => redis.evalsha(sha1, keys, args),
    get: (key) => redis.get(key),
    set: (key, value, options) => redis.set(key, value, options),
    del: (...keys) => redis.del(...keys),
    publish: (channel, message) => redis.publish(channel, message),
    subscribe: (channel, handlers) => redis.subscribe(channel, handlers),
    pipeline(commands) {
      note(commands);
      return redis.pipeline(commands);
    },
  };
  return { redis: wrapped, count: (name) => seen.filter((seenName) => seenName === name).length };
}

Deno.test("the operate API on a real Redis through the HTTP gateway", async (t) => {
  await using stack = await startRedisStack();

  await t.step("a pause on one instance is obeyed by another, and so is its resume", async () => {
    const prefix = `pause-${crypto.randomUUID()}`;
    const ran: string[] = [];
    const [a, b] = ["a", "b"].map((instance) => {
      // Separate clients, as separate processes would have.
      const scheduler = new Scheduler({
        instance,
        history: new RedisHistory({ redis: stack.newRedis(), prefix }),
      });
      scheduler.call("digest", () => void ran.push(instance)).everyMinute();
      return scheduler;
    });
    await a.pause("digest");
    const [skipped] = await b.runDue(minute(0));
    assert.equal(skipped.status === "skipped" && skipped.reason, "paused");
    assert.equal((await b.tasks())[0].paused, true);
    await b.resume("digest");
    await a.runDue(minute(1));
    assert.deepEqual(ran, ["a"]);
    assert.equal((await a.tasks())[0].paused, false);
  });

  await t.step(
    "with only a RedisMutex the pause is shared too, and another prefix is not affected",
    async () => {
      const prefix = `mutex-${crypto.randomUUID()}`;
      const make = (prefixUsed: string) => {
        const scheduler = new Scheduler({
          mutex: new RedisMutex({ redis: stack.newRedis(), prefix: prefixUsed }),
        });
        scheduler.call("backup", () => {}).everyMinute();
        return scheduler;
      };
      const [a, b, elsewhere] = [make(prefix), make(prefix), make(`${prefix}-other`)];
      await a.pause("backup");
      assert.equal((await b.tasks())[0].paused, true);
      assert.equal((await elsewhere.tasks())[0].paused, false);
      const [outcome] = await elsewhere.runDue(minute(0));
      assert.equal(outcome.status, "succeeded");
    },
  );

  await t.step(
    "run() on one instance is refused while another instance's run holds the overlap lock",
    async () => {
      const prefix = `overlap-${crypto.randomUUID()}`;
      const held = gate();
      let started = 0;
      const [a, b] = [0, 1].map(() => {
        const scheduler = new Scheduler({
          mutex: new RedisMutex({ redis: stack.newRedis(), prefix }),
        });
        scheduler.call("import", async () => {
          started++;
          await held.promise;
        }).hourly().withoutOverlapping(60_000);
        return scheduler;
      });
      const first = a.run("import");
      while (started === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const second = await b.run("import");
      assert.equal(second.status === "skipped" && second.reason, "overlapping");
      assert.equal(started, 1);
      held.open();
      assert.equal((await first).status, "succeeded");
      assert.equal((await b.run("import")).status, "succeeded");
    },
  );

  await t.step("one tick reads the paused tasks once, however many tasks are due", async () => {
    const { redis, count } = counting(UpstashRedis.fromClient(stack.newRedis()));
    const scheduler = new Scheduler({
      history: new RedisHistory({ redis, prefix: `tick-${crypto.randomUUID()}` }),
    });
    for (let i = 0; i < 5; i++) scheduler.call(`task-${i}`, () => {}).everyMinute();
    await scheduler.pause("task-3");
    const outcomes = await scheduler.runDue(minute(0));
    assert.equal(count("SMEMBERS"), 1);
    assert.deepEqual(outcomes.map((o) => o.status), [
      "succeeded",
      "succeeded",
      "succeeded",
      "skipped",
      "succeeded",
    ]);
    await scheduler.runDue(minute(1));
    assert.equal(count("SMEMBERS"), 2, "the next tick reads again");
  });

  await t.step(
    "names with Redis-special characters pause, run and keep history, every key under the prefix and hash tag",
    async () => {
      const prefix = `names-${crypto.randomUUID()}`;
      const marker = crypto.randomUUID();
      const names = [
        `${marker} a b`,
        `${marker}:history:x`,
        `${marker}{other}`,
        `}${marker}{`,
        `${marker}*?[]`,
        `${marker} ünïcødé 🙂`,
        `${marker}${"n".repeat(10_000)}`,
      ];
      const make = () => {
        const scheduler = new Scheduler({
          mutex: new RedisMutex({ redis: stack.newRedis(), prefix }),
          history: new RedisHistory({ redis: stack.newRedis(), prefix }),
        });
        for (const name of names) scheduler.call(name, () => {}).hourly().withoutOverlapping();
        return scheduler;
      };
      const [a, b] = [make(), make()];
      for (const name of names) await a.pause(name);
      assert.deepEqual((await b.tasks()).map((task) => task.paused), names.map(() => true));
      const skipped = await b.runDue(new Date(T0));
      assert.ok(skipped.every((o) => o.status === "skipped" && o.reason === "paused"));
      for (const name of names) {
        assert.equal((await b.run(name)).status, "succeeded");
        await b.resume(name);
      }
      const tasks = await a.tasks();
      assert.deepEqual(
        tasks.map((task) => [task.name, task.paused, task.history.length]),
        names.map((
          name,
        ) => [name, false, 1]),
      );
      // Every key a name went into stays under the scheduler's prefix and hash tag.
      const keys: string[] = [];
      let cursor = "0";
      do {
        const [next, page] = await stack.redis.scan(cursor, { match: `*${marker}*`, count: 1_000 });
        keys.push(...page);
        cursor = String(next);
      } while (cursor !== "0");
      assert.equal(keys.length, names.length, "one history per task, the overlap locks released");
      assert.ok(keys.every((key) => key.startsWith(`${prefix}:{scheduler}:history:`)), keys.join());
    },
  );

  await t.step(
    "with Redis stopped, pause() fails with REDIS_UNAVAILABLE and due runs go on, reported",
    async () => {
      const prefix = `outage-${crypto.randomUUID()}`;
      let ran = 0;
      const phases: string[] = [];
      const scheduler = new Scheduler({
        mutex: new RedisMutex({ redis: stack.newRedis(), prefix }),
        onError: (_error, info) => void phases.push(info.phase),
      });
      scheduler.call("charge", () => void ran++).everyMinute();
      await stack.stopRedis();
      try {
        for (
          const call of [scheduler.pause("charge"), scheduler.resume("charge"), scheduler.tasks()]
        ) {
          await assert.rejects(
            call,
            (error: unknown) => error instanceof RedisError && error.code === "REDIS_UNAVAILABLE",
          );
        }
        const [outcome] = await scheduler.runDue(minute(0));
        assert.equal(outcome.status, "succeeded");
        assert.equal(ran, 1);
        assert.deepEqual(phases, ["reading paused tasks"]);
        // run() of a task that needs the overlap lock does not run it without the lock.
        let guarded = 0;
        scheduler.call("refund", () => void guarded++).daily().withoutOverlapping();
        const refused = await scheduler.run("refund");
        assert.ok(
          refused.status === "failed" && refused.error instanceof RedisError &&
            refused.error.code === "REDIS_UNAVAILABLE",
        );
        assert.equal(guarded, 0);
      } finally {
        await stack.startRedis();
      }
      // Back with Redis (restarted empty: the test stack keeps no snapshot), pausing works again.
      await scheduler.pause("charge");
      assert.equal((await scheduler.tasks())[0].paused, true);
    },
  );
});
