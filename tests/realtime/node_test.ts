import assert from "node:assert/strict";
import { serve } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import { Hono } from "hono";
import { Hub } from "../../src/realtime/hub.ts";
import { jwtAuth } from "../../src/realtime/jwt_auth.ts";
import { realtime } from "../../src/realtime/realtime.ts";
import { AUDIENCE, ISSUER, SECRET, sign } from "./_support/server.ts";
import { CloseCode } from "../../src/realtime/close_codes.ts";
import { maskedTextFrame, rawUpgrade, TestClient } from "./_support/ws_client.ts";

/** Serves realtime() on @hono/node-server with @hono/node-ws, on a free port. */
async function startNodeServer(hub: Hub, maxBufferedBytes?: number) {
  const app = new Hono();
  const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app });
  app.get(
    "/ws",
    realtime(hub, {
      upgradeWebSocket,
      auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE }),
      authorize: (user, channel) => channel.name === `private-user.${user.id}`,
      origins: ["https://app.test"],
      maxBufferedBytes,
    }),
  );
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = serve(
    { fetch: app.fetch, port: 0, hostname: "127.0.0.1" },
    (info) => resolve(info.port),
  );
  injectWebSocket(server);
  const port = await listening;
  return {
    port,
    close: () => new Promise<unknown>((done) => server.close(done)),
  };
}

Deno.test("on Node, batched writes still close a consumer that stops reading with SlowConsumer", async () => {
  const codes: number[] = [];
  const hub = new Hub({ onError: () => {} }).use({
    onClose: (_connection, { code }) => void codes.push(code),
  });
  const server = await startNodeServer(hub, 256 * 1024);
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
