import assert from "node:assert/strict";
import { RealtimeClient } from "../../src/realtime/client.ts";
import { CloseCode } from "../../src/realtime/close_codes.ts";
import type { Connection } from "../../src/realtime/connection.ts";
import type { ServerMessage } from "../../src/realtime/protocol.ts";
import { ManualClock } from "./_support/manual_clock.ts";
import { sign, startServer } from "./_support/server.ts";

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
    await assert.rejects(client.subscribe("private-user.bob"), /forbidden/);
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
    reconnect: { minDelayMs: 10, maxDelayMs: 50 },
  });
  try {
    const first = await client.connect();
    await client.subscribe("news");
    const rewelcomed = waitFor(client, "welcome");
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
    realtime: { expiryWarningMs: 60_000, idleTimeoutMs: 10_000_000 },
    setup: (hub) => hub.use({ onClose: (_c, { code }) => void closes.push(code) }),
  });
  const client = new RealtimeClient({
    url: server.url,
    token: () => sign("alice", { now: clock.now(), expiresIn: 120 }),
  });
  try {
    const first = await client.connect();
    const refreshed = waitFor(client, "welcome");
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
  let calls = 0;
  const client = new RealtimeClient({
    url: server.url,
    token: () => (calls++, sign("alice")),
    reconnect: { minDelayMs: 1, maxDelayMs: 5 },
  });
  await assert.rejects(client.connect(), /code 4000/);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(calls, 1);
  client.close();
});
