/**
 * Cases for `@kiln/core/realtime/pusher`: the Pusher protocol on the hub,
 * checked with the real clients from npm (pusher-js, Laravel Echo, and the
 * `pusher` server SDK on Node and Bun), a raw socket for what no real client
 * sends, and the HTTP API signed as the server SDKs sign it. The behaviours
 * are the ones pusher-js's integration tests and Soketi's suite check.
 *
 * @module
 */
import * as assert from "./_assert.mjs";
import { Client, sign } from "./_ws_client.mjs";
import {
  api,
  APP,
  clientOptions,
  connect,
  disconnect,
  loadEcho,
  loadPusherJs,
  MASTER_KEY,
  next,
  RawPusher,
  subscribed,
  withPusher,
} from "./_pusher_kit.mjs";

/** The suite's name, printed by every runner. */
export const name = "pusher";

const EVENTS = `/apps/${APP.id}/events`;
const SDK_ONLY = {
  runtimes: /** @type {import("./mod.mjs").Runtime[]} */ (["node", "bun"]),
  because: "the pusher server SDK needs node:crypto and node-fetch, which a Worker without " +
    "nodejs_compat lacks (workerd's HTTP API cases sign with Web Crypto instead)",
};

/**
 * The `pusher` server SDK pointed at `url` (Node and Bun only).
 *
 * @param {string} url
 * @param {string} [secret]
 */
async function serverSdk(url, secret = APP.secret) {
  const module = await import("pusher");
  const Pusher = module.default ?? module;
  const { hostname, port } = new URL(url);
  return new Pusher({
    appId: APP.id,
    key: APP.key,
    secret,
    host: hostname,
    port,
    useTLS: false,
    encryptionMasterKeyBase64: MASTER_KEY,
  });
}

/**
 * Runs `body` with pusher-js clients for `users` (undefined: anonymous), disconnecting them all.
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 * @param {(string | undefined)[]} users
 * @param {(url: string, clients: any[]) => void | Promise<void>} body
 */
async function withClients(ctx, users, body) {
  await withPusher(ctx, async (url) => {
    const clients = [];
    try {
      for (const user of users) clients.push(await connect(ctx, url, user));
      await body(url, clients);
    } finally {
      await Promise.all(clients.map(disconnect));
    }
  });
}

/**
 * A Laravel app's Echo for Reverb, pointed at `url` as user `user`.
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 * @param {string} url
 * @param {string} user
 */
async function echoFor(ctx, url, user) {
  const Echo = await loadEcho();
  const options = clientOptions(url, user);
  return new Echo({
    broadcaster: "reverb",
    key: APP.key,
    wsHost: options.wsHost,
    wsPort: options.wsPort,
    wsPath: options.wsPath,
    forceTLS: false,
    enabledTransports: ["ws"],
    authEndpoint: `${url}/broadcasting/auth`,
    auth: { headers: { "x-user": user } },
    Pusher: await loadPusherJs(ctx),
  });
}

/** @param {any} echo */
async function endEcho(echo) {
  await disconnect(echo.connector.pusher);
}

/** @param {any} value */
const text = async (
  /** @type {Response} */ response,
) => [response.status, await response.text()];

const member = (/** @type {string} */ id) =>
  JSON.stringify({ user_id: id, user_info: { name: id } });

/**
 * Runs `body` with a raw Pusher socket on a fresh server, closing both.
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 * @param {(raw: RawPusher, url: string) => Promise<void>} body
 */
async function withRaw(ctx, body) {
  await withPusher(ctx, async (url) => {
    const raw = await RawPusher.open(ctx, url);
    try {
      await body(raw, url);
    } finally {
      await raw.close();
    }
  });
}

/** A server whose app sends `pusher_internal:subscription_count`, spaced by 50 ms. */
const COUNTING = {
  pusher: { apps: [{ ...APP, subscriptionCount: true }], subscriptionCountInterval: 50 },
};

/**
 * Records the counts a pusher-js channel hears; `until(n)` waits (5 s at most) for `n`.
 *
 * @param {any} channel
 */
