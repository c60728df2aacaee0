/**
 * The HTTP API refuses what it should: unsigned, forged, stale, replayed onto
 * another body or path, other keys, oversized or malformed requests; and
 * answers the channel queries the server SDKs make.
 */
import assert from "node:assert/strict";
import { APP, startPusherServer } from "./_server.ts";
import { hmac, signedPath } from "./_sign.ts";
import { serverSdk } from "./_clients.ts";
import { RawPusher } from "./_raw.ts";

const EVENTS = `/apps/${APP.id}/events`;
const event = (data = "{}") => JSON.stringify({ name: "greet", channel: "news", data });

async function post(origin: string, pathWithQuery: string, body: string): Promise<Response> {
  return await fetch(origin + pathWithQuery, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
}

async function status(response: Response): Promise<[number, string]> {
  return [response.status, await response.text()];
}

Deno.test("a correctly signed publish is accepted, and reaches a subscriber", async () => {
  await using server = startPusherServer();
  await using raw = new RawPusher(server);
  await raw.next("pusher:connection_established");
  raw.send("pusher:subscribe", { channel: "news" });
  await raw.next("pusher_internal:subscription_succeeded", "news");
  const body = event('{"hello":"world"}');
  assert.deepEqual(
    await status(await post(server.origin, signedPath("POST", EVENTS, { body }), body)),
    [
      200,
      "{}",
    ],
  );
  assert.deepEqual((await raw.next("greet", "news")).data, { hello: "world" });
});

Deno.test("an unsigned, forged or wrong-key publish is refused with 401 and reaches nobody", async () => {
  await using server = startPusherServer();
  await using raw = new RawPusher(server);
  await raw.next("pusher:connection_established");
  raw.send("pusher:subscribe", { channel: "news" });
  await raw.next("pusher_internal:subscription_succeeded", "news");
  const body = event();
  assert.deepEqual(await status(await post(server.origin, EVENTS, body)), [
    401,
    "Unknown auth_key",
  ]);
  assert.deepEqual(
    await status(
      await post(server.origin, signedPath("POST", EVENTS, { body, secret: "guess" }), body),
    ),
    [401, "Invalid signature"],
  );
  assert.deepEqual(
    await status(
      await post(server.origin, signedPath("POST", EVENTS, { body, key: "other-key" }), body),
    ),
    [401, "Unknown auth_key"],
  );
  await assert.rejects(serverSdk(server, "not-the-secret").trigger("news", "greet", {}), {
    status: 401,
  });
  await raw.roundTrip();
  assert.equal(raw.frames.some((frame) => frame.event === "greet"), false);
});

Deno.test("a signature more than 600 s old or ahead is refused", async () => {
  await using server = startPusherServer();
  const body = event();
  const now = Math.floor(Date.now() / 1000);
  for (const timestamp of [now - 601, now + 601]) {
    const response = await post(
      server.origin,
      signedPath("POST", EVENTS, { body, timestamp }),
      body,
    );
    assert.deepEqual(await status(response), [
      401,
      "auth_timestamp is more than 600 s away from the server's time",
    ]);
  }
  const fresh = await post(
    server.origin,
    signedPath("POST", EVENTS, { body, timestamp: now - 590 }),
    body,
  );
  assert.equal(fresh.status, 200);
  await fresh.body?.cancel();
});

Deno.test("a captured signature replayed with another body, path, method or extra parameter is refused", async () => {
  await using server = startPusherServer();
  const body = event('{"amount":1}');
  const captured = signedPath("POST", EVENTS, { body });
  const query = captured.slice(captured.indexOf("?"));
  assert.deepEqual(await status(await post(server.origin, captured, event('{"amount":1000}'))), [
    401,
    "body_md5 does not match the body",
  ]);
  assert.deepEqual(
    await status(await post(server.origin, `/apps/${APP.id}/batch_events${query}`, body)),
    [401, "Invalid signature"],
  );
  assert.deepEqual(
    await status(await post(server.origin, `${captured}&socket_id=1.1`, body)),
    [401, "Invalid signature"],
  );
  const asGet = await fetch(`${server.origin}/apps/${APP.id}/channels${query}`);
  assert.deepEqual(await status(asGet), [401, "body_md5 does not match the body"]);
  // A repeated parameter would let the signed value and the used one differ.
  assert.deepEqual(
    await status(await post(server.origin, `${captured}&auth_key=${APP.key}`, body)),
    [401, "Repeated query parameter auth_key"],
  );
  // The untouched request still passes: the server SDKs sign to the second, so equal
  // triggers in one second carry one signature, and Pusher accepts both.
  const again = await post(server.origin, captured, body);
  assert.equal(again.status, 200);
  await again.body?.cancel();
});

Deno.test("protocol event names, oversized data, oversized batches and bad bodies are refused", async () => {
  await using server = startPusherServer();
  const cases: [string, string, number, string][] = [
    [
      EVENTS,
      JSON.stringify({ name: "pusher:connection_established", channel: "news", data: "{}" }),
      400,
      "Invalid name: Event names may not start with pusher",
    ],
    [EVENTS, event("x".repeat(10_241)), 413, "Event data is larger than 10240 bytes"],
    [EVENTS, "{nope", 400, "The body is not JSON"],
    [
      EVENTS,
      JSON.stringify({ name: "greet", channel: "bad channel", data: "" }),
      400,
      "Invalid channel: Invalid channel name",
    ],
    [EVENTS, JSON.stringify({ name: "greet", data: "" }), 400, "Name a channel"],
    [
      `/apps/${APP.id}/batch_events`,
      JSON.stringify({
        batch: Array.from({ length: 11 }, () => ({ name: "greet", channel: "news", data: "" })),
      }),
      400,
      "Invalid batch: Invalid length: Expected <=10 but received 11",
    ],
  ];
  for (const [path, body, code, message] of cases) {
    assert.deepEqual(
      await status(await post(server.origin, signedPath("POST", path, { body }), body)),
      [
        code,
        message,
      ],
      path + " " + body.slice(0, 60),
    );
  }
  const huge = "x".repeat(200_000);
  const tooLarge = await post(server.origin, signedPath("POST", EVENTS, { body: huge }), huge);
  assert.deepEqual(await status(tooLarge), [413, "Request body too large"]);
  const unknown = await post(
    server.origin,
    signedPath("POST", "/apps/999/events", { body: event() }),
    event(),
  );
  assert.deepEqual(await status(unknown), [404, "Unknown app"]);
});

Deno.test("channel queries answer what the server SDK asks, and refuse user counts off presence channels", async () => {
  await using server = startPusherServer();
  const { raw, socketId } = await RawPusher.connect(server);
  await using _raw = raw;
  const channelData = JSON.stringify({ user_id: "u1", user_info: { name: "U" } });
  raw.send("pusher:subscribe", {
    channel: "presence-lobby",
    auth: `${APP.key}:${hmac(APP.secret, `${socketId}:presence-lobby:${channelData}`)}`,
    channel_data: channelData,
  });
  await raw.next("pusher_internal:subscription_succeeded", "presence-lobby");
  raw.send("pusher:subscribe", { channel: "news" });
  await raw.next("pusher_internal:subscription_succeeded", "news");
  const sdk = serverSdk(server);
  const json = async (response: Promise<{ json(): Promise<unknown> }>) =>
    await (await response).json();
  assert.deepEqual(await json(sdk.get({ path: "/channels" })), {
    channels: { "presence-lobby": {}, news: {} },
  });
  assert.deepEqual(
    await json(sdk.get({
      path: "/channels",
      params: { filter_by_prefix: "presence-", info: "user_count" },
    })),
    { channels: { "presence-lobby": { user_count: 1 } } },
  );
  assert.deepEqual(
    await json(sdk.get({
      path: "/channels/presence-lobby",
      params: { info: "user_count,subscription_count" },
    })),
    { occupied: true, user_count: 1, subscription_count: 1 },
  );
  assert.deepEqual(await json(sdk.get({ path: "/channels/empty" })), { occupied: false });
  assert.deepEqual(await json(sdk.get({ path: "/channels/presence-lobby/users" })), {
    users: [{ id: "u1" }],
  });
  await assert.rejects(sdk.get({ path: "/channels/news", params: { info: "user_count" } }), {
    status: 400,
  });
  await assert.rejects(sdk.get({ path: "/channels/news/users" }), { status: 400 });
  // A publish may ask for the counts after it, as Pusher's `info` parameter does.
  const published = await sdk.trigger(["presence-lobby", "news"], "ping", {}, {
    info: "subscription_count,user_count",
  });
  assert.deepEqual(await published.json(), {
    channels: {
      "presence-lobby": { subscription_count: 1, user_count: 1 },
      news: { subscription_count: 1 },
    },
  });
  const batch = await sdk.triggerBatch([
    { channel: "presence-lobby", name: "ping", data: {}, info: "user_count" },
    { channel: "news", name: "ping", data: {} },
  ]);
  assert.deepEqual(await batch.json(), { batch: [{ user_count: 1 }, {}] });
  await assert.rejects(sdk.get({ path: "/channels", params: { info: "user_count" } }), {
    status: 400,
  });
});

Deno.test("a publish to a closed hub answers 503, which the server SDKs retry", async () => {
  await using server = startPusherServer();
  await server.hub.close();
  const body = event();
  const response = await post(server.origin, signedPath("POST", EVENTS, { body }), body);
  assert.deepEqual(await status(response), [503, "The server is shutting down"]);
});
