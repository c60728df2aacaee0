import assert from "node:assert/strict";
import { serve } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import { Hono } from "hono";
import { Hub } from "../../src/realtime/hub.ts";
import { jwtAuth } from "../../src/realtime/jwt_auth.ts";
import { realtime } from "../../src/realtime/realtime.ts";
import { AUDIENCE, ISSUER, SECRET, sign } from "./_support/server.ts";
import { rawUpgrade, TestClient } from "./_support/ws_client.ts";

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
