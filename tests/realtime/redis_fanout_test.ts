import assert from "node:assert/strict";
import { RedisError } from "../../src/errors.ts";
import { RedisFanout } from "../../src/realtime/redis_fanout.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { type WatchedFetch, watchedFetch } from "./_support/watched_fetch.ts";
import { sign, startServer } from "./_support/server.ts";
import { TestClient, within } from "./_support/ws_client.ts";

async function connect(url: string, sub: string): Promise<TestClient> {
  return await TestClient.connect(url, await sign(sub, { claims: { name: sub } }));
}

/** Resubscribe waits (at most 400 ms here); presence heartbeats wait 10 s. */
const isRetry = (delay: number) => delay <= 400;

/**
 * Drives a fan-out's retries on its manual clock until the gateway confirms
 * a subscription again: each retry timer is fired as soon as it is armed.
 */
async function resubscribe(clock: ManualClock, watch: WatchedFetch): Promise<void> {
  const ready = watch.nextReady().then(() => null);
  for (;;) {
    const delay = await Promise.race([clock.timer(isRetry), ready]);
    if (delay === null) return;
    clock.advance(delay);
  }
}

/** A fan-out on the stack's gateway whose subscriptions are watched, on a manual clock. */
function watchedFanout(
  stack: RedisStack,
  prefix: string,
  clock: ManualClock,
  watch: WatchedFetch,
  onError: (error: unknown) => void = () => {},
): RedisFanout {
  return new RedisFanout({
    redis: new UpstashRedis({ url: stack.gatewayUrl, token: stack.token, fetch: watch.fetch }),
    prefix,
    clock,
    presenceTtl: 30_000,
    resubscribeDelay: { min: 50, max: 400 },
    random: () => 0, // equal jitter at its floor: waits of exactly half the ceiling
    onError,
  });
}

Deno.test("RedisFanout: two hub instances on one Redis deliver each other's broadcasts and share presence", async (t) => {
  await using stack = await startRedisStack();
  const prefix = `t${crypto.randomUUID().slice(0, 8)}`;
  const errors: unknown[] = [];
  const clockA = new ManualClock(Date.now()); // only advanced for retries: instance A will "freeze"
  const clockB = new ManualClock(Date.now());
  const watchA = watchedFetch();
  const watchB = watchedFetch();
  // No per-user cap: no slot heartbeats on the manual clocks beside the presence ones.
  await using a = startServer({
    hub: {
      fanout: watchedFanout(stack, prefix, clockA, watchA, (e) => errors.push(e)),
      maxConnectionsPerUser: Infinity,
    },
    realtime: { clientEvents: true },
  });
  await using b = startServer({
    hub: {
      fanout: watchedFanout(stack, prefix, clockB, watchB, (e) => errors.push(e)),
      maxConnectionsPerUser: Infinity,
    },
    realtime: { clientEvents: true },
  });

  await using alice = await connect(a.url, "alice");
  await using bob = await connect(b.url, "bob");

  await t.step("a broadcast on either instance reaches subscribers on both", async () => {
    await alice.subscribe("news");
    await bob.subscribe("news");
    await a.hub.broadcast("news", "from-a", 1);
    await b.hub.broadcast("news", "from-b", 2);
    for (const client of [alice, bob]) {
      assert.equal((await client.next("message", (m) => m.event === "from-a")).data, 1);
      assert.equal((await client.next("message", (m) => m.event === "from-b")).data, 2);
    }
  });

  await t.step(
    "client events cross instances with the sender's id and skip the sender",
    async () => {
      await alice.subscribe("presence-room.x");
      await bob.subscribe("presence-room.x");
      await alice.next("member_added", (m) => m.member.id === "bob");
      alice.send({ type: "publish", channel: "presence-room.x", event: "client-typing", data: 1 });
      const typed = await bob.next("message", (m) => m.event === "client-typing");
      assert.equal(typed.userId, "alice");
      await alice.roundTrip();
      assert.equal(alice.received.some((m) => m.type === "message"), false);
    },
  );

  await t.step("presence spans instances and announces each user once", async () => {
    const joined = await alice.subscribe("presence-room.1");
    assert.deepEqual(joined.members, [{ id: "alice", info: { name: "alice" } }]);
    const seen = await bob.subscribe("presence-room.1");
    assert.deepEqual(seen.members?.map((m) => m.id).sort(), ["alice", "bob"]);
    assert.equal(
      (await alice.next("member_added", (m) => m.channel === "presence-room.1")).member.id,
      "bob",
    );

    // A second tab of bob on the other instance: no second member_added, and its
    // leave announces nothing while bob is still on B.
    const bobOnA = await connect(a.url, "bob");
    await bobOnA.subscribe("presence-room.1");
    await bobOnA.close();
    // A third tab joins behind the second one's leave (A runs one user's presence
    // changes in order), so its `subscribed` proves that leave is done; the pong
    // that follows on alice's socket comes after anything it could have announced.
    await using bobAgain = await connect(a.url, "bob");
    await bobAgain.subscribe("presence-room.1");
    await alice.roundTrip();
    assert.equal(
      alice.received.some((m) => m.type === "member_added" || m.type === "member_removed"),
      false,
    );
    await bobAgain.close();

    await bob.send({ type: "unsubscribe", channel: "presence-room.1" });
    const removed = await alice.next("member_removed", (m) => m.channel === "presence-room.1");
    assert.equal(removed.member.id, "bob");
    assert.deepEqual((await b.hub.members("presence-room.1")).map((m) => m.id), ["alice"]);
  });

  await t.step("a crashed instance's members disappear once its heartbeat lapses", async () => {
    await alice.subscribe("presence-room.2");
    await bob.subscribe("presence-room.2");
    await alice.next("member_added", (m) => m.channel === "presence-room.2");
    // Instance A stops heartbeating (its clock stands still); B lives on past A's
    // deadline (A's clock + 30 s). B's heartbeats (presence, channel counts) fire
    // every 10 s of its clock and are armed again once their calls return: time
    // moves on 10 s at a time until the presence heartbeat that prunes A has run.
    const leaving = bob.next(
      "member_removed",
      (m) => m.channel === "presence-room.2" && m.member.id === "alice",
    );
    let removed = false;
    leaving.then(() => removed = true, () => {});
    clockB.advance(40_000);
    while (!removed) {
      await clockB.timer((delay) => delay === 10_000);
      await new Promise((resolve) => setTimeout(resolve, 10));
      clockB.advance(10_000);
    }
    const gone = await leaving;
    assert.equal(gone.member.id, "alice");
    assert.deepEqual((await b.hub.members("presence-room.2")).map((m) => m.id), ["bob"]);
  });

  await t.step("fan-out survives a Redis restart by subscribing again with back-off", async () => {
    await stack.stopRedis();
    await stack.startRedis();
    await Promise.all([resubscribe(clockA, watchA), resubscribe(clockB, watchB)]);
    assert.ok(errors.length > 0, "the lost subscription was reported");
    // Both instances listen again; a publish may still meet the gateway reconnecting.
    let published = false;
    for (let i = 0; i < 50 && !published; i++) {
      published = await b.hub.broadcast("news", "after-restart", 3).then(() => true, () => false);
    }
    assert.ok(published, "B could publish after the restart");
    assert.equal((await alice.next("message", (m) => m.event === "after-restart")).data, 3);
  });
});

