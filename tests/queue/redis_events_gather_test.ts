/**
 * A take that follows a published message within 10 ms, while jobs are still
 * active, holds its changes back for the next call (publish() in
 * src/queue/lua/includes/jobs.lua): a busy worker's takes reach the gateway and
 * every live view as a few messages, not one each. These check that nothing is
 * lost or reordered on the way, that held changes never grow without bound,
 * and that they still arrive when no later call comes (a worker that died
 * with its jobs active).
 *
 * The window is opened on purpose by writing the stats' `eventsAt` (when a
 * message last went out) into the future, so the holding does not depend on
 * how fast this machine is.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import {
  defineJob,
  type JobEvent,
  Queue,
  RedisBackend,
  silentLogger,
  Worker,
} from "../../src/queue/mod.ts";
import type { Clock } from "../../src/clock.ts";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { createClient } from "redis";

const job = defineJob({ name: "g", schema: v.number(), handle() {} });
const FAR_FUTURE = "9999999999999";
/** The cap on held changes (MAX_HELD_BYTES in includes/jobs.lua). */
const MAX_HELD_BYTES = 65_536;
/** The key of the changes a queue's takes held back, beside its stats. */
const heldOf = (stats: string) => stats.replace(/:stats$/, ":held");
/**
 * A clock whose timers never fire, for the backend that takes: it never publishes held
 * changes itself (src/queue/_held_changes.ts), as a process that died would not, so
 * only the scripts' own rules decide what goes out when.
 */
const frozen: Clock = { now: () => Date.now(), setTimeout: () => undefined, clearTimeout() {} };

/**
 * Opens a live view of `prefix`'s default queue on the stack's Redis and reads it into
 * `seen` until stopped, once it is listening; `until(n)` waits for n changes.
 */
async function listen(stack: RedisStack, prefix: string, clock?: Clock) {
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix, clock }) });
  const controller = new AbortController();
  const events = queue.events({ queues: ["default"], signal: controller.signal });
  await events.ready;
  const seen: JobEvent[] = [];
  const reading = (async () => {
    for await (const event of events) seen.push(event);
  })();
  return {
    seen,
    async until(count: number, timeoutMs = 15_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (seen.length < count && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(seen.length, count, `heard ${seen.length} of ${count} changes`);
    },
    async stop(): Promise<void> {
      controller.abort();
      await reading;
    },
  };
}

/** Each job's states in the order heard. */
function statesById(seen: readonly JobEvent[]): Map<string, string[]> {
  const byId = new Map<string, string[]>();
  for (const event of seen) byId.set(event.id, [...(byId.get(event.id) ?? []), event.state]);
  return byId;
}

Deno.test("takes while jobs are active share messages: one for four takes at most here, every change heard once, in order", async () => {
  await using stack = await startRedisStack();
  const backend = new RedisBackend({ redis: stack.newRedis(), prefix: "gather", clock: frozen });
  let takes = 0;
  let pinning = false;
  const take = backend.take.bind(backend);
  backend.take = async (request) => {
    takes++;
    const result = await take(request);
    // Every take finds the window open: only a take that leaves no job active sends.
    if (pinning) await stack.redis.hset("gather:{default}:stats", { eventsAt: FAR_FUTURE });
    return result;
  };
  const queue = new Queue({ backend });
  const view = await listen(stack, "gather");
  let messages = 0;
  const bare = await backend.redis.subscribe("gather:{default}:events", {
    onMessage: () => void messages++,
  });
  try {
    const jobs = await queue.dispatchMany(job, Array.from({ length: 300 }, (_, n) => n));
    await view.until(300); // each job's "waiting", from the dispatch
    await stack.redis.hset("gather:{default}:stats", { eventsAt: FAR_FUTURE });
    pinning = true;
    const before = messages;
    const drained = await new Worker(queue, { jobs: [job], concurrency: 20, logger: silentLogger })
      .drain();
    assert.equal(drained.completed, 300);
    await view.until(900);
    const published = messages - before;
    assert.ok(published >= 1 && published * 4 <= takes, `${published} messages for ${takes} takes`);
    const byId = statesById(view.seen);
    assert.deepEqual([...byId.keys()].sort(), jobs.map((j) => j.id).sort());
    for (const states of byId.values()) {
      assert.deepEqual(states, ["waiting", "active", "completed"]);
    }
    assert.equal(
      await stack.redis.exists("gather:{default}:held"),
      0,
      "none left held",
    );
  } finally {
    await bare.close();
    await view.stop();
  }
});

