/**
 * What connection middleware and `authorize` see of a connection, and the
 * hooks they plug in with.
 *
 * @module
 */
import type { RealtimeUser, WebSocketAuth } from "./auth.ts";
import type { ChannelInfo, ClientMessage, ParseResult, ServerMessage } from "./protocol.ts";

/** One authenticated WebSocket connection. */
export interface Connection<Data extends Record<string, unknown> = Record<string, unknown>> {
  /** A random id, sent to the client in `welcome`; pass it as `except` to skip the sender. */
  readonly id: string;
  /** The authenticated user; an accepted in-band refresh replaces it (same id, new claims). */
  readonly user: RealtimeUser;
  /** Application data, attached by connection middleware (starts empty). */
  data: Partial<Data>;
  /** When the token expires, in milliseconds since the epoch, or `null`. */
  readonly expiresAt: number | null;
  /** The channels this connection is subscribed to. */
  readonly channels: ReadonlySet<string>;
  /** Sends a message to this connection only. */
  send(message: ServerMessage): void;
  /**
   * Closes the connection.
   *
   * @param code A {@linkcode import("./close_codes.ts").CloseCode}.
   * @param reason A short reason for the client.
   */
  close(code?: number, reason?: string): void;
}

/** How a connection's close is reported to `onClose` hooks. */
export interface CloseInfo {
  /** The close code. */
  code: number;
  /** The close reason. */
  reason: string;
}

/**
 * Hooks run for every connection, in the order registered with `hub.use()`.
 *
 * @example Counting messages and refusing banned users
 * ```ts
 * import { type Connection, type ConnectionMiddleware } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * const banned = new Set(["user-13"]);
 * const middleware: ConnectionMiddleware<{ messages: number }> = {
 *   onConnect: (connection) => {
 *     if (banned.has(connection.user.id)) return false;
 *     connection.data.messages = 0;
 *   },
 *   onMessage: (connection, message) => {
 *     connection.data.messages = (connection.data.messages ?? 0) + 1;
 *     return message;
 *   },
 * };
 * // What the hub does with a connection (here a stand-in for a real one):
 * const connection = { user: { id: "user-13", claims: {} }, data: {} } as Connection<
 *   { messages: number }
 * >;
 * assert.equal(await middleware.onConnect!(connection), false); // refused: closes with 4000
 * const alice: typeof connection = { ...connection, user: { id: "alice", claims: {} }, data: {} };
 * await middleware.onConnect!(alice);
 * await middleware.onMessage!(alice, { type: "ping" });
 * assert.equal(alice.data.messages, 1);
 * ```
 */
export interface ConnectionMiddleware<
  Data extends Record<string, unknown> = Record<string, unknown>,
> {
  /**
   * Runs when the connection opens, before `welcome`. Return `false` (or
   * throw) to refuse it: it closes with `CloseCode.Refused`. Attach data to
   * `connection.data` here.
   */
  onConnect?(connection: Connection<Data>): void | boolean | Promise<void | boolean>;
  /**
   * Runs for each valid incoming message before the hub handles it. Return
   * nothing to pass it on unchanged, another message to replace it, or `null`
   * to drop it (answer with `connection.send()` if you like). A throw answers
   * the client with an `internal_error` and drops the message.
   */
  onMessage?(
    connection: Connection<Data>,
    message: ClientMessage,
  ): ClientMessage | null | void | Promise<ClientMessage | null | void>;
  /** Runs once after the connection closed and left its channels. */
  onClose?(connection: Connection<Data>, info: CloseInfo): void | Promise<void>;
}

/**
 * What `authorize` returns: `false` (or nothing) refuses, `true` allows, and
 * an object allows and becomes the member's `info` on a presence channel.
 */
export type AuthorizeResult = boolean | Record<string, unknown> | null | undefined;

/**
 * Decides private and presence subscriptions. Public channels need no authorization.
 *
 * @param user The connection's user (from the token; never from the client).
 * @param channel The channel's name and kind.
 * @param context The connection and the `data` the client sent with `subscribe`.
 * @returns Whether to allow it, and for presence channels the member info.
 */
export type Authorize = (
  user: RealtimeUser,
  channel: ChannelInfo,
  context: { connection: Connection; data: unknown },
) => AuthorizeResult | Promise<AuthorizeResult>;

/**
 * Decides whether a client event may be published.
 *
 * @param user The sender.
 * @param channel The channel.
 * @param event The event name (always starts with `client-`).
 * @returns Whether to allow it.
 */
export type ClientEventFilter = (
  user: RealtimeUser,
  channel: ChannelInfo,
  event: string,
) => boolean;

/**
 * The rules one connection runs under, as {@linkcode realtime} resolves them
 * from its options (every field filled in).
 */
export interface ConnectionPolicy {
  /** Verifies in-band refresh tokens. */
  auth: WebSocketAuth;
  /** Decides private and presence subscriptions. */
  authorize: Authorize;
  /** Whether client events are allowed. */
  clientEvents: boolean | ClientEventFilter;
  /** The token bucket, or `null` for no limit. */
  rateLimit: { messagesPerSecond: number; burst: number; maxViolations: number } | null;
  /** Largest message accepted, in bytes. */
  maxMessageBytes: number;
  /** Most channels per connection. */
  maxSubscriptions: number;
  /** Idle timeout, in milliseconds. */
  idleTimeout: number;
  /** How long before expiry `token_expiring` is sent, in milliseconds. */
  expiryWarning: number;
  /** Outgoing buffer limit, in bytes. */
  maxBufferedBytes: number;
}

/** A connection as its transport drives it: frames in, the close reported. */
export interface TransportConnection extends Connection {
  /** Hands one incoming frame to the connection. */
  receive(data: unknown): void;
  /** Reports that the socket closed. */
  closedByPeer(code: number, reason: string): void;
}

/**
 * A wire protocol: how one connection's messages look on its socket. The hub
 * and its limits speak Kiln's messages ({@linkcode ClientMessage},
 * {@linkcode ServerMessage}); a wire translates them at the socket, so one
 * broadcast reaches subscribers of every protocol. Kiln's own protocol needs
 * none; `@kiln/core/realtime/pusher` brings Pusher's.
 */
export interface Wire {
  /** Encodes a message for this connection, or `null` when the protocol has no such message. */
  encode(message: ServerMessage): string | null;
  /**
   * Re-encodes a broadcast, given as Kiln's JSON text: the same string for
   * every subscriber of one broadcast, so a wire can translate it once.
   */
  translate(payload: string): string | null;
  /**
   * Decodes one text frame into a message for the hub, an error to answer
   * with, or `null` when the wire answered it itself.
   */
  decode(
    text: string,
    connection: WireConnection,
  ): ParseResult | null | Promise<ParseResult | null>;
  /** The close code this protocol's clients act on, for one of Kiln's. */
  closeCode(code: number): number;
}

/** A connection as its {@linkcode Wire} sees it. */
export interface WireConnection extends Connection {
  /** Sends text exactly as given. */
  sendRaw(text: string): void;
  /**
   * Names the user of a connection that opened without one (its user's id is
   * its own id until then), taking a slot under the hub's
   * `maxConnectionsPerUser`: `"other_user"` once it was named as someone
   * else, `"over_quota"` when the user holds that many connections already.
   */
  identify(user: RealtimeUser): Promise<"ok" | "other_user" | "over_quota">;
}

/** How {@linkcode import("./hub.ts").Hub.connect} sets up a connection of another protocol. */
export interface ConnectOptions {
  /** The connection's id. @default crypto.randomUUID() */
  id?: string;
  /** The wire protocol. @default Kiln's own */
  wire?: Wire;
}
