/**
 * What a hostile Pusher client tries over the WebSocket, sent by hand:
 * forged and borrowed signatures, someone else's channel data, a second
 * identity, another user's private channel, floods, oversized frames, and
 * silence after the server's ping.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../support/manual_clock.ts";
import { APP, startPusherServer } from "./_server.ts";
import { RawPusher } from "./_raw.ts";
import { hmac } from "./_sign.ts";
import { maskedTextFrame, rawUpgrade, readUntilClosed } from "../_support/ws_client.ts";
import { CloseCode } from "../../../src/realtime/close_codes.ts";
import { sign } from "../_support/server.ts";

const auth = (text: string) => `${APP.key}:${hmac(APP.secret, text)}`;
const member = (id: string) => JSON.stringify({ user_id: id, user_info: { name: id } });

Deno.test("a forged signature, or one made for another socket, subscribes to nothing", async () => {
  await using server = startPusherServer();
  const { raw } = await RawPusher.connect(server);
  await using _raw = raw;
  raw.send("pusher:subscribe", { channel: "private-chat", auth: `${APP.key}:${"ab".repeat(32)}` });
  assert.deepEqual((await raw.next("pusher:subscription_error", "private-chat")).data, {
    type: "AuthError",
    error: "Invalid signature",
    status: 401,
  });
  // A signature lifted from another connection names that connection's socket id.
  raw.send("pusher:subscribe", { channel: "private-chat", auth: auth("1.1:private-chat") });
  assert.equal(
    ((await raw.next("pusher:subscription_error", "private-chat")).data as { status: number })
      .status,
    401,
  );
  raw.send("pusher:subscribe", { channel: "private-chat", auth: "no-colon" });
  await raw.next("pusher:subscription_error", "private-chat");
  raw.send("pusher:subscribe", { channel: "private-chat" });
  await raw.next("pusher:subscription_error", "private-chat");
  assert.equal(server.hub.subscriptions().size, 0);
});

Deno.test("channel_data other than what was signed is refused, and nobody joins", async () => {
  await using server = startPusherServer();
  const { raw, socketId } = await RawPusher.connect(server);
  await using _raw = raw;
  // Signed for user "mallory", sent claiming to be "admin".
  raw.send("pusher:subscribe", {
    channel: "presence-room",
    auth: auth(`${socketId}:presence-room:${member("mallory")}`),
    channel_data: member("admin"),
  });
  assert.equal(
    ((await raw.next("pusher:subscription_error", "presence-room")).data as { status: number })
      .status,
    401,
  );
  assert.deepEqual(await server.hub.members("presence-room"), []);
});

Deno.test("one connection is one user: a second, validly signed identity is refused", async () => {
  await using server = startPusherServer();
  const { raw, socketId } = await RawPusher.connect(server);
  await using _raw = raw;
  raw.send("pusher:subscribe", {
    channel: "presence-a",
    auth: auth(`${socketId}:presence-a:${member("alice")}`),
    channel_data: member("alice"),
  });
  await raw.next("pusher_internal:subscription_succeeded", "presence-a");
  raw.send("pusher:subscribe", {
    channel: "presence-b",
    auth: auth(`${socketId}:presence-b:${member("bob")}`),
    channel_data: member("bob"),
  });
  assert.deepEqual((await raw.next("pusher:subscription_error", "presence-b")).data, {
    type: "AuthError",
    error: "The user_id differs from this connection's user",
    status: 403,
  });
  // Nor can it sign in as someone else afterwards.
  const userData = JSON.stringify({ id: "bob" });
  raw.send("pusher:signin", { auth: auth(`${socketId}::user::${userData}`), user_data: userData });
  assert.deepEqual((await raw.next("pusher:error")).data, {
    code: 4009,
    message: "This connection belongs to another user",
  });
  assert.deepEqual((await server.hub.members("presence-b")).length, 0);
});

Deno.test("a user's server-to-user channel needs that user's sign-in", async () => {
  await using server = startPusherServer();
  const { raw, socketId } = await RawPusher.connect(server);
  await using _raw = raw;
  raw.send("pusher:subscribe", { channel: "#server-to-user-bob" });
  await raw.next("pusher:subscription_error", "#server-to-user-bob");
  const userData = JSON.stringify({ id: "alice" });
  raw.send("pusher:signin", { auth: auth(`${socketId}::user::${"{}"}`), user_data: userData });
  assert.equal(((await raw.next("pusher:error")).data as { code: number }).code, 4009);
  raw.send("pusher:signin", { auth: auth(`${socketId}::user::${userData}`), user_data: userData });
  assert.deepEqual((await raw.next("pusher:signin_success")).data, { user_data: userData });
  raw.send("pusher:subscribe", { channel: "#server-to-user-bob" });
  await raw.next("pusher:subscription_error", "#server-to-user-bob");
  raw.send("pusher:subscribe", { channel: "#server-to-user-alice" });
  await raw.next("pusher_internal:subscription_succeeded", "#server-to-user-alice");
});

Deno.test("client events are refused when the app turns them off, and on channels not joined", async () => {
  await using server = startPusherServer({ pusher: { apps: [{ ...APP, clientEvents: false }] } });
  const { raw, socketId } = await RawPusher.connect(server);
  await using _raw = raw;
  raw.send("pusher:subscribe", { channel: "private-chat", auth: auth(`${socketId}:private-chat`) });
  await raw.next("pusher_internal:subscription_succeeded", "private-chat");
  raw.send("client-hi", {}, "private-chat");
  assert.equal(((await raw.next("pusher:error")).data as { code: number }).code, 4301);
  raw.send("client-hi", {}, "private-elsewhere");
  assert.equal(((await raw.next("pusher:error")).data as { code: number }).code, 4301);
});

Deno.test("a flood of client events gets 4301 errors, then a 4301 close; only the burst is relayed", async () => {
  const clock = new ManualClock(Date.now()); // no refills while the test runs
  await using server = startPusherServer({
    hub: { clock },
    pusher: { clock, rateLimit: { messagesPerSecond: 5, burst: 5, maxViolations: 3 } },
  });
  const { raw: listener, socketId: listenerId } = await RawPusher.connect(server);
  await using _listener = listener;
  listener.send("pusher:subscribe", {
    channel: "private-chat",
    auth: auth(`${listenerId}:private-chat`),
  });
  await listener.next("pusher_internal:subscription_succeeded", "private-chat");
  const { raw, socketId } = await RawPusher.connect(server);
  await using _raw = raw;
  raw.send("pusher:subscribe", { channel: "private-chat", auth: auth(`${socketId}:private-chat`) });
  await raw.next("pusher_internal:subscription_succeeded", "private-chat");
  // The subscribe took one token: 4 events fit the burst, 3 are refused, the 8th closes.
  for (let i = 0; i < 8; i++) raw.send("client-spam", { i }, "private-chat");
  assert.equal((await raw.closed).code, 4301);
  assert.deepEqual(
    raw.frames.filter((frame) => frame.event === "pusher:error").map((frame) => frame.data),
    Array(3).fill({ code: 4301, message: "Too many messages; this one was dropped" }),
  );
  await listener.roundTrip();
  assert.deepEqual(
    listener.frames.filter((frame) => frame.event === "client-spam").map((frame) => frame.data),
    [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }],
  );
});

Deno.test("a frame over maxMessageBytes closes the connection with 4300", async () => {
  await using server = startPusherServer({ pusher: { maxMessageBytes: 1_024 } });
  const { raw } = await RawPusher.connect(server);
  await using _raw = raw;
  raw.send("client-big", { blob: "x".repeat(2_000) }, "private-chat");
  assert.equal((await raw.closed).code, 4300);
});

Deno.test("garbage frames get pusher:error and the connection lives on", async () => {
  await using server = startPusherServer();
  const { raw } = await RawPusher.connect(server);
  await using _raw = raw;
  for (const text of ["{nope", "[]", '{"event":42}', '{"event":"pusher:whatever"}']) {
    raw.socket.send(text);
    assert.equal(((await raw.next("pusher:error")).data as { code: null }).code, null);
  }
  raw.send("pusher:subscribe", { channel: "bad channel name" });
  assert.equal(
    ((await raw.next("pusher:subscription_error")).data as { status: number }).status,
    400,
  );
  await raw.roundTrip();
});

Deno.test("protocol versions other than 7 are refused with 4007", async () => {
  await using server = startPusherServer();
  for (const query of ["protocol=6", "client=js"]) {
    await using raw = new RawPusher(server, query);
    assert.deepEqual((await raw.next("pusher:error")).data, {
      code: 4007,
      message: "Only protocol 7 is supported",
    });
    assert.equal((await raw.closed).code, 4007);
  }
});

Deno.test("a client silent after the server's ping is closed with 4201; one that answers stays", async () => {
  const clock = new ManualClock(Date.now());
  await using server = startPusherServer({
    hub: { clock },
    pusher: { clock, activityTimeout: 10_000, pongTimeout: 5_000 },
  });
  await using quiet = new RawPusher(server);
  const established = await quiet.next("pusher:connection_established");
  assert.equal((established.data as { activity_timeout: number }).activity_timeout, 10);
  const { raw: lively } = await RawPusher.connect(server);
  await using _lively = lively;
  clock.advance(10_000);
  await quiet.next("pusher:ping");
  await lively.next("pusher:ping");
  lively.send("pusher:pong", {});
  await lively.roundTrip();
  clock.advance(5_000);
  assert.equal((await quiet.closed).code, 4201);
  await lively.roundTrip();
  assert.equal(lively.socket.readyState, WebSocket.OPEN);
});

Deno.test("a checked signature is for its channel only, even if a middleware moves the message", async () => {
  await using server = startPusherServer();
  server.hub.use({
    onMessage: (_connection, message) =>
      message.type === "subscribe" && message.channel === "private-chat"
        ? { ...message, channel: "private-admin" }
        : undefined,
  });
  const { raw, socketId } = await RawPusher.connect(server);
  await using _raw = raw;
  raw.send("pusher:subscribe", { channel: "private-chat", auth: auth(`${socketId}:private-chat`) });
  assert.equal(
    ((await raw.next("pusher:subscription_error", "private-admin")).data as { status: number })
      .status,
    403,
  );
  assert.equal(server.hub.subscriptions().size, 0);
});

Deno.test("maxConnectionsPerUser counts Pusher connections once named, with Kiln's: the next gets 4004", async () => {
  await using server = startPusherServer({ hub: { maxConnectionsPerUser: 1 } });
  const { raw: first, socketId: firstId } = await RawPusher.connect(server);
  await using _first = first;
  const userData = JSON.stringify({ id: "dana" });
  first.send("pusher:signin", {
    auth: auth(`${firstId}::user::${userData}`),
    user_data: userData,
  });
  await first.next("pusher:signin_success");
  const { raw: second, socketId: secondId } = await RawPusher.connect(server);
  await using _second = second;
  second.send("pusher:subscribe", {
    channel: "presence-room",
    auth: auth(`${secondId}:presence-room:${member("dana")}`),
    channel_data: member("dana"),
  });
  assert.deepEqual((await second.next("pusher:error")).data, {
    code: 4004,
    message: "Too many connections for this user",
  });
  assert.equal((await second.closed).code, 4004);
  assert.deepEqual(await server.hub.members("presence-room"), []);
  // Kiln's own protocol counts against the same cap: refused before its upgrade.
  const kiln = await rawUpgrade(`ws://${server.host}:${server.port}/ws`, {
    "Sec-WebSocket-Protocol": `kiln.v1, bearer.${await sign("dana")}`,
  });
  assert.equal(kiln.status, 429);
  // The slot goes back with the connection.
  await first.close();
  const { raw: third, socketId: thirdId } = await RawPusher.connect(server);
  await using _third = third;
  third.send("pusher:signin", { auth: auth(`${thirdId}::user::${userData}`), user_data: userData });
  await third.next("pusher:signin_success");
});

Deno.test("a Pusher client that stops reading is closed as a slow consumer (4100) instead of buffering", async () => {
  const codes: number[] = [];
  await using server = startPusherServer({ pusher: { maxBufferedBytes: 256 * 1024 } });
  // The hub reports Kiln's close code to its hooks; the socket got Pusher's 4100.
  server.hub.use({ onClose: (_connection, { code }) => void codes.push(code) });
  const conn = await Deno.connect({ hostname: server.host, port: server.port });
  try {
    await conn.write(new TextEncoder().encode(
      [
        `GET /app/${APP.key}?protocol=7 HTTP/1.1`,
        `Host: ${server.host}:${server.port}`,
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "",
        "",
      ].join("\r\n"),
    ));
    await conn.read(new Uint8Array(4096)); // the 101 and perhaps connection_established
    const subscribe = { event: "pusher:subscribe", data: { channel: "firehose" } };
    await conn.write(maskedTextFrame(JSON.stringify(subscribe)));
    // Flood the channel; the client never reads again.
    const chunk = "x".repeat(64 * 1024);
    for (let i = 0; i < 1000 && codes.length === 0; i++) {
      await server.hub.broadcast("firehose", "chunk", chunk);
      // Yield to I/O now and then (a turn of the event loop, not a wait for time).
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.deepEqual(codes, [CloseCode.SlowConsumer]);
    assert.equal(server.hub.size, 0);
    // Behind the buffered chunks, the close frame carries Pusher's code: reconnect with back-off.
    assert.equal(await readUntilClosed(conn), 4100);
  } finally {
    conn.close();
  }
});