Deno.test("RedisFanout: fan-out survives a gateway crash, resubscribing with capped back-off, and presence stays intact", async () => {
  await using stack = await startRedisStack();
  const prefix = `t${crypto.randomUUID().slice(0, 8)}`;
  const clockA = new ManualClock(Date.now());
  const clockB = new ManualClock(Date.now());
  const watchA = watchedFetch();
  const watchB = watchedFetch();
  const readyA = watchA.nextReady();
  const readyB = watchB.nextReady();
  const errorsOnA: unknown[] = [];
  await using a = startServer({
    hub: {
      fanout: watchedFanout(stack, prefix, clockA, watchA, (e) => errorsOnA.push(e)),
      maxConnectionsPerUser: Infinity,
    },
  });
  await using b = startServer({
    hub: { fanout: watchedFanout(stack, prefix, clockB, watchB), maxConnectionsPerUser: Infinity },
  });
  await using alice = await connect(a.url, "alice");
  await using bob = await connect(b.url, "bob");
  for (const client of [alice, bob]) await client.subscribe("news");
  await alice.subscribe("presence-room.g");
  await bob.subscribe("presence-room.g");
  await alice.next("member_added", (m) => m.member.id === "bob");
  await Promise.all([readyA, readyB]);
  // Distinct events per direction: the sender's own subscribers get theirs locally.
  await b.hub.broadcast("news", "before-b-to-a", null);
  await alice.next("message", (m) => m.event === "before-b-to-a");
  await a.hub.broadcast("news", "before-a-to-b", null);
  await bob.next("message", (m) => m.event === "before-a-to-b");

  const firstRetry = clockA.timer(isRetry);
  await stack.stopGateway(); // SIGKILL: the SSE streams break mid-flight
  // A noticed: it reported the loss and armed its first retry, without waiting for time.
  // (A guard, not a measure: a retry armed on anything but the injected clock never shows.)
  const first = await within(firstRetry, 5_000, "a retry armed on the fan-out's clock");
  assert.equal(first, 25, "the first wait is half the 50 ms ceiling");
  assert.ok(errorsOnA.length > 0);
  assert.ok(errorsOnA.every((e) => e instanceof RedisError && e.code === "REDIS_UNAVAILABLE"));

  // While the gateway is down a broadcast still reaches its own instance's
  // subscribers, but the publish fails and other instances never see it.
  await assert.rejects(
    () => b.hub.broadcast("news", "during-outage", null),
    (e) => e instanceof RedisError && e.code === "REDIS_UNAVAILABLE",
  );
  await bob.next("message", (m) => m.event === "during-outage");

  // Each retry waits for its timer and makes exactly one attempt; the ceiling
  // doubles from 50 ms and stops at 400 ms.
  const waits: number[] = [];
  for (let i = 0; i < 6; i++) {
    const wait = await clockA.timer(isRetry);
    waits.push(wait);
    const attempts = watchA.attempts;
    const next = clockA.nextTimer(isRetry);
    clockA.advance(wait);
    await next; // the attempt failed and armed the next retry
    assert.equal(watchA.attempts, attempts + 1, "one attempt per retry, none in between");
  }
  assert.deepEqual(waits, [25, 50, 100, 200, 200, 200]);

  await stack.startGateway();
  await Promise.all([resubscribe(clockA, watchA), resubscribe(clockB, watchB)]);
  await b.hub.broadcast("news", "after-b-to-a", null);
  await alice.next("message", (m) => m.event === "after-b-to-a");
  await a.hub.broadcast("news", "after-a-to-b", null);
  await bob.next("message", (m) => m.event === "after-a-to-b");
  // The subscription came back: the next loss starts from the first wait again.
  const afterReset = clockA.nextTimer(isRetry);
  await stack.stopGateway();
  assert.equal(await afterReset, 25, "the back-off starts over after a success");
  await stack.startGateway();
  await Promise.all([resubscribe(clockA, watchA), resubscribe(clockB, watchB)]);
  assert.equal(
    alice.received.some((m) => m.type === "message" && m.event === "during-outage"),
    false,
  );

  // Presence lived in Redis, which never went away: nobody was removed, and
  // a join after the restart is announced across instances exactly once.
  for (const hub of [a.hub, b.hub]) {
    assert.deepEqual((await hub.members("presence-room.g")).map((m) => m.id).sort(), [
      "alice",
      "bob",
    ]);
  }
  await using carol = await connect(b.url, "carol");
  await carol.subscribe("presence-room.g");
  await alice.next("member_added", (m) => m.member.id === "carol");
  await alice.roundTrip();
  for (const client of [alice, bob]) {
    assert.equal(client.received.some((m) => m.type === "member_removed"), false);
  }
  assert.equal(alice.received.some((m) => m.type === "member_added"), false);
});

