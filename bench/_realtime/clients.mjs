/**
 * The clients of bench/realtime.ts, in their own Node process so their work
 * does not count against the server's CPU: opens the connections (each with
 * its own HS256 token), measures fan-out and burst throughput against one
 * server (`node clients.mjs <kind> <port> <controlPort> <json options>`), and
 * prints the figures as JSON. Every time is taken on this process's clock, from
 * sending the command on the control socket to the last client's receipt.
 */
import { SignJWT } from "jose";

// npm-only packages are imported dynamically: `deno task check` walks bench/ and
// resolves only what deno.json maps; these resolve from the bench's own workspace.
const { io } = await import("socket.io-client");
const { WebSocket } = await import("ws");

const [kind, port, controlPort, rawOptions] = process.argv.slice(2);
const { sizes, repeats, warmup, concurrency, burstClients, burstMessages } = JSON.parse(rawOptions);
const SECRET = new TextEncoder().encode("bench-secret-bench-secret-bench-42");

/** What the current phase does with each delivered message. */
let onData = (_data) => {};

function sign(sub) {
  return new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime(
    "1h",
  ).sign(SECRET);
}

/**
 * pusher-js, loaded only for its kinds: `pusher` is its Node build, which
 * brings its own WebSocket (faye-websocket, bundled in); `pusher-js-ws` is its
 * Worker build, the browsers' code path on the platform's WebSocket, given
 * `ws` as that WebSocket: pusher-js's own cost without its Node transport's.
 */
const PusherJs = kind === "pusher"
  ? (await import("pusher-js")).default
  : kind === "pusher-js-ws"
  ? await (async () => {
    globalThis.self ??= globalThis; // the Worker build's timers and console
    globalThis.WebSocket ??= WebSocket;
    const module = await import("pusher-js/dist/worker/pusher.worker.js");
    return module.default.default ?? module.default;
  })()
  : null;

/** One pusher-js client (the Node build), as a Laravel or Pusher back end's users run it. */
function openPusherJs(resolve, reject) {
  const client = new PusherJs("bench-key", {
    cluster: "",
    wsHost: "127.0.0.1",
    wsPort: Number(port),
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
    activityTimeout: 600_000,
  });
  client.connection.bind("connected", () =>
    resolve({
      subscribe: (channel) =>
        new Promise((done) => {
          const subscription = client.subscribe(channel);
          subscription.bind("invoice.paid", (data) => onData(data));
          subscription.bind("pusher:subscription_succeeded", done);
        }),
      close: () => client.disconnect(),
    }));
  client.connection.bind("failed", () => reject(new Error("pusher-js failed to connect")));
}

/** Kiln's own client library (`RealtimeClient`, over `ws` as Node 20 needs), loaded only for its kind. */
const RealtimeClient = kind === "kiln-client"
  ? (await import("@kiln/core/realtime")).RealtimeClient
  : null;

/**
 * One `RealtimeClient`: the library-to-library peer of pusher-js, where the
 * `kiln` kind's bare `ws` clients are the peer of `pusher-frames`.
 */
function openKilnClient(token, resolve, reject) {
  const client = new RealtimeClient({
    url: `ws://127.0.0.1:${port}/ws`,
    token: () => token,
    WebSocket,
    heartbeatInterval: 600_000, // as pusher-js's activityTimeout here: no pings mid-run
  });
  client.on("message", (message) => onData(message.data));
  client.connect().then(() =>
    resolve({
      subscribe: (channel) => client.subscribe(channel),
      close: () => client.close(),
    }), reject);
}

/** A bare `ws` client speaking Pusher's frames: the Pusher server's cost without pusher-js's. */
function openPusherFrames(resolve, reject) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/app/bench-key?protocol=7&client=js`);
  let subscribed = null;
  socket.on("message", (raw) => {
    const message = JSON.parse(raw.toString());
    if (message.event === "invoice.paid") onData(JSON.parse(message.data));
    else if (message.event === "pusher:connection_established") {
      resolve({
        subscribe: (channel) =>
          new Promise((done) => {
            subscribed = done;
            socket.send(JSON.stringify({ event: "pusher:subscribe", data: { channel } }));
          }),
        close: () => socket.close(),
      });
    } else if (message.event === "pusher_internal:subscription_succeeded") subscribed?.();
    else if (message.event === "pusher:error") console.error("server error", message);
  });
  socket.once("error", reject);
}

/** Opens one client and waits until the server has accepted it (welcome or connect). */
function open(token) {
  return new Promise((resolve, reject) => {
    if (kind === "pusher" || kind === "pusher-js-ws") return openPusherJs(resolve, reject);
    if (kind === "pusher-frames") return openPusherFrames(resolve, reject);
    if (kind === "kiln-client") return openKilnClient(token, resolve, reject);
    if (kind === "socketio") {
      const socket = io(`http://127.0.0.1:${port}`, {
        transports: ["websocket"],
        forceNew: true,
        reconnection: false,
        auth: { token },
      });
      socket.on("invoice.paid", (data) => onData(data));
      socket.once("connect", () =>
        resolve({
          subscribe: (channel) => socket.emitWithAck("subscribe", channel),
          close: () => socket.disconnect(),
        }));
      socket.once("connect_error", reject);
      return;
    }
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, ["kiln.v1", `bearer.${token}`]);
    let subscribed = null;
    socket.on("message", (raw) => {
      const message = JSON.parse(raw.toString());
      if (message.type === "message") onData(message.data);
      else if (message.type === "welcome") {
        resolve({
          subscribe: (channel) =>
            new Promise((done) => {
              subscribed = done;
              socket.send(JSON.stringify({ type: "subscribe", channel }));
            }),
          close: () => socket.close(),
        });
      } else if (message.type === "subscribed") subscribed?.();
      else if (message.type === "error") console.error("server error", message);
    });
    socket.once("error", reject);
    socket.once("close", (code) => {
      if (code !== 1000 && code !== 1005) console.error(`a ${kind} client closed with ${code}`);
    });
  });
}

