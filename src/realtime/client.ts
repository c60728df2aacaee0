/**
 * A small realtime client for browsers, Deno, Bun and Node: it connects with
 * a token provider, reconnects with back-off and jitter, subscribes again
 * after a reconnect, and refreshes its token before it expires.
 *
 * @module
 */
import { Backoff } from "../_backoff.ts";
import { type Clock, systemClock } from "../clock.ts";
import { CloseCode } from "./close_codes.ts";
import { ConnectionClosedError, SubscriptionRefusedError } from "./errors.ts";
import { BEARER_PREFIX, type PresenceMember, PROTOCOL, type ServerMessage } from "./protocol.ts";

/**
 * The part of a WebSocket the client uses. The browser's, Deno's and Bun's
 * `WebSocket` fit it, and so does the `WebSocket` class of the `ws` package
 * on Node (its event types differ from the DOM's, so the handlers take `never`).
 */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Sends a text frame. */
  send(data: string): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Set by the client: called once the socket is open. */
  onopen: ((event: never) => void) | null;
  /** Set by the client: called with each incoming frame (`event.data`). */
  onmessage: ((event: never) => void) | null;
  /** Set by the client: called once the socket is closed (`event.code`). */
  onclose: ((event: never) => void) | null;
}

/** A WebSocket class: `globalThis.WebSocket`, or `WebSocket` from `ws`. */
export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

/** Options for {@linkcode RealtimeClient}. */
export interface RealtimeClientOptions {
  /** The server's WebSocket URL, such as `wss://app.example.com/ws`. */
  url: string | URL;
  /** Returns a current token; called on every (re)connect and before expiry. */
  token: () => string | Promise<string>;
  /**
   * Reconnect after an unexpected close, or `false` to stay closed. The wait
   * before attempt `n` is drawn between 0 and `min(maxDelay, minDelay × 2^n)`
   * ("full" jitter), in milliseconds, and starts over after a `welcome`.
   * @default { minDelay: 250, maxDelay: 10_000 }
   */
  reconnect?: { minDelay?: number; maxDelay?: number } | false;
  /**
   * How often to ping, in milliseconds, which keeps the server's idle timeout away.
   * @default 25_000
   */
  heartbeatInterval?: number;
  /**
   * The WebSocket class (for Node 20, pass `WebSocket` from `ws`).
   * @default globalThis.WebSocket
   */
  WebSocket?: WebSocketConstructor;
  /** The reconnect and heartbeat timers. @default systemClock */
  clock?: Clock;
  /**
   * A source of numbers in [0, 1) for the reconnect jitter (inject it in tests).
   * @default Math.random
   */
  random?: () => number;
}

/** A server message of one type. */
export type MessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

/** Close codes after which reconnecting cannot help. */
const FINAL_CODES = new Set<number>([
  CloseCode.Refused,
  CloseCode.MessageTooLarge,
  CloseCode.MessageTooBig,
]);

/**
 * A realtime connection that survives network drops and token expiry.
 *
 * The server's `welcome` arrives together with the socket's open: a `welcome`
 * listener added later (after `await client.connect()`) is called at once with
 * the latest one, and {@linkcode RealtimeClient.welcome} holds it too.
 *
 * @example Listening to a channel
 * ```ts
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "hono/deno";
 * import { SignJWT } from "jose";
 * import { Hub, jwtAuth, realtime, RealtimeClient } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * const secret = "an-hs256-secret-of-at-least-32-bytes!";
 * const hub = new Hub();
 * const app = new Hono();
 * app.get("/ws", realtime(hub, { upgradeWebSocket, auth: jwtAuth({ secret, algorithms: ["HS256"] }) }));
 * const server = Deno.serve({ port: 0, onListen() {} }, app.fetch);
 *
 * const client = new RealtimeClient({
 *   url: `ws://localhost:${server.addr.port}/ws`,
 *   // In a browser: async () => (await fetch("/realtime-token")).text()
 *   token: () =>
 *     new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("user-42")
 *       .setExpirationTime("1h").sign(new TextEncoder().encode(secret)),
 * });
 * const received = new Promise((resolve) => client.on("message", resolve));
 * const welcome = await client.connect();
 * assert.equal(welcome.user.id, "user-42");
 * await client.subscribe("news");
 * await hub.broadcast("news", "headline", { title: "Hello" });
 * assert.deepEqual(await received, {
 *   type: "message", channel: "news", event: "headline", data: { title: "Hello" },
 * });
 * client.close();
 * await hub.close();
 * await server.shutdown();
 * ```
 */