Deno.test("RedisFanout: with every request sent twice, presence is announced exactly once and broadcasts arrive once", async () => {
  await using stack = await startRedisStack();
  const prefix = `t${crypto.randomUUID().slice(0, 8)}`;
  // Each request reaches the gateway twice and the caller sees the second answer,
  // as when the HTTP client retries after the first response was lost.
  let replayed = 0;
  const twice: typeof fetch = async (input, init) => {
    // The first copy gets no abort signal: the second one owns the request.
    const first = await fetch(input, { ...init, signal: undefined });
    await first.body?.cancel();
    replayed++;
    return await fetch(input, init);
  };
  const fanout = (redis: UpstashRedis | ReturnType<typeof stack.newRedis>) =>
    new RedisFanout({ redis, prefix, onError: () => {} });
  await using a = startServer({ hub: { fanout: fanout(stack.newRedis()) } });
  await using b = startServer({
    hub: {
      fanout: fanout(new UpstashRedis({ url: stack.gatewayUrl, token: stack.token, fetch: twice })),
    },
  });
  await using alice = await connect(a.url, "alice");
  await alice.subscribe("presence-room.r");
  await alice.subscribe("news");

  const bob = await connect(b.url, "bob");
  const joined = await bob.subscribe("presence-room.r");
  assert.deepEqual(joined.members?.map((m) => m.id).sort(), ["alice", "bob"]);
  const added = await alice.next("member_added", (m) => m.member.id === "bob");
  assert.deepEqual(added.member, { id: "bob", info: { name: "bob" } });

  await b.hub.broadcast("news", "once", 1);
  await alice.next("message", (m) => m.event === "once");

  await bob.close(); // the leave is replayed too, and must still announce the removal
  const removed = await alice.next("member_removed", (m) => m.member.id === "bob");
  assert.equal(removed.member.id, "bob");
  // B's close waits for its presence changes, so every copy it published is in Redis
  // now. A sentinel published after them reaches A after any duplicate would have.
  await b.hub.close();
  const sentinel = JSON.stringify({ type: "message", channel: "news", event: "sentinel", data: 0 });
  const topic = `${prefix}:{realtime}:fanout`;
  await stack.redis.publish(topic, JSON.stringify({ i: "test", n: 0, c: "news", p: sentinel }));
  await alice.next("message", (m) => m.event === "sentinel");
  assert.ok(replayed > 0, "requests were replayed");
  assert.deepEqual(
    alice.received.map((m) => m.type),
    [],
    "no second member_added, message or member_removed",
  );
  assert.deepEqual((await a.hub.members("presence-room.r")).map((m) => m.id), ["alice"]);
});

Deno.test("RedisFanout refuses a resubscribe back-off that would retry in a tight loop", () => {
  const redis = new UpstashRedis({ url: "http://127.0.0.1:9", token: "t" });
  for (
    const resubscribeDelay of [{ min: 0, max: 0 }, { min: -1, max: 10 }, { min: 50, max: 10 }]
  ) {
    assert.throws(() => new RedisFanout({ redis, resubscribeDelay }), RangeError);
  }
  new RedisFanout({ redis, resubscribeDelay: { min: 10, max: 10 } });
});
