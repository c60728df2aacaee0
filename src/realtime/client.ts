/**
 * A small realtime client for browsers, Deno, Bun and Node: it connects with
 * a token provider, reconnects with back-off and jitter, subscribes again
 * after a reconnect, and refreshes its token before it expires.
 *
 * @module
 */
import { CloseCode } from "./close_codes.ts";
import { BEARER_PREFIX, type PresenceMember, PROTOCOL, type ServerMessage } from "./protocol.ts";

/** Options for {@linkcode RealtimeClient}. */
export interface RealtimeClientOptions {
  /** The server's WebSocket URL, such as `wss://app.example.com/ws`. */
  url: string | URL;
  /** Returns a current token; called on every (re)connect and before expiry. */
  token: () => string | Promise<string>;
  /**
   * Reconnect after an unexpected close, or `false` to stay closed.
   * @default { minDelayMs: 250, maxDelayMs: 10_000 }
   */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number } | false;
  /** How often to ping, which keeps the server's idle timeout away. @default 25_000 */
  heartbeatMs?: number;
  /** The WebSocket class (for Node 20, pass `ws`'s). @default globalThis.WebSocket */
  WebSocket?: typeof WebSocket;
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
 * @example Listening to a private channel
 * ```ts ignore
 * import { RealtimeClient } from "@kiln/core/realtime";
 *
 * const client = new RealtimeClient({
 *   url: "wss://app.example.com/ws",
 *   token: async () => (await fetch("/realtime-token")).text(),
 * });
 * client.on("message", (message) => console.log(message.channel, message.event, message.data));
 * await client.connect();
 * await client.subscribe("private-user.42");
 * ```
 */
export class RealtimeClient {
  #options: RealtimeClientOptions;
  #WebSocket: typeof WebSocket;
  #socket: WebSocket | null = null;
  #channels = new Map<string, unknown>();
  #listeners = new Map<string, Set<(message: ServerMessage) => void>>();
  #pending = new Map<
    string,
    Array<{ resolve: (m: PresenceMember[] | undefined) => void; reject: (e: Error) => void }>
  >();
  #attempt = 0;
  #closed = false;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #welcome: MessageOf<"welcome"> | null = null;

  /**
   * Creates a client; nothing connects until {@linkcode RealtimeClient.connect}.
   *
   * @param options The URL, the token provider and the reconnect policy.
   * @throws {TypeError} When no WebSocket implementation is available.
   */
  constructor(options: RealtimeClientOptions) {
    this.#options = options;
    const implementation = options.WebSocket ?? globalThis.WebSocket;
    if (typeof implementation !== "function") {
      throw new TypeError("No WebSocket implementation: pass the WebSocket option");
    }
    this.#WebSocket = implementation;
  }

  /** The latest `welcome` (connection id, user, expiry), or `null` before the first. */
  get session(): MessageOf<"welcome"> | null {
    return this.#welcome;
  }

  /** Whether the socket is open and welcomed. */
  get connected(): boolean {
    return this.#socket?.readyState === 1 && this.#welcome !== null;
  }

  /**
   * Opens the connection and resolves at the first `welcome`.
   *
   * @returns The welcome message.
   * @throws {Error} When the first attempt closes before a welcome.
   */
  connect(): Promise<MessageOf<"welcome">> {
    this.#closed = false;
    return new Promise((resolve, reject) => {
      const off = this.on("welcome", (message) => {
        off();
        offClose();
        resolve(message);
      });
      const offClose = this.#onClose((event) => {
        off();
        offClose();
        reject(new Error(`Connection closed before welcome (code ${event.code})`));
      });
      this.#open();
    });
  }

  /**
   * Listens for one type of server message.
   *
   * @param type The message type.
   * @param listener Called with each such message.
   * @returns A function that removes the listener.
   */
  on<T extends ServerMessage["type"]>(
    type: T,
    listener: (message: MessageOf<T>) => void,
  ): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, set = new Set());
    const wrapped = listener as (message: ServerMessage) => void;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  /**
   * Subscribes to a channel (again after every reconnect) and resolves when
   * the server confirms, with the members of a presence channel.
   *
   * @param channel The channel name.
   * @param data Data for the server's `authorize`.
   * @returns The presence members, or `undefined` for other channels.
   * @throws {Error} When the server refuses the subscription.
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
    clearTimeout(this.#reconnectTimer);
    this.#stopHeartbeat();
    const socket = this.#socket;
    this.#socket = null;
    if (socket && socket.readyState < 2) socket.close(CloseCode.Normal);
  }

  async #open(): Promise<void> {
    let token: string;
    try {
      token = await this.#options.token();
    } catch {
      return this.#scheduleReconnect();
    }
    if (this.#closed) return;
    const socket = new this.#WebSocket(String(this.#options.url), [
      PROTOCOL,
      `${BEARER_PREFIX}${token}`,
    ]);
    this.#socket = socket;
    socket.onopen = () => {
      // Workers' hono adapter signals no open event: the first frame starts the session there.
      socket.send(JSON.stringify({ type: "ping" }));
      this.#startHeartbeat();
    };
    socket.onmessage = (event) => this.#receive(String(event.data));
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#welcome = null;
      this.#stopHeartbeat();
      this.#emit({ type: "__close", code: event.code } as never);
      if (this.#closed || this.#options.reconnect === false || FINAL_CODES.has(event.code)) return;
      this.#scheduleReconnect();
    };
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
        this.#attempt = 0;
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
            waiter.reject(new Error(`${message.code}: ${message.message}`));
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
    for (const listener of this.#listeners.get(message.type) ?? []) {
      try {
        listener(message);
      } catch {
        // A listener's failure must not stop the others or the connection.
      }
    }
  }

  #onClose(listener: (event: { code: number }) => void): () => void {
    return this.on("__close" as ServerMessage["type"], listener as never);
  }

  #send(message: unknown): void {
    if (this.#socket?.readyState === 1) this.#socket.send(JSON.stringify(message));
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const reconnect = this.#options.reconnect || {};
    const min = reconnect.minDelayMs ?? 250;
    const max = reconnect.maxDelayMs ?? 10_000;
    const ceiling = Math.min(max, min * 2 ** this.#attempt++);
    // Full jitter: clients dropped together do not come back together.
    const delay = Math.random() * ceiling;
    this.#reconnectTimer = setTimeout(() => this.#open(), delay);
  }

  #startHeartbeat(): void {
    this.#stopHeartbeat();
    this.#heartbeatTimer = setInterval(
      () => this.#send({ type: "ping" }),
      this.#options.heartbeatMs ?? 25_000,
    );
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeatTimer);
  }
}
