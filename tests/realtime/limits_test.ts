import assert from "node:assert/strict";
import { CloseCode } from "../../src/realtime/close_codes.ts";
import { ManualClock } from "../support/manual_clock.ts";
import {
  maskedFrameHeader,
  maskedTextFrame,
  openRaw,
  readUntilClosed,
  TestClient,
  within,
  writeAll,
} from "./_support/ws_client.ts";
import { sign, startServer } from "./_support/server.ts";

Deno.test("a message larger than maxMessageBytes closes the connection with MessageTooLarge", async () => {
  await using server = startServer({ realtime: { maxMessageBytes: 1024 } });
  const client = await TestClient.connect(server.url, await sign("alice"));
  client.send({ type: "subscribe", channel: "news", data: "é".repeat(400) }); // 800 bytes: fine
  await client.next("subscribed");
  client.send({ type: "subscribe", channel: "news", data: "é".repeat(600) }); // 1200 bytes
  assert.equal((await client.closed).code, CloseCode.MessageTooLarge);
});

Deno.test("messages past the burst get rate_limited errors, then a RateLimited close", async () => {
  const clock = new ManualClock();
  await using server = startServer({
    clock,
    realtime: { rateLimit: { messagesPerSecond: 5, burst: 5, maxViolations: 3 } },
  });
  const client = await TestClient.connect(
    server.url,
    await sign("alice", { now: clock.now() }),
  );
  // 5 fit the burst, 3 are dropped with an error each, the 9th closes the connection.
  for (let i = 0; i < 9; i++) client.send({ type: "ping" });
  assert.equal((await client.closed).code, CloseCode.RateLimited);
  assert.deepEqual(client.received.map((m) => m.type === "error" ? m.code : m.type), [
    "pong",
    "pong",
    "pong",
    "pong",
    "pong",
    "rate_limited",
    "rate_limited",
    "rate_limited",
  ]);
});

Deno.test("a flood of thousands of messages is cut off with RateLimited without queueing them", async () => {
  const clock = new ManualClock();
  const closes: number[] = [];
  const closed = Promise.withResolvers<void>();
  let handled = 0;
  await using server = startServer({
    clock,
    realtime: { rateLimit: { messagesPerSecond: 20, burst: 40, maxViolations: 10 } },
    setup: (hub) =>
      hub.use({
        onMessage: () => void handled++,
        onClose: (_connection, { code }) => {
          closes.push(code);
          closed.resolve();
        },
      }),
  });
  const client = await TestClient.connect(server.url, await sign("alice", { now: clock.now() }));
  for (let i = 0; i < 5000; i++) client.send({ type: "ping" });
  await client.closed; // the client may see an abrupt close: it was still sending
  await within(closed.promise, 5_000, "the server's onClose");
  assert.deepEqual(closes, [CloseCode.RateLimited]);
  assert.equal(handled, 40, "only the burst reached the message hooks");
});

Deno.test("the rate limit refills over time, so a polite client is never limited", async () => {
  const clock = new ManualClock();
  await using server = startServer({
    clock,
    realtime: { rateLimit: { messagesPerSecond: 2, burst: 2, maxViolations: 1 } },
  });
  await using client = await TestClient.connect(
    server.url,
    await sign("alice", { now: clock.now() }),
  );
  for (let i = 0; i < 10; i++) {
    await client.roundTrip();
    clock.advance(500);
  }
  assert.equal(client.has("error"), false);
});

Deno.test("a connection that sends nothing for idleTimeout closes with IdleTimeout", async () => {
  const clock = new ManualClock();
  await using server = startServer({ clock, realtime: { idleTimeout: 30_000 } });
  const client = await TestClient.connect(
    server.url,
    await sign("alice", { now: clock.now() }),
  );
  clock.advance(20_000);
  await client.roundTrip(); // a heartbeat resets the idle clock
  clock.advance(20_000);
  await client.roundTrip();
  clock.advance(29_000);
  await client.roundTrip();
  assert.equal(client.socket.readyState, WebSocket.OPEN);
  clock.advance(30_001);
  assert.equal((await client.closed).code, CloseCode.IdleTimeout);
});

Deno.test("token_expiring arrives ahead of expiry and the connection closes with TokenExpired", async () => {
  const clock = new ManualClock();
  await using server = startServer({
    clock,
    realtime: { expiryWarning: 60_000, idleTimeout: 10_000_000 },
  });
  const client = await TestClient.connect(
    server.url,
    await sign("alice", { now: clock.now(), expiresIn: 120 }),
  );
  clock.advance(59_000);
  await client.roundTrip();
  assert.equal(client.has("token_expiring"), false);
  clock.advance(2_000);
  const warning = await client.next("token_expiring");
  assert.equal(warning.expiresAt, clock.now() - 61_000 + 120_000);
  clock.advance(58_000);
  await client.roundTrip();
  clock.advance(1_000);
  assert.equal((await client.closed).code, CloseCode.TokenExpired);
});

