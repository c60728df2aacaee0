/**
 * Cases for `@kiln/core/realtime`: a real server per runtime (`ctx.serveWebSockets`:
 * `@hono/node-ws` on Node, `hono/bun` on Bun, `hono/cloudflare-workers` in a
 * Durable Object on workerd) and real WebSocket clients over real sockets.
 *
 * @module
 */
import { Hub, jwtAuth, realtime, RealtimeClient } from "@kiln/core/realtime";
import * as assert from "./_assert.mjs";
import { ManualClock } from "./_manual_clock.mjs";
import { Signal } from "./_signal.mjs";
import { Client, postJson, SECRET, sign } from "./_ws_client.mjs";

/** The suite's name, printed by every runner. */
export const name = "realtime";

/**
 * The app every case serves: the realtime endpoint, and an HTTP route that
 * broadcasts, because `hub.broadcast` must run where the hub lives (in workerd,
 * inside the Durable Object).
 *
 * @type {import("./mod.mjs").WebSocketSetup}
 */
function mount({ app, upgradeWebSocket }) {
  const hub = new Hub({ onError: () => {} });
  app.get(
    "/ws",
    realtime(hub, {
      upgradeWebSocket,
      auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"] }),
      authorize: (user, channel) => channel.name === `private-user.${user.id}`,
      origins: ["https://app.test"],
    }),
  );
  app.post("/broadcast", async (c) => {
    const { channel, event, data } = await c.req.json();
    await hub.broadcast(channel, event, data);
    return c.json({ connections: hub.size });
  });
  return () => hub.close();
}

/**
 * Like `mount`, with the hub on a manual clock that `POST /advance { to }` moves
 * (token expiry without waiting for it), and an idle timeout far beyond any advance.
 *
 * @type {import("./mod.mjs").WebSocketSetup}
 */
function mountOnManualClock({ app, upgradeWebSocket }) {
  const clock = new ManualClock(Date.now());
  const hub = new Hub({ clock, onError: () => {} });
  app.get(
    "/ws",
    realtime(hub, {
      upgradeWebSocket,
      auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"] }),
      authorize: (user, channel) => channel.name === `private-user.${user.id}`,
      idleTimeout: 24 * 3600_000,
    }),
  );
  app.post("/broadcast", async (c) => {
    const { channel, event, data } = await c.req.json();
    await hub.broadcast(channel, event, data);
    return c.json({ connections: hub.size });
  });
  app.post("/advance", async (c) => {
    const { to } = await c.req.json();
    clock.advance(Math.max(0, to - clock.now()));
    return c.json({ now: clock.now() });
  });
  return () => hub.close();
}

/**
 * Runs `body` against a fresh server, always closing the server.
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 * @param {(url: string) => Promise<void>} body
 * @param {import("./mod.mjs").WebSocketSetup} [setup]
 */
