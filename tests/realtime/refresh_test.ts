import assert from "node:assert/strict";
import { jwtAuth } from "../../src/realtime/jwt_auth.ts";
import { RedisFanout } from "../../src/realtime/redis_fanout.ts";
import { presenceTouch } from "../../src/realtime/_scripts.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { AUDIENCE, ISSUER, SECRET, sign, startServer } from "./_support/server.ts";
import { TestClient, within } from "./_support/ws_client.ts";

async function connect(url: string, sub: string, claims: Record<string, unknown>, now?: number) {
  return await TestClient.connect(url, await sign(sub, { claims, now }));
}

Deno.test("a refresh with new claims replaces the user and updates presence info for everyone", async () => {
  await using server = startServer();
  await using alice = await connect(server.url, "alice", { name: "Alice" });
  await using bob = await connect(server.url, "bob", { name: "Bob" });
  await alice.subscribe("presence-room.1");
  await bob.subscribe("presence-room.1");
  await alice.next("member_added");

  alice.send({ type: "refresh", token: await sign("alice", { claims: { name: "Alicia" } }) });
  const welcome = await alice.next("welcome");
  assert.deepEqual(welcome.user, { id: "alice", claims: { name: "Alicia" } });

  const expected = { id: "alice", info: { name: "Alicia" } };
  for (const client of [bob, alice]) {
    const updated = await client.next("member_updated");
    assert.deepEqual(updated, {
      type: "member_updated",
      channel: "presence-room.1",
      member: expected,
    });
  }
  const members = await server.hub.members("presence-room.1");
  assert.deepEqual(members.find((m) => m.id === "alice"), expected);

  // A newcomer sees the new info, and alice's leave carries it too.
  await using carol = await connect(server.url, "carol", { name: "Carol" });
  const joined = await carol.subscribe("presence-room.1");
  assert.deepEqual(joined.members?.find((m) => m.id === "alice"), expected);
  await alice.close();
  assert.deepEqual((await bob.next("member_removed")).member, expected);
});

Deno.test("a refresh that changes nothing presence shows announces nothing", async () => {
  await using server = startServer();
  await using alice = await connect(server.url, "alice", { name: "Alice" });
  await using bob = await connect(server.url, "bob", { name: "Bob" });
  await alice.subscribe("presence-room.1");
  await bob.subscribe("presence-room.1");
  await alice.next("member_added");
  alice.send({ type: "refresh", token: await sign("alice", { claims: { name: "Alice" } }) });
  await alice.next("welcome");
  await alice.roundTrip();
  await server.hub.broadcast("presence-room.1", "marker", null); // after any announcement
  await bob.next("message");
  assert.equal(bob.has("member_updated"), false);
  assert.equal(alice.has("member_updated"), false);
});

Deno.test("a refresh for another sub is refused and keeps the old claims and presence info", async () => {
  await using server = startServer();
  await using alice = await connect(server.url, "alice", { name: "Alice" });
  await using bob = await connect(server.url, "bob", { name: "Bob" });
  await alice.subscribe("presence-room.1");
  await bob.subscribe("presence-room.1");
  await alice.next("member_added");
  alice.send({ type: "refresh", token: await sign("mallory", { claims: { name: "Admin" } }) });
  assert.equal((await alice.next("error")).code, "refresh_rejected");
  await server.hub.broadcast("presence-room.1", "marker", null);
  await bob.next("message");
  assert.equal(bob.has("member_updated"), false);
  assert.deepEqual(
    (await server.hub.members("presence-room.1")).find((m) => m.id === "alice"),
    { id: "alice", info: { name: "Alice" } },
  );
  // The connection still belongs to alice with her old claims: a valid refresh shows them.
  alice.send({ type: "refresh", token: await sign("alice", { claims: { name: "Alice" } }) });
  assert.deepEqual((await alice.next("welcome")).user, { id: "alice", claims: { name: "Alice" } });
});

