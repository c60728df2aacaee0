/**
 * Unmodified pusher-js and the `pusher` server SDK against `pusher()` on
 * Deno, over real sockets.
 */
import assert from "node:assert/strict";
import { APP, startPusherServer } from "./_server.ts";
import {
  clientOptions,
  connectPusherJs,
  disconnect,
  next,
  PusherJs,
  type PusherJsClient,
  serverSdk,
  signIn,
} from "./_clients.ts";
import { TestClient as KilnTestClient } from "../_support/ws_client.ts";
import { sign } from "../_support/server.ts";

/** Subscribes and waits for the server's answer (rejects on a subscription error). */
function subscribed(client: PusherJsClient, name: string) {
  const channel = client.subscribe(name);
  return new Promise<typeof channel>((resolve, reject) => {
    channel.bind("pusher:subscription_succeeded", () => resolve(channel));
    channel.bind("pusher:subscription_error", (error: unknown) => reject(error));
  });
}

Deno.test("pusher-js on a public channel receives hub.broadcast(), a server SDK trigger and a batch", async () => {
  await using server = startPusherServer();
  const client = await connectPusherJs(server);
  try {
    const channel = await subscribed(client, "news");
    const received: unknown[] = [];
    const three = new Promise<void>((resolve) =>
      channel.bind_global((event: string, data: unknown) => {
        if (event.startsWith("pusher")) return;
        received.push([event, data]);
        if (received.length === 3) resolve();
      })
    );
    await server.hub.broadcast("news", "headline", { title: "Hello" });
    await serverSdk(server).trigger("news", "update", { n: 1 });
    await serverSdk(server).triggerBatch([{
      channel: "news",
      name: "batched",
      data: "plain text",
    }]);
    await three;
    assert.deepEqual(received, [
      ["headline", { title: "Hello" }],
      ["update", { n: 1 }],
      ["batched", "plain text"],
    ]);
  } finally {
    await disconnect(client);
  }
});

Deno.test("pusher-js subscribes to a private channel through /broadcasting/auth and is refused one it may not join", async () => {
  await using server = startPusherServer();
  const client = await connectPusherJs(server, "7");
  try {
    const channel = await subscribed(client, "private-user.7");
    const got = next((resolve) => channel.bind("invoice.paid", resolve));
    await serverSdk(server).trigger("private-user.7", "invoice.paid", { id: 3 });
    assert.deepEqual(await got, { id: 3 });
    await assert.rejects(subscribed(client, "private-user.8"), (error: { status?: number }) => {
      assert.equal(error.status, 403); // the auth endpoint refused; nothing reached the hub
      return true;
    });
    assert.deepEqual([...(server.hub.subscriptions().keys())], ["private-user.7"]);
  } finally {
    await disconnect(client);
  }
});

Deno.test("a forged auth signature is refused by the server with a subscription error", async () => {
  await using server = startPusherServer();
  const client = new PusherJs(APP.key, {
    ...clientOptions(server),
    channelAuthorization: {
      endpoint: "unused",
      transport: "ajax",
      // A client that signs for itself, without the secret.
      customHandler: (_params, callback) =>
        callback(null, { auth: `${APP.key}:${"0".repeat(64)}` }),
    },
  });
  try {
    await assert.rejects(
      subscribed(client, "private-chat"),
      (error: { status?: number; error?: string }) => {
        assert.equal(error.status, 401);
        assert.equal(error.error, "Invalid signature");
        return true;
      },
    );
    assert.equal(server.hub.subscriptions().size, 0);
  } finally {
    await disconnect(client);
  }
});

Deno.test("presence members are shared between pusher-js and Kiln's own clients", async () => {
  await using server = startPusherServer();
  const alice = await connectPusherJs(server, "alice");
  const kiln = await KilnTestClient.connect(
    server.origin.replace("http", "ws") + "/ws",
    await sign("bob"),
  );
  try {
    const room = await subscribed(alice, "presence-room.1");
    const members = (room as unknown as { members: { count: number; me: { id: string } } }).members;
    assert.equal(members.count, 1);
    assert.equal(members.me.id, "alice");
    const added = next<{ id: string; info: unknown }>((resolve) =>
      room.bind("pusher:member_added", resolve)
    );
    const joined = await kiln.subscribe("presence-room.1");
    assert.deepEqual(joined.members?.map((member) => member.id).sort(), ["alice", "bob"]);
    assert.deepEqual(await added, { id: "bob", info: { name: "User bob" } });
    const removed = next<{ id: string }>((resolve) => room.bind("pusher:member_removed", resolve));
    await kiln.close();
    assert.equal((await removed).id, "bob");
    const users = await serverSdk(server).get({ path: "/channels/presence-room.1/users" });
    assert.deepEqual(await users.json(), { users: [{ id: "alice" }] });
  } finally {
    await kiln.close();
    await disconnect(alice);
  }
});

