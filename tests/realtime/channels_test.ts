import assert from "node:assert/strict";
import { CloseCode } from "../../src/realtime/close_codes.ts";
import type { ClientMessage } from "../../src/realtime/protocol.ts";
import { TestClient, within } from "./_support/ws_client.ts";
import { sign, startServer } from "./_support/server.ts";

async function connect(url: string, sub: string, name?: string): Promise<TestClient> {
  return await TestClient.connect(url, await sign(sub, { claims: name ? { name } : {} }));
}

Deno.test("a broadcast reaches every subscriber of a public channel and nobody else", async () => {
  await using server = startServer();
  await using alice = await connect(server.url, "alice");
  await using bob = await connect(server.url, "bob");
  await alice.subscribe("news");
  await bob.subscribe("sports");
  await server.hub.broadcast("news", "headline", { title: "Kiln ships" });
  const message = await alice.next("message");
  assert.deepEqual(message, {
    type: "message",
    channel: "news",
    event: "headline",
    data: { title: "Kiln ships" },
  });
  await bob.roundTrip();
  assert.equal(bob.has("message"), false);
});

Deno.test("broadcast() with except skips that connection", async () => {
  await using server = startServer();
  const token = await sign("alice");
  await using first = await TestClient.connect(server.url, token);
  await using second = new TestClient(server.url, token, {
    headers: { origin: "https://app.test" },
  });
  const { connectionId } = await second.next("welcome");
  await first.subscribe("news");
  await second.subscribe("news");
  await server.hub.broadcast("news", "ping", 1, { except: connectionId });
  await first.next("message");
  await second.roundTrip();
  assert.equal(second.has("message"), false);
});

Deno.test("subscribing to someone else's private channel is forbidden and delivers nothing", async () => {
  await using server = startServer();
  await using mallory = await connect(server.url, "mallory");
  await using alice = await connect(server.url, "alice");
  mallory.send({ type: "subscribe", channel: "private-user.alice" });
  const error = await mallory.next("error");
  assert.deepEqual(
    { code: error.code, channel: error.channel },
    { code: "forbidden", channel: "private-user.alice" },
  );
  await alice.subscribe("private-user.alice");
  await server.hub.broadcast("private-user.alice", "invoice.paid", { id: 7 });
  assert.deepEqual((await alice.next("message")).data, { id: 7 });
  await mallory.roundTrip();
  assert.equal(mallory.has("message"), false);
});

Deno.test("presence lists members on subscribe and announces a user once however many tabs they open", async () => {
  await using server = startServer();
  await using alice = await connect(server.url, "alice", "Alice");
  const joined = await alice.subscribe("presence-room.1");
  assert.deepEqual(joined.members, [{ id: "alice", info: { name: "Alice" } }]);

  await using bobTab1 = await connect(server.url, "bob", "Bob");
  const bobView = await bobTab1.subscribe("presence-room.1");
  assert.deepEqual(
    bobView.members?.map((member) => member.id).sort(),
    ["alice", "bob"],
  );
  assert.deepEqual((await alice.next("member_added")).member, { id: "bob", info: { name: "Bob" } });

  const bobTab2 = await connect(server.url, "bob", "Bob");
  await bobTab2.subscribe("presence-room.1");
  await bobTab2.close(); // one tab of two closes: bob is still there
  await alice.roundTrip();
  assert.equal(alice.has("member_added"), false);
  assert.equal(alice.has("member_removed"), false);

  await bobTab1.close();
  assert.deepEqual((await alice.next("member_removed")).member, {
    id: "bob",
    info: { name: "Bob" },
  });
  assert.deepEqual(await server.hub.members("presence-room.1"), [
    { id: "alice", info: { name: "Alice" } },
  ]);
});

Deno.test("presence identity and info come from the token and authorize, never from the client", async () => {
  await using server = startServer();
  await using watcher = await connect(server.url, "watcher", "Watcher");
  await watcher.subscribe("presence-room.2");
  await using mallory = await connect(server.url, "mallory", "Mallory");
  const spoof = { id: "admin", user_id: "admin", info: { name: "Admin", role: "root" } };
  const subscribed = await mallory.subscribe("presence-room.2", spoof);
  const ids = subscribed.members?.map((member) => member.id).sort();
  assert.deepEqual(ids, ["mallory", "watcher"]);
  const added = await watcher.next("member_added");
  assert.deepEqual(added.member, { id: "mallory", info: { name: "Mallory" } });
});

