/**
 * What the Pusher cases share: the app's credentials, the server every case
 * mounts, the real clients (pusher-js's build for the runtime, Laravel Echo,
 * the `pusher` server SDK where it loads), a raw Pusher socket, and HTTP API
 * signing with Web Crypto (as the server SDKs sign, in every runtime).
 *
 * @module
 */
import { Hub, jwtAuth, realtime, RedisFanout } from "@kiln/core/realtime";
import { pusher, pusherAuth, pusherUserAuth } from "@kiln/core/realtime/pusher";
import { md5 } from "@noble/hashes/legacy.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { SECRET } from "./_ws_client.mjs";

/** The app every case's server serves. */
export const APP = { id: "777", key: "runtime-key", secret: "runtime-secret" };
/** 32 bytes, base64: the master key of encrypted channels. */
export const MASTER_KEY = btoa("runtime-master-key-32-bytes-long");

/**
 * Who may join what: presence channels everyone (with their name), private
 * channels their owner, `private-chat` and encrypted channels everyone.
 *
 * @param {{ id: string }} user
 * @param {{ name: string; kind: string }} channel
 */
export function authorize(user, channel) {
  if (channel.kind === "presence") return { name: `User ${user.id}` };
  if (channel.name === "private-chat" || channel.name.startsWith("private-encrypted-")) return true;
  return channel.name === `private-user.${user.id}`;
}

/**
 * The server of one case: `pusher()` at the root, the application's auth
 * endpoints (the user named by `x-user`, as a session would), Kiln's own `/ws`
 * on the same hub, and `/broadcast` for `hub.broadcast()`.
 *
 * @param {{ Redis?: new (c: { url: string; token: string }) => unknown; redisUrl?: string; redisToken?: string; hubName?: string; pusher?: Record<string, unknown> }} [options]
 * @returns {import("./mod.mjs").WebSocketSetup}
 */
export function pusherServer(options = {}) {
  return ({ app, upgradeWebSocket }) => {
    const fanout = options.hubName && options.Redis
      ? new RedisFanout({
        redis: new options.Redis({ url: options.redisUrl, token: options.redisToken }),
        prefix: options.hubName,
        onError: () => {},
      })
      : undefined;
    const hub = new Hub({ fanout, onError: () => {} });
    /** @param {import("hono").Context} c */
    const authenticate = (c) => {
      const id = c.req.header("x-user");
      return id ? { id, claims: { name: `User ${id}` } } : null;
    };
    app.post(
      "/broadcasting/auth",
      pusherAuth({ app: APP, authenticate, authorize, encryptionMasterKey: MASTER_KEY }),
    );
    app.post("/broadcasting/user-auth", pusherUserAuth({ app: APP, authenticate }));
    app.get(
      "/ws",
      realtime(hub, {
        upgradeWebSocket,
        auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"] }),
        authorize,
        clientEvents: true,
      }),
    );
    app.post("/broadcast", async (c) => {
      const { channel, event, data } = await c.req.json();
      await hub.broadcast(channel, event, data);
      return c.json({ connections: hub.size });
    });
    app.route(
      "/",
      pusher(hub, { apps: [APP], upgradeWebSocket, onError: () => {}, ...options.pusher }),
    );
    return () => hub.close();
  };
}

/**
 * Runs `body` against a fresh server, always closing it.
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 * @param {(url: string) => Promise<void>} body
 * @param {Parameters<typeof pusherServer>[0]} [options]
 */
export async function withPusher(ctx, body, options) {
  const server = await ctx.serveWebSockets(pusherServer(options));
  try {
    await body(server.url);
  } finally {
    await server.close();
  }
}

/** @param {any} module */
function unwrap(module) {
  let value = module;
  while (typeof value !== "function" && value?.default) value = value.default;
  return value;
}

/**
 * pusher-js as each runtime's users load it: its Node build on Node and Bun,
 * its Worker build (with encryption) in workerd.
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 */
export async function loadPusherJs(ctx) {
  return unwrap(
    ctx.runtime === "workerd"
      ? await import("pusher-js/worker/with-encryption")
      : await import("pusher-js"),
  );
}

/** Laravel Echo's `Echo` class. */
export async function loadEcho() {
  return unwrap(await import("laravel-echo"));
}

/**
 * pusher-js options reaching the case's server over `ws`, as user `user`.
 *
 * @param {string} url The server's base `http://` URL (a path prefix in workerd).
 * @param {string} [user]
 */
export function clientOptions(url, user) {
  const { hostname, port, pathname } = new URL(url);
  const headers = user ? { "x-user": user } : {};
  return {
    cluster: "",
    wsHost: hostname,
    wsPort: Number(port),
    wsPath: pathname === "/" ? "" : pathname,
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
    channelAuthorization: { endpoint: `${url}/broadcasting/auth`, transport: "ajax", headers },
    userAuthentication: { endpoint: `${url}/broadcasting/user-auth`, transport: "ajax", headers },
  };
}

/**
 * Resolves the first value `bind` hands its callback; fails after `ms`.
 *
 * @template T
 * @param {(callback: (value: T) => void) => void} bind
 * @param {string} what
 * @param {number} [ms]
 * @returns {Promise<T>}
 */