Deno.test("after a refresh, authorize sees the new claims: a channel they no longer allow is left", async () => {
  const clock = new ManualClock(Date.now());
  const seen: unknown[] = [];
  await using server = startServer({
    clock,
    realtime: {
      auth: jwtAuth({
        secret: SECRET,
        algorithms: ["HS256"],
        issuer: ISSUER,
        audience: AUDIENCE,
        expose: ["name", "vip"],
        clock,
      }),
      authorize: (user, channel, { data }) => {
        seen.push(data);
        if (channel.name === "presence-vip") {
          return user.claims.vip === true && { name: user.claims.name };
        }
        return channel.name === `private-user.${user.id}`;
      },
    },
  });
  await using alice = await connect(server.url, "alice", { name: "Alice", vip: true }, clock.now());
  await using bob = await connect(server.url, "bob", { name: "Bob", vip: true }, clock.now());
  await alice.subscribe("presence-vip", { seat: 7 });
  await alice.subscribe("private-user.alice");
  await bob.subscribe("presence-vip");
  await alice.next("member_added");

  seen.length = 0;
  alice.send({
    type: "refresh",
    token: await sign("alice", { now: clock.now(), claims: { name: "Alice", vip: false } }),
  });
  await alice.next("welcome");
  const error = await alice.next("error");
  assert.deepEqual({ code: error.code, channel: error.channel }, {
    code: "forbidden",
    channel: "presence-vip",
  });
  assert.deepEqual((await bob.next("member_removed")).member.id, "alice");
  assert.deepEqual(
    seen.sort(),
    [undefined, { seat: 7 }].sort(),
    "authorize got the subscribe data again",
  );

  // No longer subscribed there; the private channel stays.
  await server.hub.broadcast("presence-vip", "secret", 1);
  await server.hub.broadcast("private-user.alice", "mine", 2);
  assert.equal((await alice.next("message")).event, "mine");
  assert.equal(alice.received.some((m) => m.type === "message" && m.event === "secret"), false);
});

/** The SHA-1 Redis knows a script by, as the script runner computes it. */
async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("RedisFanout: a refresh updates presence info on every instance, once under replays, and no heartbeat puts the old info back", async () => {
  await using stack = await startRedisStack();
  const name = `t${crypto.randomUUID().slice(0, 8)}`;
  // Instance A's requests all reach the gateway twice (a retry after a lost reply).
  const twice: typeof fetch = async (input, init) => {
    const first = await fetch(input, { ...init, signal: undefined });
    await first.body?.cancel();
    return await fetch(input, init);
  };
  // Instance B's heartbeats are watched, so the test knows when one has run.
  const touchSha = await sha1(presenceTouch.source);
  let heartbeats = 0;
  let heartbeat = Promise.withResolvers<void>();
  const watched: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const body = typeof init?.body === "string" ? init.body : "";
    if (body.includes(touchSha) || body.includes("presenceTouch")) {
      heartbeats++;
      heartbeat.resolve();
    }
    return response;
  };
  const clockB = new ManualClock(Date.now());
  await using a = startServer({
    hub: {
      fanout: new RedisFanout({
        redis: new UpstashRedis({ url: stack.gatewayUrl, token: stack.token, fetch: twice }),
        prefix: name,
        onError: () => {},
      }),
    },
  });
  await using b = startServer({
    hub: {
      fanout: new RedisFanout({
        redis: new UpstashRedis({ url: stack.gatewayUrl, token: stack.token, fetch: watched }),
        prefix: name,
        clock: clockB,
        onError: () => {},
      }),
    },
  });
  await using alice = await connect(a.url, "alice", { name: "Alice" });
  await using bob = await connect(b.url, "bob", { name: "Bob" });
  // A second tab of alice's on B, still holding the old token: B holds her too.
  await using aliceOnB = await connect(b.url, "alice", { name: "Alice" });
  await alice.subscribe("presence-room.r");
  await bob.subscribe("presence-room.r");
  await aliceOnB.subscribe("presence-room.r");
  await alice.next("member_added");

  alice.send({ type: "refresh", token: await sign("alice", { claims: { name: "Alicia" } }) });
  const expected = { id: "alice", info: { name: "Alicia" } };
  for (const client of [bob, aliceOnB, alice]) {
    assert.deepEqual((await client.next("member_updated")).member, expected);
  }
  for (const hub of [a.hub, b.hub]) {
    assert.deepEqual(
      (await hub.members("presence-room.r")).find((m) => m.id === "alice"),
      expected,
    );
  }

  // B's heartbeat renews alice with the JSON its own tab joined with; it must not revert her.
  const before = heartbeats;
  heartbeat = Promise.withResolvers<void>();
  clockB.advance(10_000);
  await within(heartbeat.promise, 5_000, "B's heartbeat");
  assert.ok(heartbeats > before, "B sent a heartbeat");
  assert.deepEqual(
    (await b.hub.members("presence-room.r")).find((m) => m.id === "alice"),
    expected,
  );

  await alice.roundTrip();
  await bob.roundTrip();
  for (const client of [alice, bob, aliceOnB]) {
    assert.equal(client.has("member_updated"), false, "announced exactly once");
  }
});
