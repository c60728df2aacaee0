import assert from "node:assert/strict";
import { UpstashRedis } from "../../src/redis/mod.ts";
import {
  RedisHistory,
  RedisMutex,
  Scheduler,
  type TaskRunRecord,
} from "../../src/scheduler/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { Keyspace } from "../../src/redis/keys.ts";
import { FakeClock } from "./_fake_clock.ts";

const T0 = Date.parse("2025-06-02T12:00:00Z");

function record(task: string, scheduledAt: number, status: TaskRunRecord["status"] = "succeeded") {
  return {
    task,
    scheduledAt,
    startedAt: scheduledAt,
    finishedAt: scheduledAt + 5,
    duration: 5,
    status,
    attempts: 1,
    instance: "test",
    trigger: "schedule",
  } satisfies TaskRunRecord;
}

Deno.test("the scheduler on a real Redis through the HTTP gateway", async (t) => {
  await using stack = await startRedisStack();

  await t.step("three schedulers with onOneServer() run each due time exactly once", async () => {
    const ranOn: { instance: string; scheduledAt: number }[] = [];
    const schedulers = ["a", "b", "c"].map((instance) => {
      // Each instance has its own client, as separate processes would.
      const redis = stack.newRedis();
      const scheduler = new Scheduler({
        instance,
        mutex: new RedisMutex({ redis, prefix: "one-server" }),
        history: new RedisHistory({ redis, prefix: "one-server" }),
      });
      scheduler.call("backup", ({ scheduledAt }) => {
        ranOn.push({ instance, scheduledAt: scheduledAt.getTime() });
      }).everyMinute().onOneServer();
      return scheduler;
    });
    const dueTimes = [0, 1, 2, 3, 4, 5].map((minute) => T0 + minute * 60_000);
    for (const due of dueTimes) {
      // Every instance ticks at once, and one of them gets the tick twice.
      await Promise.all([
        ...schedulers.map((scheduler) => scheduler.runDue(new Date(due))),
        schedulers[1].runDue(new Date(due)),
      ]);
    }
    assert.deepEqual(ranOn.map((run) => run.scheduledAt).sort(), dueTimes);
    const history = await schedulers[2].history("backup");
    assert.deepEqual(history.map((run) => run.scheduledAt), [...dueTimes].reverse());
    assert.deepEqual(
      history.map((run) => run.instance).sort(),
      ranOn.map((run) => run.instance).sort(),
    );
  });

  await t.step(
    "history in Redis keeps the newest runs per task and is readable by another instance",
    async () => {
      const history = new RedisHistory({ redis: stack.redis, prefix: "history", limit: 3 });
      for (let i = 0; i < 5; i++) await history.record(record("report", T0 + i * 1_000));
      // A retried request replays the same record: nothing changes.
      await history.record(record("report", T0 + 4_000));
      await history.record(record("other", T0, "failed"));
      const runs = await history.list("report");
      assert.deepEqual(runs.map((run) => run.scheduledAt), [T0 + 4_000, T0 + 3_000, T0 + 2_000]);
      assert.deepEqual(runs[0], record("report", T0 + 4_000));
      assert.deepEqual((await history.list("report", 1)).length, 1);

      const reader = new Scheduler({
        history: new RedisHistory({ redis: stack.newRedis(), prefix: "history" }),
      });
      reader.call("report", () => {}).everySecond();
      reader.call("other", () => {}).hourly();
      reader.call("never-ran", () => {}).daily();
      const [report, other, neverRan] = await reader.list({ count: 0 });
      assert.equal(report.lastRun?.scheduledAt, T0 + 4_000);
      assert.equal(other.lastRun?.status, "failed");
      assert.equal(neverRan.lastRun, undefined);

      const key = new Keyspace("scheduler", "history").key("history", "report");
      const ttl = await stack.redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 2_592_000_000, `history key has a retention TTL, got ${ttl}`);
    },
  );

  await t.step("a crashed holder's overlap lock in Redis expires after its TTL", async () => {
    const mutex = new RedisMutex({ redis: stack.redis, prefix: "crash" });
    assert.equal(await mutex.acquire("overlap:sync", "crashed-process", 300), true);
    let runs = 0;
    const scheduler = new Scheduler({
      mutex: new RedisMutex({ redis: stack.newRedis(), prefix: "crash" }),
    });
    scheduler.call("sync", () => runs++).everySecond().withoutOverlapping(300);
    const [blocked] = await scheduler.runDue(new Date(T0));
    assert.equal(blocked.status === "skipped" && blocked.reason, "overlapping");
    // No fixed sleep: wait until Redis itself has expired the crashed holder's lock.
    const lock = new Keyspace("scheduler", "crash").key("lock", "overlap:sync");
    while (await stack.redis.exists(lock) === 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const [freed] = await scheduler.runDue(new Date(T0 + 1_000));
    assert.equal(freed.status, "succeeded");
    assert.equal(runs, 1);
    // Released at the end of the run: the next occurrence does not wait for the TTL.
    const [next] = await scheduler.runDue(new Date(T0 + 2_000));
    assert.equal(next.status, "succeeded");
  });

  await t.step(
    "the mutex accepts a RedisLike port as well as an @upstash/redis client",
    async () => {
      const port = UpstashRedis.fromClient(stack.redis);
      const mutex = new RedisMutex({ redis: port, prefix: "port" });
      assert.equal(await mutex.acquire("k", "one", 10_000), true);
      assert.equal(await mutex.acquire("k", "two", 10_000), false);
      await mutex.release("k", "two"); // not the holder: no effect
      assert.equal(await mutex.acquire("k", "two", 10_000), false);
      await mutex.release("k", "one");
      assert.equal(await mutex.acquire("k", "two", 10_000), true);
      assert.throws(() => new RedisMutex({ redis: {} }), TypeError);
      assert.throws(() => new RedisMutex({ redis: port, prefix: "bad{ns}" }), TypeError);
    },
  );

  await t.step(
    "with Redis down, onOneServer tasks fail without running and other tasks still run",
    async () => {
      const errors: string[] = [];
      const scheduler = new Scheduler({
        mutex: new RedisMutex({ redis: stack.newRedis(), prefix: "down" }),
        history: new RedisHistory({ redis: stack.newRedis(), prefix: "down" }),
        onError: (_error, info) => errors.push(`${info.task}: ${info.phase}`),
      });
      let shared = 0;
      let local = 0;
      scheduler.call("shared", () => shared++).everyMinute().onOneServer();
      scheduler.call("local", () => local++).everyMinute();
      await stack.stopRedis();
      try {
        const outcomes = await scheduler.runDue(new Date(T0));
        const byTask = Object.fromEntries(outcomes.map((o) => [o.task, o]));
        assert.equal(byTask.shared.status, "failed");
        assert.equal(byTask.local.status, "succeeded");
        assert.equal(shared, 0);
        assert.equal(local, 1);
        // The paused tasks live in that Redis too: unreadable, they are reported, not obeyed.
        assert.deepEqual(errors.sort(), [
          "local: reading paused tasks",
          "local: recording history",
          "shared: reading paused tasks",
          "shared: recording history",
        ]);
      } finally {
        await stack.startRedis();
      }
    },
  );
});

