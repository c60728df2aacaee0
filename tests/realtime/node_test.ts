import assert from "node:assert/strict";
import { serve } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import { Hono } from "hono";
import { Hub } from "../../src/realtime/hub.ts";
import { jwtAuth } from "../../src/realtime/jwt_auth.ts";
import { realtime, type RealtimeOptions } from "../../src/realtime/realtime.ts";
import { limitNodeFrames } from "../../src/realtime/adapters/frame_limits.ts";
// @deno-types="@types/ws"
import { WebSocket as NodeWebSocket } from "ws";
import { RealtimeClient } from "../../src/realtime/client.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { startFixture } from "./_support/runtime_fixture.ts";
import { AUDIENCE, ISSUER, SECRET, sign } from "./_support/server.ts";
import { CloseCode } from "../../src/realtime/close_codes.ts";
import {
  maskedFrameHeader,
  maskedTextFrame,
  openRaw,
  rawUpgrade,
  readUntilClosed,
  TestClient,
  within,
  writeAll,
  writeUntilRefused,
} from "./_support/ws_client.ts";

/**
 * Serves realtime() on @hono/node-server with @hono/node-ws, on a free port;
 * `frameLimit` passes a frame limit down to `ws` with limitNodeFrames().
 */
async function startNodeServer(
  hub: Hub,
  options: Partial<RealtimeOptions> & { frameLimit?: number } = {},
) {
  const { frameLimit, ...overrides } = options;
  const app = new Hono();
  const node = createNodeWebSocket({ app });
  if (frameLimit !== undefined) limitNodeFrames(node, frameLimit);
  app.get(
    "/ws",
    realtime(hub, {
      upgradeWebSocket: node.upgradeWebSocket,
      auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE }),
      authorize: (user, channel) => channel.name === `private-user.${user.id}`,
      origins: ["https://app.test"],
      ...overrides,
    }),
  );
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = serve(
    { fetch: app.fetch, port: 0, hostname: "127.0.0.1" },
    (info) => resolve(info.port),
  );
  node.injectWebSocket(server);
  const port = await listening;
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    close: () => new Promise<unknown>((done) => server.close(done)),
  };
}

Deno.test("on Node, batched writes still close a consumer that stops reading with SlowConsumer", async () => {
  const codes: number[] = [];
  const hub = new Hub({ onError: () => {} }).use({
    onClose: (_connection, { code }) => void codes.push(code),
  });
  const server = await startNodeServer(hub, { maxBufferedBytes: 256 * 1024 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(new TextEncoder().encode(
      [
        "GET /ws HTTP/1.1",
        `Host: 127.0.0.1:${server.port}`,
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        `Sec-WebSocket-Protocol: kiln.v1, bearer.${await sign("alice")}`,
        "",
        "",
      ].join("\r\n"),
    ));
    await conn.read(new Uint8Array(4096)); // the 101 and perhaps the welcome
    await conn.write(maskedTextFrame(JSON.stringify({ type: "subscribe", channel: "firehose" })));
    // Broadcasts in one tick pile up in the corked stream; the check runs once it is flushed.
    const chunk = "x".repeat(64 * 1024);
    for (let i = 0; i < 1000 && codes.length === 0; i++) {
      await hub.broadcast("firehose", "chunk", chunk);
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.deepEqual(codes, [CloseCode.SlowConsumer]);
    assert.equal(hub.size, 0);
  } finally {
    conn.close();
    await hub.close();
    await server.close();
  }
});

Deno.test("realtime() runs on Node's HTTP server through @hono/node-ws", async () => {
  const hub = new Hub({ onError: () => {} });
  const app = new Hono();
  const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app });
  app.get(
    "/ws",
    realtime(hub, {
      upgradeWebSocket,
      auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE }),
      authorize: (user, channel) => channel.name === `private-user.${user.id}`,
      origins: ["https://app.test"],
    }),
  );
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = serve(
    { fetch: app.fetch, port: 0, hostname: "127.0.0.1" },
    (info) => resolve(info.port),
  );
  injectWebSocket(server);
  const url = `ws://127.0.0.1:${await listening}/ws`;
  try {
    const refused = await rawUpgrade(url, {
      Origin: "https://app.test",
      "Sec-WebSocket-Protocol": "kiln.v1, bearer.forged.token.here",
    });
    assert.equal(refused.status, 401);
    // @hono/node-ws writes only the status line of a refusal (no WWW-Authenticate); see docs.
    const foreign = await rawUpgrade(url, {
      Origin: "https://evil.test",
      "Sec-WebSocket-Protocol": `kiln.v1, bearer.${await sign("alice")}`,
    });
    assert.equal(foreign.status, 403);

    const client = await TestClient.connect(url, await sign("alice"));
    assert.equal(client.socket.protocol, "kiln.v1");
    await client.subscribe("private-user.alice");
    await hub.broadcast("private-user.alice", "invoice.paid", { id: 7 });
    assert.deepEqual((await client.next("message")).data, { id: 7 });
    await client.close();
  } finally {
    await hub.close();
    await new Promise((done) => server.close(done));
  }
});