Deno.test("client events are refused unless enabled, and carry the sender's id to the others", async () => {
  {
    await using server = startServer();
    await using alice = await connect(server.url, "alice");
    await alice.subscribe("presence-room.3");
    alice.send({ type: "publish", channel: "presence-room.3", event: "client-typing", data: 1 });
    assert.equal((await alice.next("error")).code, "client_events_disabled");
  }
  await using server = startServer({ realtime: { clientEvents: true } });
  await using alice = await connect(server.url, "alice");
  await using bob = await connect(server.url, "bob");
  await alice.subscribe("presence-room.3");
  await bob.subscribe("presence-room.3");
  alice.send({ type: "publish", channel: "public", event: "client-x", data: 1 });
  assert.equal((await alice.next("error")).code, "client_events_disabled");
  alice.send({ type: "publish", channel: "presence-room.3", event: "invoice.paid", data: 1 });
  assert.equal((await alice.next("error")).code, "client_events_disabled");
  alice.send({ type: "publish", channel: "presence-room.4", event: "client-typing", data: 1 });
  assert.equal((await alice.next("error")).code, "not_subscribed");
  alice.send({
    type: "publish",
    channel: "presence-room.3",
    event: "client-typing",
    data: { on: true },
    userId: "admin",
  });
  const message = await bob.next("message");
  assert.deepEqual(message, {
    type: "message",
    channel: "presence-room.3",
    event: "client-typing",
    data: { on: true },
    userId: "alice",
  });
  await alice.roundTrip();
  assert.equal(alice.has("message"), false, "the sender does not get its own event");
});

Deno.test("protocol errors are answered with an error code and the connection keeps working", async () => {
  await using server = startServer();
  await using client = await connect(server.url, "alice");
  const cases: Array<[string | Uint8Array<ArrayBuffer>, string]> = [
    ["{not json", "invalid_json"],
    ["[1,2,3]", "invalid_json"],
    ["42", "invalid_json"],
    [JSON.stringify({ type: "explode" }), "unknown_type"],
    [JSON.stringify({ type: "__proto__" }), "unknown_type"],
    [JSON.stringify({ nope: true }), "unknown_type"],
    [JSON.stringify({ type: "subscribe" }), "invalid_message"],
    [JSON.stringify({ type: "subscribe", channel: 12 }), "invalid_message"],
    [JSON.stringify({ type: "subscribe", channel: "has space" }), "invalid_message"],
    [JSON.stringify({ type: "subscribe", channel: "x".repeat(201) }), "invalid_message"],
    [JSON.stringify({ type: "publish", channel: "private-a" }), "invalid_message"],
    [JSON.stringify({ type: "refresh", token: "" }), "invalid_message"],
    [JSON.stringify({ type: "unsubscribe", channel: "never" }), "not_subscribed"],
    [new Uint8Array([1, 2, 3]), "binary_unsupported"],
  ];
  for (const [frame, code] of cases) {
    client.socket.send(frame);
    const error = await client.next("error");
    assert.equal(error.code, code, String(frame));
    assert.equal(typeof error.message, "string");
  }
  await client.subscribe("news");
  await server.hub.broadcast("news", "still", "alive");
  assert.equal((await client.next("message")).data, "alive");
});

Deno.test("a connection may hold at most maxSubscriptions channels", async () => {
  await using server = startServer({ realtime: { maxSubscriptions: 2 } });
  await using client = await connect(server.url, "alice");
  await client.subscribe("a");
  await client.subscribe("b");
  client.send({ type: "subscribe", channel: "c" });
  assert.equal((await client.next("error")).code, "too_many_subscriptions");
  client.send({ type: "unsubscribe", channel: "a" });
  await client.subscribe("c");
});

Deno.test("connection middleware runs in order: connect may refuse or attach data, message may transform, drop or answer, close sees the code", async () => {
  const events: string[] = [];
  const aliceClosed = Promise.withResolvers<void>();
  await using server = startServer({
    setup: (hub) => {
      hub.use({
        onConnect: (connection) => {
          events.push(`connect-1:${connection.user.id}`);
          if (connection.user.id === "banned") return false;
          connection.data.tier = "gold";
        },
        onMessage: (connection, message): ClientMessage | null | void => {
          events.push(`message-1:${message.type}`);
          if (message.type === "subscribe" && message.channel === "alias") {
            return { type: "subscribe", channel: `tier.${connection.data.tier}` };
          }
          if (message.type === "subscribe" && message.channel === "blocked") {
            connection.send({ type: "error", code: "forbidden", message: "blocked by policy" });
            return null;
          }
        },
        onClose: (connection, { code }) => {
          events.push(`close-1:${connection.user.id}:${code}`);
          if (connection.user.id === "alice") aliceClosed.resolve();
        },
      });
      hub.use({
        onConnect: (connection) => {
          events.push(`connect-2:${connection.data.tier}`);
        },
        onMessage: (_connection, message) => {
          events.push(`message-2:${message.type === "subscribe" ? message.channel : message.type}`);
        },
      });
    },
  });
  const banned = new TestClient(server.url, await sign("banned"), {
    headers: { origin: "https://app.test" },
  });
  assert.equal((await banned.closed).code, CloseCode.Refused);
  assert.equal(banned.has("welcome"), false);

  const client = await connect(server.url, "alice");
  client.send({ type: "subscribe", channel: "alias" });
  assert.equal((await client.next("subscribed")).channel, "tier.gold");
  client.send({ type: "subscribe", channel: "blocked" });
  assert.equal((await client.next("error")).message, "blocked by policy");
  await client.close();
  // onClose runs after the socket closed: wait for the hook itself.
  await within(aliceClosed.promise, 5_000, "alice's onClose");
  assert.deepEqual(events, [
    "connect-1:banned",
    "close-1:banned:4000",
    "connect-1:alice",
    "connect-2:gold",
    "message-1:subscribe",
    "message-2:tier.gold",
    "message-1:subscribe",
    "close-1:alice:1000",
  ]);
});