function counts(channel) {
  /** @type {number[]} */
  const heard = [];
  /** @type {(() => void)[]} */
  const wake = [];
  channel.bind("pusher:subscription_count", (/** @type {any} */ data) => {
    heard.push(data.subscription_count);
    for (const resolve of wake.splice(0)) resolve();
  });
  return {
    heard,
    /** @param {number} want */
    async until(want) {
      const deadline = Date.now() + 5_000;
      while (heard.at(-1) !== want) {
        if (Date.now() > deadline) {
          throw new Error(`Timed out waiting for a count of ${want}; heard ${heard.join(", ")}`);
        }
        await new Promise((resolve) => {
          wake.push(() => resolve(undefined));
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  // Connecting.
  {
    name: "pusher-js connects and gets a socket id of two integers",
    async run(ctx) {
      await withClients(ctx, [undefined], (_url, [client]) => {
        assert.equal(client.connection.state, "connected");
        assert.ok(
          /^\d+\.\d+$/.test(client.connection.socket_id),
          client.connection.socket_id,
        );
      });
    },
  },
  {
    name: "connection_established announces the activity timeout in seconds",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const raw = new RawPusher(ctx, url);
        try {
          const established = await raw.next("pusher:connection_established");
          assert.equal(established.data.activity_timeout, 30);
        } finally {
          await raw.close();
        }
      });
    },
  },
  {
    name: "pusher:ping is answered with pusher:pong",
    async run(ctx) {
      await withRaw(ctx, async (raw) => {
        await raw.roundTrip();
      });
    },
  },
  {
    name: "an unknown app key is refused with 4001 and pusher-js does not reconnect",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const PusherJs = await loadPusherJs(ctx);
        const client = new PusherJs("wrong-key", clientOptions(url));
        const errors = [];
        client.connection.bind(
          "error",
          (/** @type {unknown} */ error) => errors.push(error),
        );
        try {
          await next(
            (resolve) =>
              client.connection.bind(
                "state_change",
                (/** @type {any} */ change) => {
                  if (change.current === "disconnected") resolve(change);
                },
              ),
            "pusher-js to give up",
          );
          assert.equal(errors.length, 1);
          assert.equal(JSON.stringify(errors[0]).includes('"code":4001'), true);
        } finally {
          client.disconnect();
        }
      });
    },
  },
  {
    name: "a protocol version other than 7 is refused with 4007",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const raw = new RawPusher(ctx, url, "protocol=5");
        assert.equal((await raw.next("pusher:error")).data.code, 4007);
        assert.equal(await raw.closed, 4007);
      });
    },
  },
  {
    name: "garbage frames are answered with pusher:error and the connection stays open",
    async run(ctx) {
      await withRaw(ctx, async (raw) => {
        raw.socket.send("{not json");
        await raw.next("pusher:error");
        raw.send("pusher:nonsense", {});
        await raw.next("pusher:error");
        await raw.roundTrip();
      });
    },
  },
  {
    name: "a frame larger than maxMessageBytes closes the connection with 4300",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const raw = await RawPusher.open(ctx, url);
        raw.send("client-big", { blob: "x".repeat(20_000) }, "private-chat");
        assert.equal(await raw.closed, 4300);
      });
    },
  },
  // Public channels.
  {
    name: "a public channel subscribes without authorization",
    async run(ctx) {
      await withClients(ctx, [undefined], async (_url, [client]) => {
        await subscribed(client, "news");
      });
    },
  },
  {
    name: "hub.broadcast() reaches a pusher-js subscriber with its data",
    async run(ctx) {
      await withClients(ctx, [undefined], async (url, [client]) => {
        const channel = await subscribed(client, "news");
        const got = next(
          (resolve) => channel.bind("headline", resolve),
          "headline",
        );
        await fetch(`${url}/broadcast`, {
          method: "POST",
          body: JSON.stringify({
            channel: "news",
            event: "headline",
            data: { title: "Hi" },
          }),
        });
        assert.deepEqual(await got, { title: "Hi" });
      });
    },
  },
  {
    name: "after unsubscribe a channel's broadcasts no longer arrive",
    async run(ctx) {
      await withRaw(ctx, async (raw, url) => {
        raw.send("pusher:subscribe", { channel: "news" });
        await raw.next("pusher_internal:subscription_succeeded", "news");
        raw.send("pusher:unsubscribe", { channel: "news" });
        await raw.roundTrip();
        const answer = await api(url, "POST", EVENTS, {
          body: { name: "late", channel: "news", data: "{}" },
        });
        assert.equal(answer.status, 200);
        await raw.roundTrip();
        assert.equal(raw.frames.some((frame) => frame.event === "late"), false);
      });
    },
  },
  {
    name: "a plain-string data arrives as the same string",
    async run(ctx) {
      await withClients(ctx, [undefined], async (url, [client]) => {
        const channel = await subscribed(client, "news");
        const got = next((resolve) => channel.bind("note", resolve), "note");
        await api(url, "POST", EVENTS, {
          body: { name: "note", channel: "news", data: "hello" },
        });
        assert.equal(await got, "hello");
      });
    },
  },
  // Private channels.
  {
    name: "a private channel subscribes through the app's /broadcasting/auth",
    async run(ctx) {
      await withClients(ctx, ["7"], async (url, [client]) => {
        const channel = await subscribed(client, "private-user.7");
        const got = next((resolve) => channel.bind("paid", resolve), "paid");
        await api(url, "POST", EVENTS, {
          body: { name: "paid", channel: "private-user.7", data: '{"id":1}' },
        });
        assert.deepEqual(await got, { id: 1 });
      });
    },
  },
  {
    name: "a private channel the app refuses fails with a 403 subscription error",
    async run(ctx) {
      await withClients(ctx, ["7"], async (_url, [client]) => {
        await assert.rejects(subscribed(client, "private-user.8"), {
          status: 403,
        });
      });
    },
  },
  {
    name: "a forged subscription signature is refused with a 401 subscription error",
    async run(ctx) {
      await withRaw(ctx, async (raw) => {
        raw.send("pusher:subscribe", {
          channel: "private-chat",
          auth: `${APP.key}:${"0".repeat(64)}`,
        });
        const refused = await raw.next(
          "pusher:subscription_error",
          "private-chat",
        );
        assert.deepEqual(refused.data, {
          type: "AuthError",
          error: "Invalid signature",
          status: 401,
        });
      });
    },
  },
  {
    name: "a signature made for another socket id is refused",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const a = await RawPusher.open(ctx, url);
        const b = await RawPusher.open(ctx, url);
        try {
          b.send("pusher:subscribe", {
            channel: "private-chat",
            auth: await a.auth("private-chat"),
          });
          assert.equal(
            (await b.next("pusher:subscription_error", "private-chat")).data
              .status,
            401,
          );
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      });
    },
  },
  {
    name: "a signature under another app's key is refused",
    async run(ctx) {
      await withRaw(ctx, async (raw) => {
        const signed = await raw.auth("private-chat");
        raw.send("pusher:subscribe", {
          channel: "private-chat",
          auth: `other-key:${signed.split(":")[1]}`,
        });
        assert.equal(
          (await raw.next("pusher:subscription_error", "private-chat")).data
            .status,
          401,
        );
      });
    },
  },
  // Presence channels.
  {
    name: "a presence subscription lists the member itself with its user_info",
    async run(ctx) {
      await withClients(ctx, ["alice"], async (_url, [client]) => {
        const room = await subscribed(client, "presence-room");
        assert.equal(room.members.count, 1);
        assert.equal(room.members.me.id, "alice");
        assert.deepEqual(room.members.me.info, { name: "User alice" });
      });
    },
  },
  {
    name: "member_added and member_removed reach the members already there",
    async run(ctx) {
      await withClients(ctx, ["alice", "bob"], async (_url, [alice, bob]) => {
        const room = await subscribed(alice, "presence-room");
        const added = next(
          (resolve) => room.bind("pusher:member_added", resolve),
          "member_added",
        );
        await subscribed(bob, "presence-room");
        assert.deepEqual(await added, {
          id: "bob",
          info: { name: "User bob" },
        });
        const removed = next(
          (resolve) => room.bind("pusher:member_removed", resolve),
          "member_removed",
        );
        bob.unsubscribe("presence-room");
        assert.equal((await removed).id, "bob");
      });
    },
  },
  {
    name: "one user in two connections is one member",
    async run(ctx) {
      await withClients(
        ctx,
        ["alice", "alice", "bob"],
        async (_url, [a1, a2, bob]) => {
          await subscribed(a1, "presence-room");
          await subscribed(a2, "presence-room");
          const room = await subscribed(bob, "presence-room");
          assert.equal(room.members.count, 2);
        },
      );
    },
  },
  {
    name: "a Kiln-protocol member and a pusher-js member see each other",
    async run(ctx) {
      await withClients(ctx, ["alice"], async (url, [alice]) => {
        const room = await subscribed(alice, "presence-room");
        const added = next(
          (resolve) => room.bind("pusher:member_added", resolve),
          "member_added",
        );
        const kiln = new Client(ctx, url, await sign("carol"));
        try {
          await kiln.open();
          kiln.send({ type: "subscribe", channel: "presence-room" });
          const joined = await kiln.next("subscribed");
          assert.deepEqual(joined.members.map((m) => m.id).sort(), [
            "alice",
            "carol",
          ]);
          assert.deepEqual(await added, {
            id: "carol",
            info: { name: "User carol" },
          });
        } finally {
          await kiln.close();
        }
      });
    },
  },
  {
    name: "channel_data other than what was signed is refused and nobody joins",
    async run(ctx) {
      await withRaw(ctx, async (raw, url) => {
        raw.send("pusher:subscribe", {
          channel: "presence-room",
          auth: await raw.auth("presence-room", member("mallory")),
          channel_data: member("admin"),
        });
        assert.equal(
          (await raw.next("pusher:subscription_error", "presence-room")).data
            .status,
          401,
        );
        const users = await api(
          url,
          "GET",
          `/apps/${APP.id}/channels/presence-room/users`,
        );
        assert.deepEqual(await users.json(), { users: [] });
      });
    },
  },
  {
    name: "a connection cannot take a second identity on another presence channel",
    async run(ctx) {
      await withRaw(ctx, async (raw) => {
        raw.send("pusher:subscribe", {
          channel: "presence-a",
          auth: await raw.auth("presence-a", member("alice")),
          channel_data: member("alice"),
        });
        await raw.next("pusher_internal:subscription_succeeded", "presence-a");
        raw.send("pusher:subscribe", {
          channel: "presence-b",
          auth: await raw.auth("presence-b", member("bob")),
          channel_data: member("bob"),
        });
        assert.equal(
          (await raw.next("pusher:subscription_error", "presence-b")).data
            .status,
          403,
        );
      });
    },
  },
  // Encrypted channels.
  {
    name: "an encrypted channel subscribes with the shared secret from /broadcasting/auth",
    async run(ctx) {
      await withClients(ctx, ["7"], async (_url, [client]) => {
        await subscribed(client, "private-encrypted-vault");
      });
    },
  },
  {
    name: "client events on an encrypted channel are refused with 4301",
    async run(ctx) {
      await withRaw(ctx, async (raw) => {
        raw.send("pusher:subscribe", {
          channel: "private-encrypted-vault",
          auth: await raw.auth("private-encrypted-vault"),
        });
        await raw.next(
          "pusher_internal:subscription_succeeded",
          "private-encrypted-vault",
        );
        raw.send("client-leak", {}, "private-encrypted-vault");
        assert.equal((await raw.next("pusher:error")).data.code, 4301);
      });
    },
  },
  // Client events.
  {
    name: "a client event reaches the other subscribers and not its sender",
    async run(ctx) {
      await withClients(ctx, ["alice", "bob"], async (url, [alice, bob]) => {
        const mine = await subscribed(alice, "private-chat");
        const theirs = await subscribed(bob, "private-chat");
        let echoed = false;
        mine.bind("client-typing", () => echoed = true);
        const got = next(
          (resolve) => theirs.bind("client-typing", resolve),
          "client-typing",
        );
        mine.trigger("client-typing", { on: true });
        assert.deepEqual(await got, { on: true });
        const synced = next((resolve) => mine.bind("sync", resolve), "sync");
        await api(url, "POST", EVENTS, {
          body: { name: "sync", channel: "private-chat", data: "{}" },
        });
        await synced;
        assert.equal(echoed, false);
      });
    },
  },
  {
    name: "a client event on a presence channel names its sender's user_id",
    async run(ctx) {
      await withClients(ctx, ["alice", "bob"], async (_url, [alice, bob]) => {
        const mine = await subscribed(alice, "presence-room");
        const theirs = await subscribed(bob, "presence-room");
        const got = next(
          (resolve) =>
            theirs.bind(
              "client-wave",
              (/** @type {unknown} */ data, /** @type {unknown} */ meta) => resolve([data, meta]),
            ),
          "client-wave",
        );
        mine.trigger("client-wave", {});
        assert.deepEqual(await got, [{}, { user_id: "alice" }]);
      });
    },
  },
  {
    name: "a client event on a public channel is refused with 4301",
    async run(ctx) {
      await withRaw(ctx, async (raw) => {
        raw.send("pusher:subscribe", { channel: "news" });
        await raw.next("pusher_internal:subscription_succeeded", "news");
        raw.send("client-spoof", {}, "news");
        assert.equal((await raw.next("pusher:error")).data.code, 4301);
      });
    },
  },
  {
    name: "a client event reaches a Kiln-protocol subscriber of the channel",
    async run(ctx) {
      await withClients(ctx, ["alice"], async (url, [alice]) => {
        const channel = await subscribed(alice, "private-chat");
        const kiln = new Client(ctx, url, await sign("carol"));
        try {
          await kiln.open();
          kiln.send({ type: "subscribe", channel: "private-chat" });
          await kiln.next("subscribed");
          channel.trigger("client-hello", { from: "pusher-js" });
          const message = await kiln.next("message");
          assert.deepEqual([message.event, message.data], ["client-hello", {
            from: "pusher-js",
          }]);
        } finally {
          await kiln.close();
        }
      });
    },
  },
  {
    name: "a flood of client events ends with a 4301 close",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const raw = await RawPusher.open(ctx, url);
        raw.send("pusher:subscribe", {
          channel: "private-chat",
          auth: await raw.auth("private-chat"),
        });
        await raw.next(
          "pusher_internal:subscription_succeeded",
          "private-chat",
        );
        for (let i = 0; i < 200; i++) {
          raw.send("client-spam", { i }, "private-chat");
        }
        const code = await raw.closed;
        // A client still sending may see the close cut short; when it arrives it is 4301.
        assert.ok(code === 4301 || code === 1006, `closed with ${code}`);
        assert.equal(
          raw.frames.some((frame) => frame.data?.code === 4301),
          true,
        );
      });
    },
  },
  // Sign-in and termination.
  {
    name: "pusher-js signs in through /broadcasting/user-auth",
    async run(ctx) {
      await withClients(ctx, ["dana"], async (_url, [client]) => {
        client.signin();
        await client.user.signinDonePromise;
        assert.equal(client.user.user_data.id, "dana");
        assert.equal(client.user.user_data.name, "User dana");
      });
    },
  },
  {
    name: "terminate_connections closes the signed-in user's connections with 4009",
    async run(ctx) {
      await withClients(ctx, ["dana", "erin"], async (url, [dana, erin]) => {
        dana.signin();
        await dana.user.signinDonePromise;
        const closed = next(
          (resolve) => dana.connection.bind("error", resolve),
          "the close",
        );
        const answer = await api(
          url,
          "POST",
          `/apps/${APP.id}/users/dana/terminate_connections`,
          {
            body: {},
          },
        );
        assert.equal(answer.status, 200);
        assert.equal(JSON.stringify(await closed).includes("4009"), true);
        assert.equal(erin.connection.state, "connected");
      });
    },
  },
  {
    name: "a sign-in with a forged signature is refused with pusher:error 4009",
    async run(ctx) {
      await withRaw(ctx, async (raw) => {
        raw.send("pusher:signin", {
          auth: `${APP.key}:${"1".repeat(64)}`,
          user_data: '{"id":"x"}',
        });
        assert.equal((await raw.next("pusher:error")).data.code, 4009);
      });
    },
  },
  // HTTP API, signed with Web Crypto.
  {
    name: "a signed POST /events reaches subscribers of every named channel",
    async run(ctx) {
      await withClients(ctx, [undefined], async (url, [client]) => {
        const a = await subscribed(client, "news");
        const b = await subscribed(client, "sport");
        const both = Promise.all([
          next((resolve) => a.bind("multi", resolve), "multi on news"),
          next((resolve) => b.bind("multi", resolve), "multi on sport"),
        ]);
        const answer = await api(url, "POST", EVENTS, {
          body: { name: "multi", channels: ["news", "sport"], data: '{"n":2}' },
        });
        assert.deepEqual(await text(answer), [200, "{}"]);
        assert.deepEqual(await both, [{ n: 2 }, { n: 2 }]);
      });
    },
  },
  {
    name: "POST /batch_events delivers each event to its channel",
    async run(ctx) {
      await withClients(ctx, [undefined], async (url, [client]) => {
        const a = await subscribed(client, "news");
        const got = next((resolve) => a.bind("second", resolve), "second");
        const answer = await api(url, "POST", `/apps/${APP.id}/batch_events`, {
          body: {
            batch: [
              { name: "first", channel: "elsewhere", data: "{}" },
              { name: "second", channel: "news", data: '"two"' },
            ],
          },
        });
        assert.equal(answer.status, 200);
        assert.equal(await got, "two");
      });
    },
  },
  {
    name: "socket_id on a publish skips that connection",
    async run(ctx) {
      await withClients(ctx, [undefined, undefined], async (url, [a, b]) => {
        const atA = await subscribed(a, "news");
        const atB = await subscribed(b, "news");
        const seen = [];
        atA.bind("saved", () => seen.push("a"));
        const got = next((resolve) => atB.bind("saved", resolve), "saved at b");
        await api(url, "POST", EVENTS, {
          body: {
            name: "saved",
            channel: "news",
            data: "{}",
            socket_id: a.connection.socket_id,
          },
        });
        await got;
        const after = next(
          (resolve) => atA.bind("after", resolve),
          "after at a",
        );
        await api(url, "POST", EVENTS, {
          body: { name: "after", channel: "news", data: "{}" },
        });
        await after;
        assert.deepEqual(seen, []);
      });
    },
  },
  {
    name: "an unsigned publish is refused with 401",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const answer = await api(url, "POST", EVENTS, {
          body: { name: "x", channel: "news", data: "{}" },
          unsigned: true,
        });
        assert.equal(answer.status, 401);
        await answer.body?.cancel();
      });
    },
  },
  {
    name: "a publish signed with the wrong secret is refused with 401",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const answer = await api(url, "POST", EVENTS, {
          body: { name: "x", channel: "news", data: "{}" },
          secret: "guessed",
        });
        assert.deepEqual(await text(answer), [401, "Invalid signature"]);
      });
    },
  },
  {
    name: "an auth_timestamp more than 600 s old is refused with 401",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const answer = await api(url, "POST", EVENTS, {
          body: { name: "x", channel: "news", data: "{}" },
          timestamp: Math.floor(Date.now() / 1000) - 601,
        });
        assert.equal(answer.status, 401);
        await answer.body?.cancel();
      });
    },
  },
  {
    name: "a captured signature sent with another body is refused with 401",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const signed = await api(url, "GET", `/apps/${APP.id}/channels`);
        await signed.body?.cancel();
        const body = JSON.stringify({
          name: "x",
          channel: "news",
          data: '{"amount":1}',
        });
        const query = new URL(signed.url).search;
        const replayed = await fetch(`${url}${EVENTS}${query}`, {
          method: "POST",
          body,
        });
        assert.equal(replayed.status, 401);
        await replayed.body?.cancel();
      });
    },
  },
  {
    name: "event data over 10 KB is refused with 413",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const answer = await api(url, "POST", EVENTS, {
          body: { name: "x", channel: "news", data: "x".repeat(10_241) },
        });
        assert.equal(answer.status, 413);
        await answer.body?.cancel();
      });
    },
  },
  {
    name: "GET /channels lists occupied channels with presence user counts",
    async run(ctx) {
      await withClients(ctx, ["alice"], async (url, [client]) => {
        await subscribed(client, "news");
        await subscribed(client, "presence-room");
        const all = await api(url, "GET", `/apps/${APP.id}/channels`);
        assert.deepEqual(await all.json(), {
          channels: { news: {}, "presence-room": {} },
        });
        const presence = await api(url, "GET", `/apps/${APP.id}/channels`, {
          params: { filter_by_prefix: "presence-", info: "user_count" },
        });
        assert.deepEqual(await presence.json(), {
          channels: { "presence-room": { user_count: 1 } },
        });
      });
    },
  },
  {
    name: "GET /channels/:name answers occupied and subscription_count",
    async run(ctx) {
      await withClients(ctx, [undefined, undefined], async (url, [a, b]) => {
        await subscribed(a, "news");
        await subscribed(b, "news");
        const answer = await api(url, "GET", `/apps/${APP.id}/channels/news`, {
          params: { info: "subscription_count" },
        });
        assert.deepEqual(await answer.json(), {
          occupied: true,
          subscription_count: 2,
        });
        const empty = await api(url, "GET", `/apps/${APP.id}/channels/nobody`);
        assert.deepEqual(await empty.json(), { occupied: false });
      });
    },
  },
  {
    name: "pusher-js hears subscription_count as others subscribe and leave",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const [a, b, c] = [
          await connect(ctx, url),
          await connect(ctx, url),
          await connect(ctx, url),
        ];
        try {
          // Listening before the subscription is answered: on Node, pusher-js's transport
          // hands on the count that follows it in the same read before an await resumes.
          const heard = counts(a.subscribe("news"));
          await subscribed(a, "news");
          await heard.until(1);
          await subscribed(b, "news");
          await subscribed(c, "news");
          await heard.until(3);
          b.unsubscribe("news");
          await heard.until(2);
          await disconnect(c);
          await heard.until(1);
        } finally {
          await Promise.all([a, b, c].map(disconnect));
        }
      }, COUNTING);
    },
  },
  {
    name: "subscription_count and GET /channels/:name add up two instances joined by RedisFanout",
    async run(ctx) {
      const options = {
        ...COUNTING,
        Redis: ctx.Redis,
        redisUrl: ctx.redisUrl,
        redisToken: ctx.redisToken,
        hubName: `${ctx.namespace}-pusher-counts`,
      };
      await withPusher(ctx, async (first) => {
        await withPusher(ctx, async (second) => {
          const a = await connect(ctx, first);
          const b = await connect(ctx, second);
          try {
            // Listening before the subscription is answered: on Node, pusher-js's transport
            // hands on the count that follows it in the same read before an await resumes.
            const heard = counts(a.subscribe("news"));
            await subscribed(a, "news");
            await heard.until(1);
            await subscribed(b, "news");
            await heard.until(2); // a subscriber of the other instance, told through Redis
            for (const url of [first, second]) {
              // Each instance stores its subscribers a round trip after answering them.
              let body;
              for (const deadline = Date.now() + 5_000; Date.now() < deadline;) {
                const answer = await api(url, "GET", `/apps/${APP.id}/channels/news`, {
                  params: { info: "subscription_count" },
                });
                body = await answer.json();
                if (body.subscription_count === 2) break;
                await new Promise((resolve) => setTimeout(resolve, 50));
              }
              assert.deepEqual(body, { occupied: true, subscription_count: 2 });
            }
            await disconnect(b);
            await heard.until(1);
          } finally {
            await Promise.all([a, b].map(disconnect));
          }
        }, options);
      }, options);
    },
  },
  {
    name: "GET /channels/:name/users lists a presence channel's users and refuses others with 400",
    async run(ctx) {
      await withClients(ctx, ["alice"], async (url, [client]) => {
        await subscribed(client, "presence-room");
        const users = await api(
          url,
          "GET",
          `/apps/${APP.id}/channels/presence-room/users`,
        );
        assert.deepEqual(await users.json(), { users: [{ id: "alice" }] });
        const refused = await api(
          url,
          "GET",
          `/apps/${APP.id}/channels/news/users`,
        );
        assert.equal(refused.status, 400);
        await refused.body?.cancel();
      });
    },
  },
  // The server SDK (Node and Bun).
  {
    name: "pusher.trigger() from the server SDK reaches pusher-js",
    ...SDK_ONLY,
    async run(ctx) {
      await withClients(ctx, [undefined], async (url, [client]) => {
        const channel = await subscribed(client, "news");
        const got = next((resolve) => channel.bind("sdk", resolve), "sdk");
        await (await serverSdk(url)).trigger("news", "sdk", { from: "node" });
        assert.deepEqual(await got, { from: "node" });
      });
    },
  },
  {
    name: "pusher.triggerBatch() from the server SDK reaches pusher-js",
    ...SDK_ONLY,
    async run(ctx) {
      await withClients(ctx, [undefined], async (url, [client]) => {
        const channel = await subscribed(client, "news");
        const got = next(
          (resolve) => channel.bind("batched", resolve),
          "batched",
        );
        await (await serverSdk(url)).triggerBatch([{
          channel: "news",
          name: "batched",
          data: "b",
        }]);
        assert.equal(await got, "b");
      });
    },
  },
  {
    name: "an event the server SDK encrypts is decrypted by pusher-js",
    ...SDK_ONLY,
    async run(ctx) {
      await withClients(ctx, ["7"], async (url, [client]) => {
        const channel = await subscribed(client, "private-encrypted-vault");
        const got = next(
          (resolve) => channel.bind("secret", resolve),
          "secret",
        );
        await (await serverSdk(url)).trigger(
          "private-encrypted-vault",
          "secret",
          { pin: "0042" },
        );
        assert.deepEqual(await got, { pin: "0042" });
      });
    },
  },
  {
    name: "the server SDK with a wrong secret is refused with 401",
    ...SDK_ONLY,
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        await assert.rejects(
          (await serverSdk(url, "wrong")).trigger("news", "x", {}),
          {
            status: 401,
          },
        );
      });
    },
  },
  // Laravel Echo.
  {
    name: "Echo: here, joining and leaving on a presence channel",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const alice = await echoFor(ctx, url, "alice");
        const bob = await echoFor(ctx, url, "bob");
        try {
          const room = alice.join("room.1");
          assert.deepEqual(
            await next((resolve) => room.here(resolve), "here"),
            [{
              name: "User alice",
            }],
          );
          const joining = next((resolve) => room.joining(resolve), "joining");
          bob.join("room.1");
          assert.deepEqual(await joining, { name: "User bob" });
          const leaving = next((resolve) => room.leaving(resolve), "leaving");
          bob.leave("room.1");
          assert.deepEqual(await leaving, { name: "User bob" });
        } finally {
          await endEcho(alice);
          await endEcho(bob);
        }
      });
    },
  },
  {
    name: "Echo: a whisper reaches the other listener",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const alice = await echoFor(ctx, url, "alice");
        const bob = await echoFor(ctx, url, "bob");
        try {
          const mine = alice.private("chat");
          const theirs = bob.private("chat");
          await Promise.all([
            next((resolve) => mine.subscribed(resolve), "alice subscribed"),
            next((resolve) => theirs.subscribed(resolve), "bob subscribed"),
          ]);
          const got = next(
            (resolve) => theirs.listenForWhisper("typing", resolve),
            "whisper",
          );
          mine.whisper("typing", { name: "alice" });
          assert.deepEqual(await got, { name: "alice" });
        } finally {
          await endEcho(alice);
          await endEcho(bob);
        }
      });
    },
  },
  {
    name: "Echo: a Laravel-namespaced event reaches listen(), and error() hears a refusal",
    async run(ctx) {
      await withPusher(ctx, async (url) => {
        const echo = await echoFor(ctx, url, "7");
        try {
          const channel = echo.private("user.7");
          await next((resolve) => channel.subscribed(resolve), "subscribed");
          const got = next(
            (resolve) => channel.listen("OrderShipped", resolve),
            "OrderShipped",
          );
          await api(url, "POST", EVENTS, {
            body: {
              name: "App\\Events\\OrderShipped",
              channel: "private-user.7",
              data: '{"order":3}',
            },
          });
          assert.deepEqual(await got, { order: 3 });
          const refused = await next(
            (resolve) => echo.private("user.8").error(resolve),
            "error",
          );
          assert.equal(refused.status, 403);
        } finally {
          await endEcho(echo);
        }
      });
    },
  },
];