export function next(bind, what, ms = 5_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), ms);
    bind((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/**
 * A connected pusher-js client, and a way to end it.
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 * @param {string} url
 * @param {string} [user]
 */
export async function connect(ctx, url, user) {
  const PusherJs = await loadPusherJs(ctx);
  const client = new PusherJs(APP.key, clientOptions(url, user));
  await next((resolve) => client.connection.bind("connected", resolve), "pusher-js to connect");
  return client;
}

/** Disconnects a pusher-js client and waits until it says so. @param {any} client */
export async function disconnect(client) {
  if (client.connection.state === "disconnected") return;
  const done = next((resolve) => client.connection.bind("disconnected", resolve), "disconnect");
  client.disconnect();
  await done;
}

/**
 * Subscribes and waits for the server's answer; rejects with the subscription error.
 *
 * @param {any} client
 * @param {string} name
 */
export function subscribed(client, name) {
  const channel = client.subscribe(name);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Timed out subscribing to ${name}`)), 5_000);
    channel.bind("pusher:subscription_succeeded", () => {
      clearTimeout(timer);
      resolve(channel);
    });
    channel.bind("pusher:subscription_error", (/** @type {unknown} */ error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

const encoder = new TextEncoder();

/** Hex HMAC-SHA256 with Web Crypto. @param {string} secret @param {string} text */
export async function hmac(secret, text) {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return bytesToHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(text))));
}

/**
 * Calls the HTTP API signed as the server SDKs sign. `path` is the app's own
 * (`/apps/777/events`); in workerd the request goes through the server's prefix.
 *
 * @param {string} url The server's base URL.
 * @param {"GET" | "POST"} method
 * @param {string} path
 * @param {{ body?: unknown; params?: Record<string, string>; secret?: string; timestamp?: number; unsigned?: boolean }} [options]
 */
export async function api(url, method, path, options = {}) {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  /** @type {Record<string, string>} */
  const params = {
    auth_key: APP.key,
    auth_timestamp: String(options.timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: "1.0",
    ...(body !== undefined ? { body_md5: bytesToHex(md5(encoder.encode(body))) } : {}),
    ...options.params,
  };
  const query = Object.keys(params).sort().map((key) => `${key}=${params[key]}`).join("&");
  const signature = await hmac(options.secret ?? APP.secret, `${method}\n${path}\n${query}`);
  const search = options.unsigned
    ? ""
    : `?${new URLSearchParams({ ...params, auth_signature: signature })}`;
  return await fetch(`${url}${path}${search}`, {
    method,
    headers: body !== undefined ? { "content-type": "application/json" } : {},
    body,
  });
}

/** A bare Pusher socket that records every frame, `data` parsed. */
export class RawPusher {
  /** @type {{ event: string; channel?: string; data: any }[]} */
  frames = [];
  /** @type {(() => void)[]} */
  #waiters = [];

  /**
   * @param {import("./mod.mjs").CaseContext} ctx
   * @param {string} url
   * @param {string} [query]
   * @param {string} [key]
   */
  constructor(ctx, url, query = "protocol=7&client=js&version=8.6.0", key = APP.key) {
    this.socket = new ctx.WebSocket(`${url.replace(/^http/, "ws")}/app/${key}?${query}`);
    /** @type {Promise<number>} */
    this.closed = new Promise((resolve) => {
      this.socket.addEventListener("close", (/** @type {CloseEvent} */ event) => {
        resolve(event.code);
        this.#wake();
      });
    });
    this.socket.addEventListener("message", (/** @type {MessageEvent} */ event) => {
      const frame = JSON.parse(String(event.data));
      try {
        frame.data = JSON.parse(frame.data);
      } catch { /* a plain string */ }
      this.frames.push(frame);
      this.#wake();
    });
  }

  /** Opens one and resolves it with its socket id. @param {import("./mod.mjs").CaseContext} ctx @param {string} url */
  static async open(ctx, url) {
    const raw = new RawPusher(ctx, url);
    const established = await raw.next("pusher:connection_established");
    raw.socketId = /** @type {string} */ (established.data.socket_id);
    return raw;
  }

  /** @param {string} event @param {unknown} data @param {string} [channel] */
  send(event, data, channel) {
    this.socket.send(JSON.stringify({ event, data, ...(channel ? { channel } : {}) }));
  }

  /** Signs a subscription as the app's auth endpoint would. @param {string} channel @param {string} [channelData] */
  async auth(channel, channelData) {
    const text = channelData === undefined
      ? `${this.socketId}:${channel}`
      : `${this.socketId}:${channel}:${channelData}`;
    return `${APP.key}:${await hmac(APP.secret, text)}`;
  }

  /** The first untaken frame with this event (and channel). @param {string} event @param {string} [channel] */
  async next(event, channel) {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const index = this.frames.findIndex((frame) =>
        frame.event === event && (channel === undefined || frame.channel === channel)
      );
      if (index >= 0) return this.frames.splice(index, 1)[0];
      if (this.socket.readyState === 3) {
        throw new Error(`Closed waiting for ${event}: ${JSON.stringify(this.frames)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`Timed out waiting for ${event}: ${JSON.stringify(this.frames)}`);
      }
      let timer;
      await new Promise((resolve) => {
        this.#waiters.push(() => resolve(undefined));
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** Everything sent before has been handled once this resolves. */
  async roundTrip() {
    this.send("pusher:ping", {});
    await this.next("pusher:pong");
  }

  async close() {
    if (this.socket.readyState < 2) this.socket.close(1000);
    await this.closed;
  }

  #wake() {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