Deno.test("an in-band refresh with a valid token for the same user extends the connection", async () => {
  const clock = new ManualClock();
  await using server = startServer({ clock, realtime: { idleTimeout: 10_000_000 } });
  const start = clock.now();
  const client = await TestClient.connect(
    server.url,
    await sign("alice", { now: start, expiresIn: 120 }),
  );
  await client.subscribe("news");
  clock.advance(90_000);
  await client.next("token_expiring");

  client.send({
    type: "refresh",
    token: await sign("mallory", { now: clock.now(), expiresIn: 600 }),
  });
  assert.equal((await client.next("error")).code, "refresh_rejected");
  client.send({ type: "refresh", token: "garbage" });
  assert.equal((await client.next("error")).code, "refresh_rejected");
  client.send({ type: "refresh", token: await sign("alice", { now: start - 7200_000 }) });
  assert.equal((await client.next("error")).code, "refresh_rejected", "an expired token");

  const fresh = await sign("alice", { now: clock.now(), expiresIn: 600 });
  client.send({ type: "refresh", token: fresh });
  const welcome = await client.next("welcome");
  assert.equal(welcome.expiresAt, (Math.floor(clock.now() / 1000) + 600) * 1000);

  clock.advance(60_000); // past the first token's expiry
  await server.hub.broadcast("news", "still", "here");
  assert.equal((await client.next("message")).data, "here");
  clock.advance(600_000);
  assert.equal((await client.closed).code, CloseCode.TokenExpired);
});

Deno.test("a consumer that stops reading is closed with SlowConsumer instead of buffering without bound", async () => {
  const codes: number[] = [];
  await using server = startServer({
    realtime: { maxBufferedBytes: 256 * 1024 },
    setup: (hub) => hub.use({ onClose: (_connection, { code }) => void codes.push(code) }),
  });
  const token = await sign("alice");
  const target = new URL(server.url);
  const conn = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
  try {
    await conn.write(new TextEncoder().encode(
      [
        `GET /ws HTTP/1.1`,
        `Host: ${target.host}`,
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: https://app.test",
        `Sec-WebSocket-Protocol: kiln.v1, bearer.${token}`,
        "",
        "",
      ].join("\r\n"),
    ));
    await conn.read(new Uint8Array(4096)); // the 101 and perhaps the welcome
    await conn.write(maskedTextFrame(JSON.stringify({ type: "subscribe", channel: "firehose" })));
    // Flood the channel (the first broadcasts may precede the subscription); the client never reads again.
    const chunk = "x".repeat(64 * 1024);
    for (let i = 0; i < 1000 && codes.length === 0; i++) {
      await server.hub.broadcast("firehose", "chunk", chunk);
      // Yield to I/O now and then (a turn of the event loop, not a wait for time).
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.deepEqual(codes, [CloseCode.SlowConsumer]);
    assert.equal(server.hub.size, 0);
  } finally {
    conn.close();
  }
});

Deno.test("binary frames count against the rate limit: a flood of them closes with RateLimited", async () => {
  const clock = new ManualClock();
  const closed = Promise.withResolvers<number>();
  await using server = startServer({
    clock,
    realtime: { rateLimit: { messagesPerSecond: 5, burst: 5, maxViolations: 3 } },
    setup: (hub) => hub.use({ onClose: (_connection, { code }) => closed.resolve(code) }),
  });
  await using client = await TestClient.connect(
    server.url,
    await sign("alice", { now: clock.now() }),
  );
  // The clock never moves: 4,000 frames arrive in the same instant, far over 5 a second.
  for (let i = 0; i < 4_000; i++) client.socket.send(new Uint8Array([i & 0xff, 1, 2, 3]));
  await client.closedWithin(); // the client may see an abrupt close: it was still sending
  assert.equal(await within(closed.promise, 5_000, "onClose"), CloseCode.RateLimited);
  // The burst is answered (binary_unsupported), then the drops, then nothing more;
  // the tail may be lost in the abrupt close, never more than that.
  const codes = client.received.map((m) => m.type === "error" ? m.code : m.type);
  const expected = [...Array(5).fill("binary_unsupported"), ...Array(3).fill("rate_limited")];
  assert.deepEqual(codes, expected.slice(0, codes.length));
});

Deno.test("text and binary frames share one rate limit", async () => {
  const clock = new ManualClock();
  await using server = startServer({
    clock,
    realtime: { rateLimit: { messagesPerSecond: 2, burst: 2, maxViolations: 5 } },
  });
  await using client = await TestClient.connect(
    server.url,
    await sign("alice", { now: clock.now() }),
  );
  client.socket.send(new Uint8Array([1]));
  client.socket.send(new Uint8Array([2]));
  client.send({ type: "ping" }); // the bucket is empty: binary frames took it
  assert.equal(
    (await client.next("error", (m) => m.code !== "binary_unsupported")).code,
    "rate_limited",
  );
  clock.advance(1_000);
  await client.roundTrip(); // refilled
});

Deno.test("an oversized binary frame closes with MessageTooLarge like a text frame", async () => {
  await using server = startServer({ realtime: { maxMessageBytes: 1024 } });
  await using client = await TestClient.connect(server.url, await sign("alice"));
  client.socket.send(new Uint8Array(1024)); // at the limit: answered, not closed
  assert.equal((await client.next("error")).code, "binary_unsupported");
  client.socket.send(new Uint8Array(1025));
  assert.equal((await client.closedWithin()).code, CloseCode.MessageTooLarge);
});

Deno.test("on Deno, the runtime drops a frame announcing more than 64 MiB on its header (it offers no lower cap)", async () => {
  const closed = Promise.withResolvers<number>();
  await using server = startServer({
    setup: (hub) => hub.use({ onClose: (_connection, { code }) => closed.resolve(code) }),
  });
  const conn = await openRaw(server.url, await sign("alice"));
  try {
    await writeAll(conn, maskedFrameHeader(0x1, 64 * 1024 * 1024 + 1));
    await writeAll(conn, new Uint8Array(1024));
    await readUntilClosed(conn); // dropped without a close frame
    await within(closed.promise, 5_000, "onClose");
    assert.equal(server.hub.size, 0);
  } finally {
    conn.close();
  }
});