Deno.test("on Node, binary frames count against the rate limit: a flood of them closes with RateLimited", async () => {
  const clock = new ManualClock();
  const closed = Promise.withResolvers<number>();
  const hub = new Hub({ clock, onError: () => {} }).use({
    onClose: (_connection, { code }) => closed.resolve(code),
  });
  const server = await startNodeServer(hub, {
    rateLimit: { messagesPerSecond: 5, burst: 5, maxViolations: 3 },
  });
  const conn = await openRaw(server.url, await sign("alice", { now: clock.now() }));
  try {
    // 4,000 binary frames in one write, in one instant of the hub's clock.
    const frame = new Uint8Array([0x82, 0x84, 0, 0, 0, 0, 1, 2, 3, 4]);
    const flood = new Uint8Array(frame.length * 4_000);
    for (let i = 0; i < 4_000; i++) flood.set(frame, i * frame.length);
    await writeAll(conn, flood).catch(() => {}); // the server may close while we write
    assert.equal(await within(closed.promise, 5_000, "onClose"), CloseCode.RateLimited);
    assert.equal(hub.size, 0);
  } finally {
    conn.close();
    await hub.close();
    await server.close();
  }
});

Deno.test("on Node, limitNodeFrames() refuses an oversized frame on its header, before its payload arrives", async () => {
  const closed = Promise.withResolvers<number>();
  const hub = new Hub({ onError: () => {} }).use({
    onClose: (_connection, { code }) => closed.resolve(code),
  });
  const server = await startNodeServer(hub, { maxMessageBytes: 16_384, frameLimit: 16_384 });
  const conn = await openRaw(server.url, await sign("alice"));
  try {
    // Announce 60 MiB and send 1 KiB of it: a server that buffers first would wait for the rest.
    await writeAll(conn, maskedFrameHeader(0x1, 60 * 1024 * 1024));
    await writeAll(conn, new Uint8Array(1024));
    assert.equal(await readUntilClosed(conn), 1009); // ws's "Message Too Big"
    // The server drops the connection at once: it does not go on reading (and
    // discarding) the rest of the 60 MiB while it waits for the closing handshake.
    const rest = 60 * 1024 * 1024 - 1024;
    assert.ok(await writeUntilRefused(conn, rest) < rest, "the rest of the frame was refused");
    await within(closed.promise, 5_000, "onClose");
    assert.equal(hub.size, 0);
  } finally {
    try {
      conn.close();
    } catch {
      // Closed above.
    }
    await hub.close();
    await server.close();
  }
});

Deno.test("on Node, limitNodeFrames() still lets a frame at the limit through to the hub", async () => {
  const hub = new Hub({ onError: () => {} });
  const server = await startNodeServer(hub, { maxMessageBytes: 1024, frameLimit: 1024 });
  try {
    await using client = await TestClient.connect(server.url, await sign("alice"));
    const data = "x".repeat(
      1024 - JSON.stringify({ type: "subscribe", channel: "n", data: "" }).length,
    );
    await client.subscribe("n", data); // exactly 1024 bytes
    client.send({ type: "subscribe", channel: "m", data: data + "x" });
    assert.equal((await client.closedWithin()).code, 1009);
  } finally {
    await hub.close();
    await server.close();
  }
});

