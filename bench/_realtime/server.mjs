/**
 * One realtime server for bench/realtime.ts, on Node: `kiln` (Hub + realtime()
 * on @hono/node-server and @hono/node-ws, from the npm build), `pusher` (the
 * same hub behind `pusher()`, Pusher's protocol 7), `ws` (a bare `ws` server
 * with the same wire messages: the ceiling) or `socketio` (Socket.IO rooms).
 * All but `pusher` verify an HS256 JWT on connect with jose (pusher-js
 * connects with the app key alone, and public channels need no signature).
 *
 * A control socket on a second port takes the bench's commands, so the
 * trigger path is the same for all three: `fanout <channel> <seq>` broadcasts
 * one message, `burst <channel> <count>` broadcasts `count` back to back.
 * Prints `ready <port> <controlPort>` once listening.
 */
import { createServer } from "node:http";
import { jwtVerify } from "jose";

// npm-only packages are imported dynamically: `deno task check` walks bench/ and
// resolves only what deno.json maps; these resolve from the bench's own workspace.
const { WebSocketServer } = await import("ws");

export const SECRET = new TextEncoder().encode("bench-secret-bench-secret-bench-42");
const kind = process.argv[2];
const ROW = { title: "Invoice paid", amount: 4200, currency: "EUR" };

/** @type {(channel: string, data: unknown) => unknown} */
let broadcast;
let server;

if (kind === "kiln") {
  const { serve } = await import("@hono/node-server");
  const { createNodeWebSocket } = await import("@hono/node-ws");
  const { Hono } = await import("hono");
  const { Hub, jwtAuth, realtime } = await import("@kiln/core/realtime");
  const hub = new Hub();
  const app = new Hono();
  const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app });
  app.get(
    "/ws",
    realtime(hub, {
      upgradeWebSocket,
      auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"] }),
      idleTimeout: 600_000, // the bench's clients only listen
    }),
  );
  broadcast = (channel, data) => hub.broadcast(channel, "invoice.paid", data);
  server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  injectWebSocket(server);
} else if (kind === "pusher") {
  const { serve } = await import("@hono/node-server");
  const { createNodeWebSocket } = await import("@hono/node-ws");
  const { Hono } = await import("hono");
  const { Hub } = await import("@kiln/core/realtime");
  const { pusher } = await import("@kiln/core/realtime/pusher");
  const hub = new Hub();
  const app = new Hono();
  const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app });
  app.route(
    "/",
    pusher(hub, {
      apps: [{ id: "bench", key: "bench-key", secret: "bench-secret" }],
      upgradeWebSocket,
      activityTimeout: 600_000, // the bench's clients only listen
    }),
  );
  broadcast = (channel, data) => hub.broadcast(channel, "invoice.paid", data);
  server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  injectWebSocket(server);
} else if (kind === "ws") {
  server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  /** @type {Map<string, Set<import("ws").WebSocket>>} */
  const channels = new Map();
  server.on("upgrade", async (request, socket, head) => {
    const offered = (request.headers["sec-websocket-protocol"] ?? "").split(",").map((p) =>
      p.trim()
    );
    const bearer = offered.find((p) => p.startsWith("bearer."));
    let sub;
    try {
      ({ payload: { sub } } = await jwtVerify(bearer.slice(7), SECRET, { algorithms: ["HS256"] }));
    } catch {
      socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      ws.send(JSON.stringify({ type: "welcome", user: { id: sub } }));
      ws.on("message", (raw) => {
        const message = JSON.parse(String(raw));
        if (message.type !== "subscribe") return;
        let set = channels.get(message.channel);
        if (!set) channels.set(message.channel, set = new Set());
        set.add(ws);
        ws.on("close", () => set.delete(ws));
        ws.send(JSON.stringify({ type: "subscribed", channel: message.channel }));
      });
    });
  });
  wss.on("headers", () => {});
  // The same bytes Kiln sends: serialized once, written to each socket.
  broadcast = (channel, data) => {
    const text = JSON.stringify({ type: "message", channel, event: "invoice.paid", data });
    for (const ws of channels.get(channel) ?? []) ws.send(text);
  };
  // ws picks the first offered subprotocol, kiln.v1, as the others do.
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
} else if (kind === "socketio") {
  const { Server } = await import("socket.io");
  server = createServer();
  const io = new Server(server, { transports: ["websocket"], serveClient: false });
  io.use(async (socket, next) => {
    try {
      const { payload } = await jwtVerify(socket.handshake.auth.token, SECRET, {
        algorithms: ["HS256"],
      });
      socket.data.sub = payload.sub;
      next();
    } catch {
      next(new Error("unauthorized"));
    }
  });
  io.on("connection", (socket) => {
    socket.on("subscribe", (room, ack) => {
      socket.join(room);
      ack();
    });
  });
  broadcast = (channel, data) => io.to(channel).emit("invoice.paid", data);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
} else {
  throw new Error(`unknown server kind ${kind}`);
}

const control = new WebSocketServer({ port: 0, host: "127.0.0.1" });
await new Promise((resolve) => control.on("listening", resolve));
control.on("connection", (socket) => {
  socket.on("message", async (raw) => {
    const [command, channel, value] = String(raw).split(" ");
    const count = command === "burst" ? Number(value) : 1;
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      await broadcast(channel, { seq: command === "burst" ? i : Number(value), ...ROW });
    }
    const cpu = process.cpuUsage();
    socket.send(JSON.stringify({ serverMs: performance.now() - started, cpu }));
  });
});
console.log(`ready ${server.address().port} ${control.address().port}`);
