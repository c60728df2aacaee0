import assert from "node:assert/strict";
import { RedisFanout } from "../../src/realtime/redis_fanout.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { ManualClock } from "./_support/manual_clock.ts";
import { sign, startServer } from "./_support/server.ts";
import { TestClient } from "./_support/ws_client.ts";

async function connect(url: string, sub: string): Promise<TestClient> {
  return await TestClient.connect(url, await sign(sub, { claims: { name: sub } }));
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