export class RealtimeClient {
  #options: RealtimeClientOptions;
  #WebSocket: WebSocketConstructor;
  #clock: Clock;
  #backoff: Backoff;
  #socket: WebSocketLike | null = null;
  #channels = new Map<string, unknown>();
  #listeners = new Map<string, Set<(message: ServerMessage) => void>>();
  #closeListeners = new Set<(code: number) => void>();
  #pending = new Map<
    string,
    Array<{ resolve: (m: PresenceMember[] | undefined) => void; reject: (e: Error) => void }>
  >();
  #closed = true;
  #opening = false;
  #reconnectTimer: unknown = undefined;
  #heartbeatTimer: unknown = undefined;
  #welcome: MessageOf<"welcome"> | null = null;

  /**
   * Creates a client; nothing connects until {@linkcode RealtimeClient.connect}.
   *
   * @param options The URL, the token provider and the reconnect policy.
   * @throws {TypeError} When no WebSocket implementation is available.
   * @throws {RangeError} When a delay or the heartbeat interval is not a positive number.
   */
  constructor(options: RealtimeClientOptions) {
    this.#options = options;
    const implementation = options.WebSocket ??
      (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof implementation !== "function") {
      throw new TypeError("No WebSocket implementation: pass the WebSocket option");
    }
    this.#WebSocket = implementation;
    this.#clock = options.clock ?? systemClock;
    const reconnect = options.reconnect || {};
    const minDelay = positive("reconnect.minDelay", reconnect.minDelay, 250);
    const maxDelay = positive("reconnect.maxDelay", reconnect.maxDelay, 10_000);
    positive("heartbeatInterval", options.heartbeatInterval, 25_000);
    // Full jitter: clients dropped together do not come back together.
    this.#backoff = new Backoff(
      { initial: minDelay, max: Math.max(minDelay, maxDelay), jitter: "full" },
      options.random ?? Math.random,
    );
  }

  /**
   * The latest `welcome` (connection id, user, expiry), or `null` while not
   * connected. It arrives with the socket's open, before `connect()` resolves.
   */
  get welcome(): MessageOf<"welcome"> | null {
    return this.#welcome;
  }

  /** Whether the socket is open and welcomed. */
  get connected(): boolean {
    return this.#socket?.readyState === 1 && this.#welcome !== null;
  }

  /**
   * Opens the connection and resolves at the first `welcome`. Called while
   * connected (or connecting), it opens no second socket and resolves with
   * the current (or coming) welcome.
   *
   * @returns The welcome message.
   * @throws {ConnectionClosedError} When the attempt closes before a welcome.
   */
  connect(): Promise<MessageOf<"welcome">> {
    this.#closed = false;
    if (this.#welcome !== null) return Promise.resolve(this.#welcome);
    return new Promise((resolve, reject) => {
      const settle = () => {
        this.#listeners.get("welcome")?.delete(onWelcome);
        this.#closeListeners.delete(onClose);
      };
      const onWelcome = (message: ServerMessage) => {
        settle();
        resolve(message as MessageOf<"welcome">);
      };
      const onClose = (code: number) => {
        settle();
        reject(new ConnectionClosedError(code));
      };
      this.#listen("welcome", onWelcome);
      this.#closeListeners.add(onClose);
      if (this.#socket === null && !this.#opening && this.#reconnectTimer === undefined) {
        void this.#open();
      }
    });
  }

  /**
   * Listens for one type of server message. A `welcome` listener added while
   * connected is called at once (in a microtask) with the latest welcome, so
   * one added after `await client.connect()` does not miss it.
   *
   * @param type The message type.
   * @param listener Called with each such message.
   * @returns A function that removes the listener.
   */
  on<T extends ServerMessage["type"]>(
    type: T,
    listener: (message: MessageOf<T>) => void,
  ): () => void {
    const wrapped = listener as (message: ServerMessage) => void;
    const off = this.#listen(type, wrapped);
    const latest = this.#welcome;
    if (type === "welcome" && latest !== null) {
      queueMicrotask(() => {
        // Still listening, and no newer welcome reached it meanwhile.
        if (this.#listeners.get("welcome")?.has(wrapped) && this.#welcome === latest) {
          call(wrapped, latest);
        }
      });
    }
    return off;
  }

  /**
   * Subscribes to a channel (again after every reconnect) and resolves when
   * the server confirms, with the members of a presence channel.
   *
   * @param channel The channel name.
   * @param data Data for the server's `authorize`.
   * @returns The presence members, or `undefined` for other channels.
   * @throws {SubscriptionRefusedError} When the server refuses the subscription.
   */
  subscribe(channel: string, data?: unknown): Promise<PresenceMember[] | undefined> {
    this.#channels.set(channel, data);
    return new Promise((resolve, reject) => {
      let list = this.#pending.get(channel);
      if (!list) this.#pending.set(channel, list = []);
      list.push({ resolve, reject });
      if (this.connected) {
        this.#send({ type: "subscribe", channel, ...(data !== undefined ? { data } : {}) });
      }
    });
  }

  /**
   * Leaves a channel.
   *
   * @param channel The channel name.
   */
  unsubscribe(channel: string): void {
    this.#channels.delete(channel);
    if (this.connected) this.#send({ type: "unsubscribe", channel });
  }

  /**
   * Sends a client event (`client-…`) to the other subscribers of a private or presence channel.
   *
   * @param channel The channel.
   * @param event The event name, starting with `client-`.
   * @param data Any JSON value.
   */
  publish(channel: string, event: string, data: unknown): void {
    this.#send({ type: "publish", channel, event, data });
  }

  /** Closes the connection for good (no reconnect). */
  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#stopHeartbeat();
    const socket = this.#socket;
    this.#socket = null;
    this.#welcome = null;
    if (socket && socket.readyState < 2) socket.close(CloseCode.Normal);
  }

  #listen(type: string, listener: (message: ServerMessage) => void): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, set = new Set());
    set.add(listener);
    return () => set.delete(listener);
  }

  async #open(): Promise<void> {
    this.#opening = true;
    let token: string;
    try {
      token = await this.#options.token();
    } catch {
      this.#opening = false;
      return this.#scheduleReconnect();
    }
    this.#opening = false;
    if (this.#closed) return;
    const socket = new this.#WebSocket(String(this.#options.url), [
      PROTOCOL,
      `${BEARER_PREFIX}${token}`,
    ]);
    this.#socket = socket;
    socket.onopen = (() => {
      // Workers' hono adapter signals no open event: the first frame starts the session there.
      socket.send(JSON.stringify({ type: "ping" }));
      this.#startHeartbeat();
    }) as (event: never) => void;
    socket.onmessage = ((event: { data: unknown }) => this.#receive(String(event.data))) as (
      event: never,
    ) => void;
    socket.onclose = ((event: { code: number }) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#welcome = null;
      this.#stopHeartbeat();
      for (const listener of [...this.#closeListeners]) listener(event.code);
      if (this.#closed || this.#options.reconnect === false || FINAL_CODES.has(event.code)) return;
      this.#scheduleReconnect();
    }) as (event: never) => void;
  }

  #receive(text: string): void {
    let message: ServerMessage;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    switch (message.type) {
      case "welcome": {
        const first = this.#welcome === null;
        this.#welcome = message;
        this.#backoff.reset();
        if (first) {
          for (const [channel, data] of this.#channels) {
            this.#send({ type: "subscribe", channel, ...(data !== undefined ? { data } : {}) });
          }
        }
        break;
      }
      case "token_expiring":
        this.#refresh();
        break;
      case "subscribed":
        for (const waiter of this.#pending.get(message.channel) ?? []) {
          waiter.resolve(message.members);
        }
        this.#pending.delete(message.channel);
        break;
      case "error":
        if (message.channel !== undefined && this.#pending.has(message.channel)) {
          for (const waiter of this.#pending.get(message.channel)!) {
            waiter.reject(
              new SubscriptionRefusedError(message.channel, message.code, message.message),
            );
          }
          this.#pending.delete(message.channel);
          this.#channels.delete(message.channel);
        }
        break;
    }
    this.#emit(message);
  }

  async #refresh(): Promise<void> {
    try {
      this.#send({ type: "refresh", token: await this.#options.token() });
    } catch {
      // The server closes with TokenExpired; the reconnect asks the provider again.
    }
  }

  #emit(message: ServerMessage): void {
    for (const listener of [...this.#listeners.get(message.type) ?? []]) call(listener, message);
  }

  #send(message: unknown): void {
    if (this.#socket?.readyState === 1) this.#socket.send(JSON.stringify(message));
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer !== undefined) return;
    this.#reconnectTimer = this.#clock.setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#open();
    }, this.#backoff.next());
  }

  #startHeartbeat(): void {
    this.#stopHeartbeat();
    this.#heartbeatTimer = this.#clock.setTimeout(() => {
      this.#send({ type: "ping" });
      this.#startHeartbeat();
    }, this.#options.heartbeatInterval ?? 25_000);
  }

  #stopHeartbeat(): void {
    this.#clock.clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }
}

function call(listener: (message: ServerMessage) => void, message: ServerMessage): void {
  try {
    listener(message);
  } catch {
    // A listener's failure must not stop the others or the connection.
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!(Number.isFinite(result) && result > 0)) {
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  }
  return result;
}
