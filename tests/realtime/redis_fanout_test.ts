import assert from "node:assert/strict";
import { RedisError } from "../../src/errors.ts";
import { RedisFanout } from "../../src/realtime/redis_fanout.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { ManualClock } from "./_support/manual_clock.ts";
import { sign, startServer } from "./_support/server.ts";
import { TestClient } from "./_support/ws_client.ts";

async function connect(url: string, sub: string): Promise<TestClient> {
  return await TestClient.connect(url, await sign(sub, { claims: { name: sub } }));
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Broadcasts from `from` until `to` receives it; resolves how long that took. */
async function timeUntilDelivered(
  from: { hub: { broadcast(c: string, e: string, d: unknown): Promise<void> } },
  to: TestClient,
  event: string,
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    // Lost while the receiving instance has not subscribed again yet; try again.
    await from.hub.broadcast("news", event, null).catch(() => {});
    const delivered = await to.next("message", (m) => m.event === event, 100)
      .then(() => true, () => false);
    if (delivered) return Date.now() - started;
  }
  throw new Error(`${event} was not delivered within ${timeoutMs} ms`);
}

Deno.test("RedisFanout: two hub instances on one Redis deliver each other's broadcasts and share presence", async (t) => {
  await using stack = await startRedisStack();
  const name = `t${crypto.randomUUID().slice(0, 8)}`;
  const errors: unknown[] = [];
  const fanout = (clock?: ManualClock) =>
    new RedisFanout({
      redis: stack.newRedis(),
      name,
      clock,
      presenceTtlMs: 30_000,
      resubscribeDelayMs: { min: 50, max: 400 },
      onError: (error) => errors.push(error),
    });
  const clockA = new ManualClock(Date.now()); // never advanced: instance A will "freeze"
  const clockB = new ManualClock(Date.now());
  await using a = startServer({
    hub: { fanout: fanout(clockA) },
    realtime: { clientEvents: true },
  });
  await using b = startServer({
    hub: { fanout: fanout(clockB) },
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

    // A second tab of bob on the other instance: no second member_added.
    const bobOnA = await connect(a.url, "bob");
    await bobOnA.subscribe("presence-room.1");
    await bobOnA.close();
    await alice.roundTrip();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(
      alice.received.some((m) => m.type === "member_added" || m.type === "member_removed"),
      false,
    );

    await bob.send({ type: "unsubscribe", channel: "presence-room.1" });
    const removed = await alice.next("member_removed", (m) => m.channel === "presence-room.1");
    assert.equal(removed.member.id, "bob");
    assert.deepEqual((await b.hub.members("presence-room.1")).map((m) => m.id), ["alice"]);
  });

  await t.step("a crashed instance's members disappear once its heartbeat lapses", async () => {
    await alice.subscribe("presence-room.2");
    await bob.subscribe("presence-room.2");
    await alice.next("member_added", (m) => m.channel === "presence-room.2");
    // Instance A stops heartbeating (its clock is frozen); B lives on past A's deadline.
    // B's heartbeats (every 10 s of its clock) prune A's members once A's deadline passes.
    const isGone = (m: { channel: string; member: { id: string } }) =>
      m.channel === "presence-room.2" && m.member.id === "alice";
    for (
      let i = 0;
      i < 40 && !bob.received.some((m) => m.type === "member_removed" && isGone(m));
      i++
    ) {
      clockB.advance(10_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const gone = await bob.next("member_removed", isGone);
    assert.equal(gone.member.id, "alice");
    assert.deepEqual((await b.hub.members("presence-room.2")).map((m) => m.id), ["bob"]);
  });

  await t.step("fan-out survives a Redis restart by subscribing again with back-off", async () => {
    await stack.stopRedis();
    await stack.startRedis();
    const deadline = Date.now() + 15_000;
    let delivered = false;
    while (!delivered && Date.now() < deadline) {
      await b.hub.broadcast("news", "after-restart", 3).catch(() => {});
      delivered = await alice.next("message", (m) => m.event === "after-restart", 300)
        .then(() => true, () => false);
    }
    assert.ok(delivered, "a broadcast on B reached A after the restart");
    assert.ok(errors.length > 0, "the lost subscription was reported");
  });
});

Deno.test("RedisFanout: fan-out survives a gateway crash, resubscribing with capped back-off, and presence stays intact", async () => {
  await using stack = await startRedisStack();
  const name = `t${crypto.randomUUID().slice(0, 8)}`;
  let subscribeAttempts = 0;
  const counting: typeof fetch = (input, init) => {
    if (String(input instanceof Request ? input.url : input).includes("/subscribe/")) {
      subscribeAttempts++;
    }
    return fetch(input, init);
  };
  const errorsOnA: unknown[] = [];
  await using a = startServer({
    hub: {
      fanout: new RedisFanout({
        redis: new UpstashRedis({ url: stack.gatewayUrl, token: stack.token, fetch: counting }),
        name,
        resubscribeDelayMs: { min: 50, max: 400 },
        onError: (error) => errorsOnA.push(error),
      }),
    },
  });
  await using b = startServer({
    hub: {
      fanout: new RedisFanout({
        redis: stack.newRedis(),
        name,
        resubscribeDelayMs: { min: 50, max: 400 },
        onError: () => {},
      }),
    },
  });
  await using alice = await connect(a.url, "alice");
  await using bob = await connect(b.url, "bob");
  for (const client of [alice, bob]) await client.subscribe("news");
  await alice.subscribe("presence-room.g");
  await bob.subscribe("presence-room.g");
  await alice.next("member_added", (m) => m.member.id === "bob");
  // Distinct events per direction: the sender's own subscribers get theirs locally.
  await timeUntilDelivered(b, alice, "before-b-to-a", 3_000);
  await timeUntilDelivered(a, bob, "before-a-to-b", 3_000);

  await stack.stopGateway(); // SIGKILL: the SSE streams break mid-flight
  await waitFor(() => errorsOnA.length > 0, "instance A noticed its subscription was lost");
  assert.ok(errorsOnA.every((e) => e instanceof RedisError && e.code === "REDIS_UNAVAILABLE"));

  // While the gateway is down a broadcast still reaches its own instance's
  // subscribers, but the publish fails and other instances never see it.
  await assert.rejects(
    () => b.hub.broadcast("news", "during-outage", null),
    (e) => e instanceof RedisError && e.code === "REDIS_UNAVAILABLE",
  );
  await bob.next("message", (m) => m.event === "during-outage");

  const attemptsBefore = subscribeAttempts;
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const attemptsDuringOutage = subscribeAttempts - attemptsBefore;
  // Back-off doubles from 50 ms up to 400 ms: a handful of attempts, not a spin.
  assert.ok(attemptsDuringOutage >= 2, `kept trying (${attemptsDuringOutage} attempts)`);
  assert.ok(attemptsDuringOutage <= 25, `no spin (${attemptsDuringOutage} attempts in 1 s)`);

  await stack.startGateway();
  // Within the longest back-off step plus a round trip, both directions work again.
  const toA = await timeUntilDelivered(b, alice, "after-b-to-a", 3_000);
  const toB = await timeUntilDelivered(a, bob, "after-a-to-b", 3_000);
  assert.ok(toA < 3_000 && toB < 3_000);
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
  const name = `t${crypto.randomUUID().slice(0, 8)}`;
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
    new RedisFanout({ redis, name, onError: () => {} });
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
  await alice.roundTrip();
  await new Promise((resolve) => setTimeout(resolve, 100)); // room for any duplicate
  assert.ok(replayed > 0, "requests were replayed");
  assert.deepEqual(
    alice.received.filter((m) => m.type !== "pong").map((m) => m.type),
    [],
    "no second member_added, message or member_removed",
  );
  assert.deepEqual((await a.hub.members("presence-room.r")).map((m) => m.id), ["alice"]);
});

Deno.test("RedisFanout refuses a resubscribe back-off that would retry in a tight loop", () => {
  const redis = new UpstashRedis({ url: "http://127.0.0.1:9", token: "t" });
  for (
    const resubscribeDelayMs of [{ min: 0, max: 0 }, { min: -1, max: 10 }, { min: 50, max: 10 }]
  ) {
    assert.throws(() => new RedisFanout({ redis, resubscribeDelayMs }), RangeError);
  }
  new RedisFanout({ redis, resubscribeDelayMs: { min: 10, max: 10 } });
});