Deno.test("client events reach the other subscribers, of both protocols, never the sender", async () => {
  await using server = startPusherServer();
  const alice = await connectPusherJs(server, "alice");
  const bob = await connectPusherJs(server, "bob");
  const kiln = await KilnTestClient.connect(
    server.origin.replace("http", "ws") + "/ws",
    await sign("carol"),
  );
  try {
    const mine = await subscribed(alice, "presence-room.2");
    const theirs = await subscribed(bob, "presence-room.2");
    await kiln.subscribe("presence-room.2");
    let echoed = false;
    mine.bind("client-typing", () => echoed = true);
    const atBob = next<[unknown, unknown]>(
      (resolve) =>
        theirs.bind("client-typing", (data: unknown, meta: unknown) => resolve([data, meta])),
      "the client event at bob",
    );
    assert.equal(mine.trigger("client-typing", { typing: true }), true);
    assert.deepEqual(await atBob, [{ typing: true }, { user_id: "alice" }]);
    const atKiln = await kiln.next("message");
    assert.deepEqual(atKiln, {
      type: "message",
      channel: "presence-room.2",
      event: "client-typing",
      data: { typing: true },
      userId: "alice",
    });
    // A round trip after the event: had it been echoed, it would have arrived by now.
    const synced = next((resolve) => mine.bind("sync", resolve), "sync");
    await serverSdk(server).trigger("presence-room.2", "sync", {});
    await synced;
    assert.equal(echoed, false);
  } finally {
    await kiln.close();
    await disconnect(alice);
    await disconnect(bob);
  }
});

Deno.test("a trigger with the sender's socket_id skips that connection", async () => {
  await using server = startPusherServer();
  const a = await connectPusherJs(server);
  const b = await connectPusherJs(server);
  try {
    const atA = await subscribed(a, "news");
    const atB = await subscribed(b, "news");
    const seenByA: string[] = [];
    atA.bind("saved", (data: { n: number }) => seenByA.push(`saved ${data.n}`));
    const bGot = next((resolve) => atB.bind("saved", resolve));
    await serverSdk(server).trigger("news", "saved", { n: 1 }, {
      socket_id: a.connection.socket_id,
    });
    assert.deepEqual(await bGot, { n: 1 });
    const aGot = next((resolve) => atA.bind("after", resolve));
    await serverSdk(server).trigger("news", "after", {});
    await aGot;
    assert.deepEqual(seenByA, []);
  } finally {
    await disconnect(a);
    await disconnect(b);
  }
});

Deno.test("an encrypted channel delivers what the server SDK encrypted, and refuses client events", async () => {
  await using server = startPusherServer();
  const client = await connectPusherJs(server, "7");
  try {
    const channel = await subscribed(client, "private-encrypted-vault");
    const got = next((resolve) => channel.bind("secret", resolve));
    await serverSdk(server).trigger("private-encrypted-vault", "secret", { pin: "1234" });
    assert.deepEqual(await got, { pin: "1234" });
    const refused = next<{ data: { code: number } }>((resolve) =>
      client.connection.bind("error", resolve)
    );
    (client as unknown as { send_event(e: string, d: unknown, c: string): boolean })
      .send_event("client-leak", { x: 1 }, "private-encrypted-vault");
    assert.equal((await refused).data.code, 4301);
  } finally {
    await disconnect(client);
  }
});

Deno.test("client events on a public channel are refused with pusher:error 4301", async () => {
  await using server = startPusherServer();
  const client = await connectPusherJs(server);
  try {
    await subscribed(client, "news");
    const refused = next<{ data: { code: number } }>((resolve) =>
      client.connection.bind("error", resolve)
    );
    (client as unknown as { send_event(e: string, d: unknown, c: string): boolean })
      .send_event("client-spoof", {}, "news");
    assert.equal((await refused).data.code, 4301);
  } finally {
    await disconnect(client);
  }
});

Deno.test("a user signs in, and terminate_connections closes their connections with 4009", async () => {
  await using server = startPusherServer();
  const client = await connectPusherJs(server, "dana");
  const other = await connectPusherJs(server, "erin");
  try {
    await signIn(client);
    assert.equal((client.user as unknown as { user_data: { id: string } }).user_data.id, "dana");
    const closed = next<{ data: { code: number } }>((resolve) =>
      client.connection.bind("error", resolve)
    );
    await serverSdk(server).terminateUserConnections("dana");
    assert.equal((await closed).data.code, 4009);
    assert.equal(other.connection.state, "connected");
  } finally {
    await disconnect(client);
    await disconnect(other);
  }
});

Deno.test("a wrong app key is refused with 4001, and pusher-js stops trying", async () => {
  await using server = startPusherServer();
  const client = new PusherJs("not-the-key", clientOptions(server));
  const errors: unknown[] = [];
  client.connection.bind("error", (error: unknown) => errors.push(error));
  try {
    await next(
      (resolve) =>
        client.connection.bind("state_change", (change: { current: string }) => {
          if (change.current === "disconnected") resolve(change);
        }),
      "pusher-js to give up",
    );
    // pusher-js reads 4000-4099 as "refused": it reports the error and does not reconnect.
    assert.deepEqual(errors, [{
      type: "WebSocketError",
      error: { type: "PusherError", data: { code: 4001, message: "Unknown app key" } },
    }]);
    assert.equal(client.connection.state, "disconnected");
  } finally {
    client.disconnect();
  }
});