Deno.test("a scheduler whose clock runs 30 s ahead cannot run a one-server occurrence twice: claims expire on Redis's clock", async () => {
  await using stack = await startRedisStack();
  const occurrence = Date.parse("2025-06-02T12:01:00Z");
  const skew = 30_000;
  // The true clock is 30 s before the occurrence; the fast one is already at it.
  const clocks = { true: new FakeClock(occurrence - skew), ahead: new FakeClock(occurrence) };
  const ran: string[] = [];
  const schedulers = (["true", "ahead"] as const).map((instance) => {
    const scheduler = new Scheduler({
      instance,
      clock: clocks[instance],
      mutex: new RedisMutex({ redis: stack.newRedis(), prefix: "skew" }),
    });
    scheduler.call("backup", () => void ran.push(instance)).everyMinute().onOneServer();
    return scheduler;
  });
  for (const scheduler of schedulers) await scheduler.start();
  try {
    await clocks.ahead.advance(0); // the fast scheduler reaches 12:01 first and claims it
    await waitUntil(() => ran.length === 1);
    // The claim lives its whole TTL on Redis's clock, whatever the claimer's clock said:
    // far longer than the skew, so the true scheduler still finds it.
    const claim = new Keyspace("scheduler", "skew").key("lock", `run:backup:${occurrence}`);
    const ttl = await stack.redis.pttl(claim);
    assert.ok(ttl > skew && ttl <= 3_600_000, `claim TTL ${ttl} ms`);
    await clocks.true.advance(skew); // 30 s later the true scheduler reaches 12:01 too
    await clocks.ahead.advance(skew);
  } finally {
    for (const scheduler of schedulers) await scheduler.stop();
  }
  assert.deepEqual(ran, ["ahead"]);
});

/** Polls `check` on real time until it holds (for runs launched by a fake clock's timer). */
async function waitUntil(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
}