Deno.test("held changes never pass 64 KB: a long burst goes out in pieces, none lost", async () => {
  await using stack = await startRedisStack();
  const backend = new RedisBackend({ redis: stack.newRedis(), prefix: "cap", clock: frozen });
  const stats = "cap:{default}:stats";
  const probe = stack.newRedis();
  let mostHeld = 0;
  const take = backend.take.bind(backend);
  backend.take = async (request) => {
    const result = await take(request);
    // Every take finds the window open: only the cap (or no job left active) sends them.
    mostHeld = Math.max(mostHeld, await probe.strlen(heldOf(stats)));
    await probe.hset(stats, { eventsAt: FAR_FUTURE });
    return result;
  };
  const queue = new Queue({ backend, retain: { completed: false } });
  await queue.dispatchMany(job, Array.from({ length: 1_500 }, (_, n) => n));
  const view = await listen(stack, "cap");
  try {
    await probe.hset(stats, { eventsAt: FAR_FUTURE });
    await new Worker(queue, { jobs: [job], concurrency: 50, logger: silentLogger }).drain();
    await view.until(3_000);
    // One take's own changes (at most 50 jobs, two changes each) may join a full hold.
    assert.ok(mostHeld < MAX_HELD_BYTES + 8_192, `held ${mostHeld} bytes`);
    assert.ok(mostHeld > MAX_HELD_BYTES / 2, `held only ${mostHeld} bytes: nothing was gathered`);
    for (const states of statesById(view.seen).values()) {
      assert.deepEqual(states, ["active", "completed"]);
    }
  } finally {
    await view.stop();
  }
});