/** Opens `tokens.length` clients, `concurrency` at a time; returns them and the seconds taken. */
async function openAll(tokens) {
  const clients = new Array(tokens.length);
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < tokens.length) {
      const index = next++;
      clients[index] = await open(tokens[index]);
    }
  }));
  return { clients, seconds: (performance.now() - started) / 1000 };
}

const control = new WebSocket(`ws://127.0.0.1:${controlPort}`);
await new Promise((resolve, reject) => {
  control.once("open", resolve);
  control.once("error", reject);
});
/** Sends a command; resolves the server's own report (its send loop time). */
function command(text) {
  return new Promise((resolve) => {
    control.once("message", (raw) => resolve(JSON.parse(raw.toString())));
    control.send(text);
  });
}

/**
 * With KILN_BENCH_PROFILE set, V8's CPU profiler runs during the fan-out
 * repeats only (not the upgrades, subscribes or burst), one profile per size.
 */
const profiling = process.env.KILN_BENCH_PROFILE
  ? await (async () => {
    const { Session } = await import("node:inspector");
    const session = new Session();
    session.connect();
    const post = (method, params) =>
      new Promise((resolve, reject) =>
        session.post(method, params, (error, result) => error ? reject(error) : resolve(result))
      );
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: 100 });
    return {
      start: () => post("Profiler.start"),
      pause: () => post("Profiler.stop").then(({ profile }) => profile),
    };
  })()
  : null;
/** Each size's profile, written at the end as `<KILN_BENCH_PROFILE>-<size>.cpuprofile`. */
const profiles = {};

const quantile = (sorted, q) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
const round = (value) => Math.round(value * 100) / 100;

const largest = Math.max(...sizes);
const tokens = await Promise.all(Array.from({ length: largest }, (_, i) => sign(`user-${i}`)));
const result = { upgrades: null, fanout: {}, throughput: null };
const clients = [];
let upgradeSeconds = 0;
let seq = 0;

for (const size of [...sizes].sort((a, b) => a - b)) {
  const opened = await openAll(tokens.slice(clients.length, size));
  upgradeSeconds += opened.seconds;
  const fresh = opened.clients;
  clients.push(...fresh);
  const channel = `fan-${size}`;
  await Promise.all(clients.map((client) => client.subscribe(channel)));
  const times = [];
  const serverTimes = [];
  for (let repeat = 0; repeat < warmup + repeats; repeat++) {
    if (repeat === warmup) await profiling?.start();
    const id = ++seq;
    let count = 0;
    const started = performance.now();
    const delivered = new Promise((resolve) => {
      onData = (data) => {
        if (data.seq === id && ++count === size) resolve(performance.now() - started);
      };
    });
    const [report, elapsed] = await Promise.all([command(`fanout ${channel} ${id}`), delivered]);
    if (repeat >= warmup) {
      times.push(elapsed);
      serverTimes.push(report.serverMs);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (profiling) profiles[size] = await profiling.pause();
  times.sort((a, b) => a - b);
  serverTimes.sort((a, b) => a - b);
  result.fanout[size] = {
    clients: size,
    repeats,
    p50Ms: round(quantile(times, 0.5)),
    p99Ms: round(quantile(times, 0.99)),
    minMs: round(times[0]),
    serverSendP50Ms: round(quantile(serverTimes, 0.5)),
  };
}
result.upgrades = {
  connections: clients.length,
  concurrency,
  seconds: round(upgradeSeconds),
  perSecond: Math.round(clients.length / upgradeSeconds),
};

{
  const channel = "burst";
  const subscribers = clients.slice(0, burstClients);
  await Promise.all(subscribers.map((client) => client.subscribe(channel)));
  const expected = burstClients * burstMessages;
  let count = 0;
  const started = performance.now();
  const delivered = new Promise((resolve) => {
    onData = () => {
      if (++count === expected) resolve(performance.now() - started);
    };
  });
  const [report, elapsed] = await Promise.all([
    command(`burst ${channel} ${burstMessages}`),
    delivered,
  ]);
  result.throughput = {
    clients: burstClients,
    broadcasts: burstMessages,
    deliveries: expected,
    seconds: round(elapsed / 1000),
    broadcastsPerSecond: Math.round(burstMessages / (elapsed / 1000)),
    deliveriesPerSecond: Math.round(expected / (elapsed / 1000)),
    serverSendMs: round(report.serverMs),
  };
}

for (const client of clients) client.close();
control.close();
if (profiling) {
  const { writeFileSync } = await import("node:fs");
  for (const [size, profile] of Object.entries(profiles)) {
    writeFileSync(`${process.env.KILN_BENCH_PROFILE}-${size}.cpuprofile`, JSON.stringify(profile));
  }
}
console.log(JSON.stringify(result));
// socket.io-client keeps timers alive for a while after disconnect.
setTimeout(() => process.exit(0), 200).unref();
