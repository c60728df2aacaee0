import assert from "node:assert/strict";
import { RealtimeClient } from "../../src/realtime/client.ts";
import { ConnectionClosedError, SubscriptionRefusedError } from "../../src/realtime/errors.ts";
import { CloseCode } from "../../src/realtime/close_codes.ts";
import type { Connection } from "../../src/realtime/connection.ts";
import type { ServerMessage } from "../../src/realtime/protocol.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { sign, startServer } from "./_support/server.ts";
import { within } from "./_support/ws_client.ts";

function waitFor<T extends ServerMessage["type"]>(
  client: RealtimeClient,
  type: T,
  where: (message: Extract<ServerMessage, { type: T }>) => boolean = () => true,
): Promise<Extract<ServerMessage, { type: T }>> {
  return new Promise((resolve) => {
    const off = client.on(type, (message) => {
      if (!where(message)) return;
      off();
      resolve(message);
    });
  });
}

Deno.test("RealtimeClient connects with its token provider, subscribes and receives typed messages", async () => {
  await using server = startServer();
  let calls = 0;
  const client = new RealtimeClient({
    url: server.url,
    token: () => (calls++, sign("alice", { claims: { name: "Alice" } })),
  });
  try {
    const welcome = await client.connect();
    assert.equal(welcome.user.id, "alice");
    assert.equal(calls, 1);
    assert.deepEqual(await client.subscribe("presence-room.1"), [
      { id: "alice", info: { name: "Alice" } },
    ]);
    await assert.rejects(client.subscribe("private-user.bob"), (error) => {
      assert.ok(error instanceof SubscriptionRefusedError);
      assert.equal(error.code, "REALTIME_SUBSCRIPTION_REFUSED");
      assert.equal(error.reason, "forbidden");
      assert.equal(error.channel, "private-user.bob");
      return true;
    });
    const received = waitFor(client, "message");
    await server.hub.broadcast("presence-room.1", "hello", { n: 1 });
    const message = await received;
    assert.equal(message.event, "hello");
    assert.deepEqual(message.data, { n: 1 });
  } finally {
    client.close();
  }
});

Deno.test("RealtimeClient reconnects after the server drops it, asks for a fresh token and subscribes again", async () => {
  const connections: Connection[] = [];
  await using server = startServer({
    setup: (hub) => hub.use({ onConnect: (connection) => void connections.push(connection) }),
  });
  let calls = 0;
  const client = new RealtimeClient({
    url: server.url,
    token: () => (calls++, sign("alice")),
    reconnect: { minDelay: 10, maxDelay: 50 },
  });
  try {
    const first = await client.connect();
    await client.subscribe("news");
    // (A welcome listener is first called with the current welcome: skip that one.)
    const rewelcomed = waitFor(client, "welcome", (m) => m.connectionId !== first.connectionId);
    connections[0].close(CloseCode.GoingAway, "restarting");
    const second = await rewelcomed;
    assert.notEqual(second.connectionId, first.connectionId);
    assert.equal(calls, 2);
    // The resubscription went out right after the welcome; wait until it is in place.
    await waitFor(client, "subscribed", (message) => message.channel === "news");
    const received = waitFor(client, "message");
    await server.hub.broadcast("news", "again", 2);
    assert.equal((await received).data, 2);
  } finally {
    client.close();
  }
});

Deno.test("RealtimeClient refreshes its token in-band when the server warns of expiry", async () => {
  const clock = new ManualClock(Date.now());
  const closes: number[] = [];
  await using server = startServer({
    clock,
    realtime: { expiryWarning: 60_000, idleTimeout: 10_000_000 },
    setup: (hub) => hub.use({ onClose: (_c, { code }) => void closes.push(code) }),
  });
  const client = new RealtimeClient({
    url: server.url,
    token: () => sign("alice", { now: clock.now(), expiresIn: 120 }),
  });
  try {
    const first = await client.connect();
    const refreshed = waitFor(client, "welcome", (m) => m.expiresAt !== first.expiresAt);
    clock.advance(61_000); // token_expiring goes out; the client answers with a refresh
    const second = await refreshed;
    assert.equal(second.connectionId, first.connectionId, "the same connection lives on");
    assert.ok(second.expiresAt! > first.expiresAt!);
    clock.advance(60_000); // past the first token's expiry
    const answered = waitFor(client, "error");
    client.publish("x", "y", null); // answered with an error, proving the socket is alive
    await answered;
    assert.deepEqual(closes, []);
  } finally {
    client.close();
  }
});

Deno.test("RealtimeClient stays closed after a Refused close", async () => {
  await using server = startServer({ setup: (hub) => hub.use({ onConnect: () => false }) });
  const clock = new ManualClock();
  let calls = 0;
  const client = new RealtimeClient({
    url: server.url,
    token: () => (calls++, sign("alice")),
    reconnect: { minDelay: 1, maxDelay: 5 },
    clock,
  });
  await assert.rejects(client.connect(), (error) => {
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(error.code, "REALTIME_CONNECTION_CLOSED");
    assert.equal(error.closeCode, CloseCode.Refused);
    return true;
  });
  // Every timer of the client runs on this clock: none armed means no reconnect can come.
  assert.equal(clock.pending, 0);
  assert.equal(calls, 1);
  client.close();
});

Deno.test("RealtimeClient waits a full-jitter back-off between reconnects, on its clock, and starts over after a welcome", async () => {
  const connections: Connection[] = [];
  await using server = startServer({
    setup: (hub) => hub.use({ onConnect: (connection) => void connections.push(connection) }),
  });
  const clock = new ManualClock();
  let failures = 6;
  const client = new RealtimeClient({
    url: server.url,
    // A provider that fails is retried like a dropped connection.
    token: () => failures-- > 0 ? Promise.reject(new Error("offline")) : sign("alice"),
    reconnect: { minDelay: 100, maxDelay: 1_000 },
    heartbeatInterval: 25_000,
    clock,
    random: () => 0.5,
  });
  const isReconnect = (delay: number) => delay <= 1_000;
  try {
    const connected = client.connect();
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const wait = await within(clock.timer(isReconnect), 5_000, "a reconnect timer on the clock");
      waits.push(wait);
      clock.advance(wait);
    }
    // Half of min(1 s, 100 ms × 2^n): the ceiling doubles, then stays at maxDelay.
    assert.deepEqual(waits, [50, 100, 200, 400, 500, 500]);
    const first = await connected;
    assert.equal(first.user.id, "alice");
    // A heartbeat is armed on the same clock, and nothing else.
    assert.equal(await clock.timer(), 25_000);
    assert.equal(clock.pending, 1);

    // After the welcome, the next drop starts from the first wait again.
    failures = 1;
    const rearmed = clock.nextTimer(isReconnect);
    connections.at(-1)!.close(CloseCode.GoingAway, "restarting");
    assert.equal(await within(rearmed, 5_000, "a reconnect timer"), 50);
  } finally {
    client.close();
  }
});

Deno.test("RealtimeClient replays the latest welcome to a listener added after connect()", async () => {
  await using server = startServer();
  const client = new RealtimeClient({ url: server.url, token: () => sign("alice") });
  try {
    const welcome = await client.connect();
    assert.deepEqual(client.welcome, welcome);
    // Added after awaiting: the welcome arrived with the open, before this line.
    const late = await within(waitFor(client, "welcome"), 5_000, "the replayed welcome");
    assert.deepEqual(late, welcome);
    // connect() again while connected opens no second socket.
    assert.deepEqual(await client.connect(), welcome);
    assert.equal(server.hub.size, 1);
  } finally {
    client.close();
  }
});
