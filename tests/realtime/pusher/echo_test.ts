/**
 * Unmodified Laravel Echo, with pusher-js as its connector, configured as a
 * Laravel app configures it for Reverb, against `pusher()` on Deno.
 */
import assert from "node:assert/strict";
import EchoModule from "laravel-echo";
import { APP, type PusherTestServer, startPusherServer } from "./_server.ts";
import { next, PusherJs, serverSdk } from "./_clients.ts";

type EchoClass = typeof import("laravel-echo").default;
const Echo: EchoClass = (EchoModule as unknown as { default?: EchoClass }).default ??
  (EchoModule as unknown as EchoClass);

/** What a Laravel app's `resources/js/echo.js` holds for Reverb, pointed at Kiln. */
function echoFor(server: PusherTestServer, user: string) {
  return new Echo({
    broadcaster: "reverb",
    key: APP.key,
    wsHost: server.host,
    wsPort: server.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    authEndpoint: `${server.origin}/broadcasting/auth`,
    auth: { headers: { "x-user": user } },
    // Echo types this as pusher-js's module object, as Deno sees the CommonJS package.
    Pusher: PusherJs as never,
  });
}

async function leave(echo: InstanceType<EchoClass>): Promise<void> {
  const pusher = (echo.connector as unknown as { pusher: InstanceType<typeof PusherJs> }).pusher;
  if (pusher.connection.state === "disconnected") return;
  const done = next(
    (resolve) => pusher.connection.bind("disconnected", resolve),
    "Echo to disconnect",
  );
  echo.disconnect();
  await done;
}

Deno.test("Echo: here, joining, whisper to others only, leaving on a presence channel", async () => {
  await using server = startPusherServer();
  const alice = echoFor(server, "alice");
  const bob = echoFor(server, "bob");
  try {
    const aliceRoom = alice.join("room.9");
    const aliceHere = next<unknown[]>((resolve) => aliceRoom.here(resolve), "alice's here()");
    assert.deepEqual(await aliceHere, [{ name: "User alice" }]);
    const joining = next((resolve) => aliceRoom.joining(resolve), "joining()");
    const whispered = next((resolve) => aliceRoom.listenForWhisper("typing", resolve), "whisper");
    const bobRoom = bob.join("room.9");
    const bobHere = await next<{ name: string }[]>(
      (resolve) => bobRoom.here(resolve),
      "bob's here()",
    );
    assert.deepEqual(bobHere.map((user) => user.name).sort(), ["User alice", "User bob"]);
    assert.deepEqual(await joining, { name: "User bob" });
    let echoed = false;
    bobRoom.listenForWhisper("typing", () => echoed = true);
    bobRoom.whisper("typing", { name: "bob" });
    assert.deepEqual(await whispered, { name: "bob" });
    const leaving = next((resolve) => aliceRoom.leaving(resolve), "leaving()");
    bob.leave("room.9");
    assert.deepEqual(await leaving, { name: "User bob" });
    assert.equal(echoed, false);
  } finally {
    await leave(alice);
    await leave(bob);
  }
});

Deno.test("Echo: a private channel hears a Laravel event from the server SDK, and .error() hears a refusal", async () => {
  await using server = startPusherServer();
  const echo = echoFor(server, "7");
  try {
    const channel = echo.private("user.7");
    const subscribed = next((resolve) => channel.subscribed(resolve), "subscribed()");
    const shipped = next((resolve) => channel.listen("OrderShipped", resolve), "OrderShipped");
    await subscribed;
    // What Laravel's Pusher broadcaster sends for App\Events\OrderShipped.
    await serverSdk(server).trigger("private-user.7", "App\\Events\\OrderShipped", { order: 12 });
    assert.deepEqual(await shipped, { order: 12 });
    const refused = await next<{ status: number }>(
      (resolve) => echo.private("user.8").error(resolve),
      "error()",
    );
    assert.equal(refused.status, 403);
  } finally {
    await leave(echo);
  }
});

Deno.test("pusher-js reconnects and resubscribes after the server restarts on the same port", async () => {
  const first = startPusherServer();
  const port = first.port;
  const client = new PusherJs(APP.key, {
    cluster: "",
    wsHost: first.host,
    wsPort: port,
    forceTLS: false,
    enabledTransports: ["ws"],
  });
  let second: PusherTestServer | null = null;
  try {
    const channel = client.subscribe("news");
    await next((resolve) => channel.bind("pusher:subscription_succeeded", resolve), "subscribed");
    const resubscribed = next(
      (resolve) => channel.bind("pusher:subscription_succeeded", resolve),
      "the resubscription",
    );
    await first.close(); // closes every socket with 4200: reconnect now
    second = startPusherServer({ port });
    await resubscribed;
    const got = next((resolve) => channel.bind("after-restart", resolve), "after-restart");
    await second.hub.broadcast("news", "after-restart", { ok: true });
    assert.deepEqual(await got, { ok: true });
  } finally {
    const done = next((resolve) => client.connection.bind("disconnected", resolve), "disconnect");
    client.disconnect();
    await done;
    await first.close();
    await second?.close();
  }
});