async function withServer(ctx, body, setup = mount) {
  const server = await ctx.serveWebSockets(setup);
  try {
    await body(server.url);
  } finally {
    await server.close();
  }
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "a valid token connects, receives welcome for its user, and only kiln.v1 is echoed",
    async run(ctx) {
      await withServer(ctx, async (url) => {
        const client = new Client(ctx, url, await sign("alice"));
        try {
          const welcome = await client.open();
          assert.equal(welcome.user.id, "alice");
          assert.equal(typeof welcome.connectionId, "string");
          // The token offered beside kiln.v1 must never be reflected.
          assert.equal(client.socket.protocol, "kiln.v1");
        } finally {
          await client.close();
        }
        // The 101 itself, as a browser sees it: exactly one subprotocol.
        const accepted = await ctx.handshake(`${url}/ws`, {
          "Sec-WebSocket-Protocol": `kiln.v1, bearer.${await sign("alice")}`,
        });
        assert.equal(accepted.status, 101);
        assert.equal(accepted.headers.get("sec-websocket-protocol"), "kiln.v1");
      });
    },
  },
  {
    name: "a token signed with another key is refused with 401 before the upgrade",
    async run(ctx) {
      await withServer(ctx, async (url) => {
        const refused = await ctx.handshake(`${url}/ws`, {
          "Sec-WebSocket-Protocol": `kiln.v1, bearer.${await sign("alice", "x".repeat(34))}`,
        });
        assert.equal(refused.status, 401);
        // @hono/node-ws writes only the status line of a refused upgrade.
        if (ctx.runtime !== "node") {
          assert.ok(
            refused.headers.get("www-authenticate")?.includes('error="invalid_token"'),
            `WWW-Authenticate: ${refused.headers.get("www-authenticate")}`,
          );
        }
        assert.equal(refused.headers.get("sec-websocket-accept"), null);
      });
    },
  },
  {
    name: "a broadcast from an HTTP handler reaches a subscriber of the channel, and only it",
    async run(ctx) {
      await withServer(ctx, async (url) => {
        const alice = new Client(ctx, url, await sign("alice"));
        const bob = new Client(ctx, url, await sign("bob"));
        try {
          await alice.open();
          await bob.open();
          alice.send({ type: "subscribe", channel: "private-user.alice" });
          assert.equal((await alice.next("subscribed")).channel, "private-user.alice");
          // Bob may not listen on Alice's private channel.
          bob.send({ type: "subscribe", channel: "private-user.alice" });
          assert.equal((await bob.next("error")).code, "forbidden");

          const response = await fetch(`${url}/broadcast`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              channel: "private-user.alice",
              event: "invoice.paid",
              data: { id: 7 },
            }),
          });
          assert.deepEqual(await response.json(), { connections: 2 });
          const message = await alice.next("message");
          assert.deepEqual(
            [message.channel, message.event, message.data],
            ["private-user.alice", "invoice.paid", { id: 7 }],
          );
          bob.send({ type: "ping" });
          await bob.next("pong");
          assert.equal(bob.received.find((m) => m.type === "message"), undefined);
        } finally {
          await Promise.all([alice.close(), bob.close()]);
        }
      });
    },
  },
  {
    name: "RealtimeClient connects, subscribes, receives broadcasts, and answers token_expiring " +
      "with a fresh token, so its connection outlives the first token",
    async run(ctx) {
      await withServer(ctx, async (url) => {
        // The first token lives two minutes, the refreshed one an hour.
        const tokens = [
          await sign("alice", SECRET, 120),
          await sign("alice", SECRET, 3600),
        ];
        let asked = 0;
        const changed = new Signal();
        const welcomes = [];
        const messages = [];
        const client = new RealtimeClient({
          url: `${url.replace(/^http/, "ws")}/ws`,
          token: () => tokens[Math.min(asked++, 1)],
          WebSocket: ctx.WebSocket,
          reconnect: false, // a close must show, not be papered over
        });
        client.on("welcome", (message) => {
          welcomes.push(message);
          changed.notify();
        });
        client.on("message", (message) => {
          messages.push(message);
          changed.notify();
        });
        try {
          const welcome = await client.connect();
          assert.equal(welcome.user.id, "alice");
          assert.equal(await client.subscribe("private-user.alice"), undefined);
          await assert.rejects(client.subscribe("private-user.bob"), {
            message: /^forbidden:/,
          });

          const broadcast = (event) =>
            postJson(`${url}/broadcast`, {
              channel: "private-user.alice",
              event,
              data: { event },
            });
          await broadcast("before-refresh");
          await changed.until(
            () => messages.length === 1,
            "the first broadcast arrived",
          );
          assert.deepEqual(messages[0].data, { event: "before-refresh" });

          // Half a minute before the first token expires: the server warns, the client refreshes.
          const firstExpiry = welcome.expiresAt;
          await postJson(`${url}/advance`, { to: firstExpiry - 30_000 });
          await changed.until(
            () => welcomes.length === 2,
            "the refresh was welcomed",
          );
          assert.equal(asked, 2, "the token provider was asked again");
          assert.ok(
            welcomes[1].expiresAt > firstExpiry,
            `new expiry ${welcomes[1].expiresAt}`,
          );
          assert.equal(client.welcome?.expiresAt, welcomes[1].expiresAt);

          // Past the first token's expiry: without the refresh the server closes here (4xxx).
          await postJson(`${url}/advance`, { to: firstExpiry + 1_000 });
          await broadcast("after-refresh");
          await changed.until(
            () => messages.length === 2,
            "the broadcast after expiry arrived",
          );
          assert.equal(messages[1].event, "after-refresh");
          assert.ok(client.connected);
        } finally {
          client.close();
        }
      }, mountOnManualClock);
    },
  },
];