Deno.test("on Node itself, binary floods are rate limited and limitNodeFrames() refuses an oversized frame on its header", async (t) => {
  await t.step("a binary flood closes with RateLimited", async () => {
    await using server = await startFixture("node", {
      frozenClock: true,
      realtime: { rateLimit: { messagesPerSecond: 5, burst: 5, maxViolations: 3 } },
    });
    const conn = await openRaw(server.url, await sign("alice"));
    try {
      const frame = new Uint8Array([0x82, 0x84, 0, 0, 0, 0, 1, 2, 3, 4]);
      const flood = new Uint8Array(frame.length * 4_000);
      for (let i = 0; i < 4_000; i++) flood.set(frame, i * frame.length);
      await writeAll(conn, flood).catch(() => {});
      assert.equal(
        await within(server.nextClose(), 5_000, "the hub's close"),
        CloseCode.RateLimited,
      );
    } finally {
      conn.close();
    }
  });
  await t.step("a 60 MiB header is answered with 1009 before its payload", async () => {
    await using server = await startFixture("node", {
      realtime: { maxMessageBytes: 16_384 },
      frameLimit: 16_384,
    });
    const conn = await openRaw(server.url, await sign("alice"));
    try {
      await writeAll(conn, maskedFrameHeader(0x1, 60 * 1024 * 1024));
      await writeAll(conn, new Uint8Array(1024));
      assert.equal(await readUntilClosed(conn), 1009);
      const rest = 60 * 1024 * 1024 - 1024;
      assert.ok(await writeUntilRefused(conn, rest) < rest, "the rest of the frame was refused");
    } finally {
      conn.close();
    }
  });
});

Deno.test("on Node, simultaneous upgrades of one user never exceed maxConnectionsPerUser", async () => {
  const hub = new Hub({ onError: () => {}, maxConnectionsPerUser: 2 });
  const server = await startNodeServer(hub);
  const token = await sign("alice");
  const attempts = await Promise.all(
    Array.from(
      { length: 10 },
      () =>
        openRaw(server.url, token).then((conn) => ({ conn, status: 101 }), (error: Error) => ({
          conn: undefined,
          status: Number(error.message.match(/HTTP\/1\.1 (\d+)/)?.[1]),
        })),
    ),
  );
  try {
    assert.deepEqual(
      attempts.map((attempt) => attempt.status).sort(),
      [101, 101, ...Array(8).fill(429)],
    );
  } finally {
    for (const attempt of attempts) attempt.conn?.close();
    await hub.close();
    await server.close();
  }
});

Deno.test("on Node, a handshake ws abandons after the middleware admitted it gives its slot back after the admission timeout", async () => {
  const clock = new ManualClock(Date.now());
  const hub = new Hub({ clock, onError: () => {}, maxConnectionsPerUser: 1 });
  const server = await startNodeServer(hub);
  const token = await sign("alice", { now: clock.now() });
  try {
    // A key ws finds invalid: realtime() admits the request, then ws answers 400
    // and never opens a socket, so no event ever reaches the hub.
    const abandoned = await rawUpgrade(server.url, {
      Origin: "https://app.test",
      "Sec-WebSocket-Key": "not-a-valid-key",
      "Sec-WebSocket-Protocol": `kiln.v1, bearer.${token}`,
    });
    assert.equal(abandoned.status, 400);
    const refused = await rawUpgrade(server.url, {
      Origin: "https://app.test",
      "Sec-WebSocket-Protocol": `kiln.v1, bearer.${token}`,
    });
    assert.equal(refused.status, 429, "the abandoned handshake still holds the slot");
    clock.advance(10_000);
    await using _client = await TestClient.connect(server.url, token);
    assert.equal(hub.size, 1);
  } finally {
    await hub.close();
    await server.close();
  }
});

function waitForMessage(client: RealtimeClient): Promise<{ data: unknown }> {
  return new Promise((resolve) => {
    const off = client.on("message", (message) => {
      off();
      resolve(message);
    });
  });
}

Deno.test("RealtimeClient on Node takes the WebSocket class of the ws package (type-checks and connects)", async () => {
  const hub = new Hub({ onError: () => {} });
  const server = await startNodeServer(hub);
  const client = new RealtimeClient({
    url: server.url,
    token: () => sign("alice"),
    // TS2322 before: `typeof WebSocket` (the DOM's) did not accept ws's class.
    WebSocket: NodeWebSocket,
  });
  try {
    const welcome = await client.connect();
    assert.equal(welcome.user.id, "alice");
    const received = waitForMessage(client);
    await client.subscribe("news");
    await hub.broadcast("news", "hello", 1);
    assert.equal((await received).data, 1);
  } finally {
    client.close();
    await hub.close();
    await server.close();
  }
});
