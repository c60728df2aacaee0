/**
 * Cases for `@kiln/core/realtime`: a real server per runtime (`ctx.serveWebSockets`:
 * `@hono/node-ws` on Node, `hono/bun` on Bun, `hono/cloudflare-workers` in a
 * Durable Object on workerd) and real WebSocket clients over real sockets.
 *
 * @module
 */
import { Hub, jwtAuth, realtime } from "@kiln/core/realtime";
import { SignJWT } from "jose";
import * as assert from "./_assert.mjs";

/** The suite's name, printed by every runner. */
export const name = "realtime";

const SECRET = "runtime-secret-runtime-secret-0042";

/** @param {string} sub */
async function sign(sub, key = SECRET) {
  return await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(key));
}

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

/** A WebSocket client that queues what it receives, for assertions. */
class Client {
  /** @type {Record<string, unknown>[]} */
  received = [];
  /** @type {(() => void)[]} */
  #waiters = [];

  /**
   * @param {import("./mod.mjs").CaseContext} ctx
   * @param {string} url The server's `http://` base URL.
   * @param {string} token
   */
  constructor(ctx, url, token) {
    this.socket = new ctx.WebSocket(`${url.replace(/^http/, "ws")}/ws`, [
      "kiln.v1",
      `bearer.${token}`,
    ]);
    this.opened = new Promise((resolve, reject) => {
      this.socket.addEventListener("open", () => resolve(undefined));
      this.socket.addEventListener("error", () => reject(new Error("the WebSocket failed")));
    });
    this.closed = new Promise((resolve) => {
      this.socket.addEventListener("close", (event) => {
        resolve(event.code);
        this.#wake();
      });
    });
    this.socket.addEventListener("message", (event) => {
      this.received.push(JSON.parse(String(event.data)));
      this.#wake();
    });
  }

  /** Opens, and pings: Workers' adapter starts the session on the first frame. */
  async open() {
    await this.opened;
    this.send({ type: "ping" });
    return await this.next("welcome");
  }

  /** @param {unknown} message */
  send(message) {
    this.socket.send(JSON.stringify(message));
  }

  /**
   * Takes the first received message of `type`, waiting up to 3 s for it.
   *
   * @param {string} type
   */
  async next(type) {
    const deadline = Date.now() + 3000;
    for (;;) {
      const index = this.received.findIndex((message) => message.type === type);
      if (index >= 0) return this.received.splice(index, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no ${type} within 3s; got ${JSON.stringify(this.received)}`);
      }
      let timer;
      await new Promise((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  async close() {
    this.socket.close(1000, "done");
    await this.closed;
  }

  #wake() {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/**
 * Runs `body` against a fresh server, always closing the server.
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 * @param {(url: string) => Promise<void>} body
 */
async function withServer(ctx, body) {
  const server = await ctx.serveWebSockets(mount);
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
];