Deno.test("a holding take writes only its own changes: the AOF grows by them, not by all held so far", async () => {
  await using stack = await startRedisStack();
  const direct = createClient({ url: stack.redisUrl });
  await direct.connect();
  const persistence = async (field: string) =>
    Number(new RegExp(`${field}:(\\d+)`).exec(await direct.info("persistence"))?.[1]);
  try {
    // Replicas and the AOF get a script's writes as they are made: what a take writes
    // there is what it costs every copy of the data.
    await direct.configSet("appendonly", "yes");
    while (
      await persistence("aof_rewrite_in_progress") !== 0 ||
      await persistence("aof_rewrite_scheduled") !== 0
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const stats = "aof:{default}:stats";
    const backend = new RedisBackend({ redis: stack.newRedis(), prefix: "aof", clock: frozen });
    await new Queue({ backend }).dispatchMany(job, Array.from({ length: 1_010 }, (_, n) => n));
    const view = await listen(stack, "aof");
    try {
      await stack.redis.hset(stats, { eventsAt: FAR_FUTURE });
      for (let i = 0; i < 10; i++) await takeOne(backend, 100); // about 3 KB of changes each
      const held = await stack.redis.strlen(heldOf(stats));
      assert.ok(held > 20_000, `held only ${held} bytes`);
      const before = await persistence("aof_current_size");
      for (let i = 0; i < 10; i++) await takeOne(backend, 1);
      const grew = await persistence("aof_current_size") - before;
      // A one-job take writes about 1 KB (its lease, attempt, run, memo, metrics and
      // change); rewriting all that is held would write more than `held` each time.
      assert.ok(grew < held, `the AOF grew ${grew} bytes for ten one-job takes, ${held} held`);
      assert.ok(await stack.redis.strlen(heldOf(stats)) > held, "the takes held their changes");
    } finally {
      await view.stop();
    }
  } finally {
    direct.destroy();
  }
});

Deno.test("changes held by a take no later call carries (its worker died) reach the watcher at its next renewal", async () => {
  await using stack = await startRedisStack();
  // The watcher renews its mark every 10 s: this clock keeps that timer for the test to fire.
  const renewals: (() => void)[] = [];
  const manual: Clock = {
    now: () => Date.now(),
    setTimeout: (callback, ms) => {
      if (ms < 10_000) return setTimeout(callback, ms);
      renewals.push(callback);
      return undefined;
    },
    clearTimeout: (handle) => clearTimeout(handle as number | undefined),
  };
  const view = await listen(stack, "dead", manual);
  const backend = new RedisBackend({ redis: stack.newRedis(), prefix: "dead", clock: frozen });
  const queue = new Queue({ backend });
  try {
    const { id } = await queue.dispatch(job, 1);
    await view.until(1);
    await stack.redis.hset("dead:{default}:stats", { eventsAt: FAR_FUTURE });
    // A worker's take reserves the job, then the worker is gone: no call follows.
    const token = crypto.randomUUID();
    const taken = await backend.take({
      queue: "default",
      now: Date.now(),
      complete: [],
      reserve: 1,
      leaseDuration: 60_000,
      token,
    });
    assert.deepEqual(taken.jobs.map((j) => j.id), [id]);
    assert.equal(await stack.redis.exists("dead:{default}:held"), 1, "held");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(view.seen.length, 1, "nothing carries the held change yet");
    assert.ok(renewals.length > 0);
    for (const renew of renewals.splice(0)) renew();
    await view.until(2, 5_000);
    assert.deepEqual(view.seen.map((e) => [e.id, e.state]), [[id, "waiting"], [id, "active"]]);
    assert.equal(await stack.redis.exists("dead:{default}:held"), 0);
  } finally {
    await view.stop();
  }
});

/** A direct take of up to `reserve` jobs, as a worker's would be. */
function takeOne(backend: RedisBackend, reserve = 1, token: string = crypto.randomUUID()) {
  return backend.take({
    queue: "default",
    now: Date.now(),
    complete: [],
    reserve,
    leaseDuration: 60_000,
    token,
  });
}

Deno.test("a live worker whose only slot runs a long job still gets its held changes out at once", async () => {
  await using stack = await startRedisStack();
  const view = await listen(stack, "busy");
  const queue = new Queue({
    backend: new RedisBackend({ redis: stack.newRedis(), prefix: "busy" }),
  });
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const long = defineJob({ name: "long", schema: v.number(), handle: () => released });
  const worker = new Worker(queue, { jobs: [job, long], concurrency: 1, logger: silentLogger });
  try {
    const a = await queue.dispatch(job, 1);
    const b = await queue.dispatch(long, 2);
    await view.until(2);
    // Every take holds: A's start, then A's end with B's start, wait in Redis while B runs.
    await stack.redis.hset("busy:{default}:stats", { eventsAt: FAR_FUTURE });
    worker.start();
    await view.until(5, 3_000);
    assert.deepEqual(view.seen.slice(2).map((e) => [e.id, e.state]), [
      [a.id, "active"],
      [a.id, "completed"],
      [b.id, "active"],
    ]);
  } finally {
    release();
    await worker.stop();
    await view.stop();
  }
});

Deno.test("the first change after a quiet spell is published at once, not held", async () => {
  await using stack = await startRedisStack();
  const view = await listen(stack, "quiet");
  const backend = new RedisBackend({ redis: stack.newRedis(), prefix: "quiet", clock: frozen });
  try {
    const { id } = await new Queue({ backend }).dispatch(job, 1);
    await view.until(1);
    await new Promise((resolve) => setTimeout(resolve, 50)); // five windows since it went out
    await takeOne(backend);
    assert.equal(await stack.redis.exists("quiet:{default}:held"), 0);
    await view.until(2, 3_000);
    assert.deepEqual(view.seen.map((e) => [e.id, e.state]), [[id, "waiting"], [id, "active"]]);
  } finally {
    await view.stop();
  }
});

Deno.test("a dispatch publishes the changes takes held before its own, in order", async () => {
  await using stack = await startRedisStack();
  const view = await listen(stack, "order");
  const backend = new RedisBackend({ redis: stack.newRedis(), prefix: "order", clock: frozen });
  const queue = new Queue({ backend });
  try {
    const a = await queue.dispatch(job, 1);
    await view.until(1);
    await stack.redis.hset("order:{default}:stats", { eventsAt: FAR_FUTURE });
    await takeOne(backend);
    assert.equal(await stack.redis.exists("order:{default}:held"), 1, "held");
    const b = await queue.dispatch(job, 2);
    await view.until(3, 3_000);
    assert.deepEqual(view.seen.map((e) => [e.id, e.state]), [
      [a.id, "waiting"],
      [a.id, "active"],
      [b.id, "waiting"],
    ]);
    assert.equal(await stack.redis.exists("order:{default}:held"), 0);
  } finally {
    await view.stop();
  }
});

Deno.test("changes held for a watcher that has gone are dropped by the next take, unpublished", async () => {
  await using stack = await startRedisStack();
  const stats = "gone:{default}:stats";
  const view = await listen(stack, "gone");
  const backend = new RedisBackend({ redis: stack.newRedis(), prefix: "gone", clock: frozen });
  let messages = 0;
  const bare = await backend.redis.subscribe("gone:{default}:events", {
    onMessage: () => void messages++,
  });
  try {
    await new Queue({ backend }).dispatch(job, 1);
    await view.until(1);
    await stack.redis.hset(stats, { eventsAt: FAR_FUTURE });
    await takeOne(backend);
    assert.equal(await stack.redis.exists(heldOf(stats)), 1, "held");
    await view.stop();
    await stack.redis.hset(stats, { watched: "1" }); // the mark ran out long ago
    const heard = messages;
    await takeOne(backend, 0);
    assert.equal(await stack.redis.exists(heldOf(stats)), 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(messages, heard, "nothing published for nobody");
  } finally {
    await bare.close();
  }
});

Deno.test("a message with ids no script writes is read around them, and the view keeps listening", async () => {
  await using stack = await startRedisStack();
  const view = await listen(stack, "forged");
  const backend = new RedisBackend({ redis: stack.newRedis(), prefix: "forged" });
  try {
    // Anyone holding the gateway's token may publish: an id whose toString throws must
    // not end the subscription (it would lose the rest of the message, and all after).
    await backend.redis.publish(
      "forged:{default}:events",
      '[{"at":1,"states":"www","ids":[{"toString":1},["x"],"plain"]},{"at":2,"states":"r","ids":[7]}]',
    );
    const { id } = await new Queue({ backend }).dispatch(job, 1);
    await view.until(3, 3_000);
    assert.deepEqual(view.seen.map((e) => [e.id, e.state]), [
      ["plain", "waiting"],
      ["7", "removed"],
      [id, "waiting"],
    ]);
  } finally {
    await view.stop();
  }
});

Deno.test("a replayed take (its answer was lost) publishes what is held, and reserves nothing twice", async () => {
  await using stack = await startRedisStack();
  const stats = "replay:{default}:stats";
  const view = await listen(stack, "replay");
  const backend = new RedisBackend({ redis: stack.newRedis(), prefix: "replay", clock: frozen });
  try {
    const { id } = await new Queue({ backend }).dispatch(job, 1);
    await view.until(1);
    await stack.redis.hset(stats, { eventsAt: FAR_FUTURE });
    const token = crypto.randomUUID();
    const first = await takeOne(backend, 1, token);
    assert.equal(await stack.redis.exists(heldOf(stats)), 1, "held");
    const again = await takeOne(backend, 1, token);
    assert.deepEqual(again.jobs.map((j) => j.id), first.jobs.map((j) => j.id));
    await view.until(2, 3_000);
    assert.deepEqual(view.seen.map((e) => [e.id, e.state]), [[id, "waiting"], [id, "active"]]);
    assert.equal(await stack.redis.exists(heldOf(stats)), 0);
  } finally {
    await view.stop();
  }
});

Deno.test("a held key someone overwrote with another type is dropped: takes lose no job, and a view still opens and hears them", async () => {
  await using stack = await startRedisStack();
  const stats = "foreign:{default}:stats";
  const backend = new RedisBackend({ redis: stack.newRedis(), prefix: "foreign", clock: frozen });
  const queue = new Queue({ backend });
  await queue.dispatchMany(job, Array.from({ length: 10 }, (_, n) => n));
  // Someone else's LPUSH while a view listens (its mark), then a take, then a view opening.
  await stack.redis.hset(stats, { watched: FAR_FUTURE });
  await stack.redis.lpush(heldOf(stats), "x");
  const first = await takeOne(backend, 4);
  assert.equal(first.jobs.length, 4);
  assert.equal(await stack.redis.type(heldOf(stats)), "none", "the foreign value is gone");
  await stack.redis.lpush(heldOf(stats), "x");
  const view = await listen(stack, "foreign");
  try {
    const second = await takeOne(backend, 100);
    assert.equal(second.jobs.length, 6, "every other job is reserved: none was stranded");
    await view.until(6);
    assert.deepEqual(new Set(view.seen.map((e) => e.state)), new Set(["active"]));
    const counts = await queue.counts("default");
    assert.deepEqual([counts.ready, counts.active], [0, 10]);
  } finally {
    await view.stop();
  }
});
