/**
 * One Pusher connection's wire: frames in, checked and turned into Kiln's
 * messages for the hub; Kiln's messages out, as Pusher frames.
 *
 * @module
 */
import type { Wire, WireConnection } from "../connection.ts";
import {
  CHANNEL_NAME_PATTERN,
  type ParseResult,
  RealtimeWireErrorCode,
  type ServerMessage,
} from "../protocol.ts";
import type { PusherApp } from "./app.ts";
import { encode, frame, pusherError, subscriptionError, translate } from "./_encode.ts";
import { PusherCloseCode, pusherCloseCode } from "./close_codes.ts";
import { verifyAuth } from "./_signature.ts";
import type { SubscriptionCounts } from "./_subscription_counts.ts";

/** The channel pusher-js subscribes to after a sign-in, for events sent to the user. */
export const SERVER_TO_USER = "#server-to-user-";

/** A client event, as Pusher's `client_event` webhook reports it. */
export interface ClientEventReport {
  channel: string;
  event: string;
  /** The data as JSON text. */
  data: string;
  socket_id: string;
  user_id?: string;
}

/** What a checked `pusher:subscribe` grants; only the wire makes these. */
export interface SubscriptionGrant {
  /** The channel the signature was for. */
  readonly channel: string;
  /** The presence member's `user_info`. */
  readonly info: Record<string, unknown>;
}

/** Grants handed to the hub, so the policy's `authorize` accepts only what a wire checked. */
const grants = new WeakSet<SubscriptionGrant>();

/**
 * The `authorize` of every Pusher connection: the wire checked the signature
 * already, for this channel (a grant moved to another channel, say by a
 * middleware rewriting the message, is refused).
 */
export function grantedInfo(data: unknown, channel: string): Record<string, unknown> | false {
  if (!grants.has(data as SubscriptionGrant)) return false;
  const grant = data as SubscriptionGrant;
  return grant.channel === channel ? grant.info : false;
}

const invalid = (message: string): ParseResult => ({
  ok: false,
  code: RealtimeWireErrorCode.InvalidMessage,
  message,
});

/** Pusher protocol 7 for one connection of one app. */
export class PusherWire implements Wire {
  #app: PusherApp;
  #activityTimeout: number;
  #onClientEvent: ((event: ClientEventReport) => void) | null;
  #signedIn: string | null = null;
  #counts: SubscriptionCounts | null;
  /** The connection, once it has sent a frame (a subscription needs one). */
  #connection: WireConnection | null = null;

  /**
   * @param app The app the connection belongs to.
   * @param activityTimeout Seconds, as `pusher:connection_established` announces them.
   * @param onClientEvent Told of each client event on a channel the connection is in (webhooks).
   * @param counts Told of subscriptions, for `pusher_internal:subscription_count`.
   */
  constructor(
    app: PusherApp,
    activityTimeout: number,
    onClientEvent?: (event: ClientEventReport) => void,
    counts?: SubscriptionCounts,
  ) {
    this.#app = app;
    this.#activityTimeout = activityTimeout;
    this.#onClientEvent = onClientEvent ?? null;
    this.#counts = counts ?? null;
  }

  encode(message: ServerMessage): string | null {
    if (message.type === "subscribed" && this.#counts && this.#connection) {
      this.#counts.joined(this.#connection, message.channel, this.#app.subscriptionCount === true);
    }
    return encode(message, this.#activityTimeout);
  }

  /** The socket closed: its channels lose a subscriber. */
  closed(): void {
    const connection = this.#connection;
    if (!this.#counts || !connection) return;
    for (const channel of connection.channels) this.#counts.left(connection, channel);
  }

  translate(payload: string): string | null {
    return translate(payload);
  }

  closeCode(code: number): number {
    return pusherCloseCode(code);
  }

  async decode(text: string, connection: WireConnection): Promise<ParseResult | null> {
    this.#connection = connection;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, code: RealtimeWireErrorCode.InvalidJson, message: "Invalid JSON" };
    }
    if (
      typeof json !== "object" || json === null ||
      typeof (json as { event?: unknown }).event !== "string"
    ) {
      return invalid("A frame is a JSON object with an event");
    }
    const { event, channel } = json as { event: string; channel?: unknown };
    // pusher-js sends data as an object; other clients send it as a JSON string.
    let data = (json as { data?: unknown }).data;
    if (typeof data === "string" && event.startsWith("pusher:")) {
      try {
        data = JSON.parse(data);
      } catch { /* left as the string */ }
    }
    const fields = (typeof data === "object" && data !== null ? data : {}) as Record<
      string,
      unknown
    >;
    switch (event) {
      case "pusher:ping":
        return { ok: true, message: { type: "ping" } };
      case "pusher:pong":
        return null; // counted as activity on the way in; nothing to answer
      case "pusher:subscribe":
        return await this.#subscribe(connection, fields);
      case "pusher:unsubscribe":
        if (typeof fields.channel !== "string") return invalid("Unsubscribe names a channel");
        if (!connection.channels.has(fields.channel)) return null; // Pusher ignores these
        this.#counts?.left(connection, fields.channel);
        return { ok: true, message: { type: "unsubscribe", channel: fields.channel } };
      case "pusher:signin":
        await this.#signin(connection, fields);
        return null;
    }
    if (!event.startsWith("client-")) return invalid(`Unknown event ${event.slice(0, 200)}`);
    if (typeof channel !== "string") return invalid("A client event names its channel");
    if (event.length > 200) return invalid("Event names are at most 200 characters");
    if (channel.startsWith("private-encrypted-")) {
      // The server cannot read what it would relay, and Pusher refuses these too.
      connection.sendRaw(pusherError(4301, "Client events are not allowed on encrypted channels"));
      return null;
    }
    if (this.#onClientEvent && connection.channels.has(channel)) {
      this.#onClientEvent({
        channel,
        event,
        data: JSON.stringify(data ?? null),
        socket_id: connection.id,
        ...(channel.startsWith("presence-") ? { user_id: connection.user.id } : {}),
      });
    }
    return { ok: true, message: { type: "publish", channel, event, data: data ?? null } };
  }

  async #subscribe(
    connection: WireConnection,
    fields: Record<string, unknown>,
  ): Promise<ParseResult | null> {
    const channel = fields.channel;
    if (typeof channel !== "string") return invalid("Subscribe names a channel");
    if (channel.startsWith(SERVER_TO_USER)) {
      // Only the signed-in user's own channel, and only after the sign-in.
      if (this.#signedIn === null || channel !== SERVER_TO_USER + this.#signedIn) {
        connection.sendRaw(subscriptionError(channel, 403, "Sign in as this user first"));
        return null;
      }
      return { ok: true, message: { type: "subscribe", channel } };
    }
    if (!CHANNEL_NAME_PATTERN.test(channel)) {
      connection.sendRaw(
        subscriptionError(
          channel.slice(0, 200),
          400,
          "Channel names are 1 to 200 of A-Z a-z 0-9 _ - = @ , . ; :",
        ),
      );
      return null;
    }
    const presence = channel.startsWith("presence-");
    if (!presence && !channel.startsWith("private-")) {
      return { ok: true, message: { type: "subscribe", channel } };
    }
    const channelData = fields.channel_data;
    if (channelData !== undefined && typeof channelData !== "string") {
      connection.sendRaw(subscriptionError(channel, 400, "channel_data must be a JSON string"));
      return null;
    }
    const signed = channelData === undefined
      ? `${connection.id}:${channel}`
      : `${connection.id}:${channel}:${channelData}`;
    if (!(await verifyAuth(this.#app, fields.auth, signed))) {
      connection.sendRaw(subscriptionError(channel, 401, "Invalid signature"));
      return null;
    }
    let info: Record<string, unknown> = {};
    if (presence) {
      const member = parseMember(channelData);
      if (member === null) {
        connection.sendRaw(
          subscriptionError(channel, 400, "Presence channels need channel_data with a user_id"),
        );
        return null;
      }
      // One user per connection: a second identity would let one socket speak for two people.
      const named = await connection.identify({ id: member.id, claims: {} });
      if (named !== "ok") {
        if (named === "over_quota") return overQuota(connection);
        connection.sendRaw(
          subscriptionError(channel, 403, "The user_id differs from this connection's user"),
        );
        return null;
      }
      info = member.info;
    }
    const grant: SubscriptionGrant = { channel, info };
    grants.add(grant);
    return { ok: true, message: { type: "subscribe", channel, data: grant } };
  }

  async #signin(connection: WireConnection, fields: Record<string, unknown>): Promise<void> {
    const userData = fields.user_data;
    if (
      typeof userData !== "string" ||
      !(await verifyAuth(this.#app, fields.auth, `${connection.id}::user::${userData}`))
    ) {
      connection.sendRaw(pusherError(4009, "Invalid sign-in signature"));
      return;
    }
    let user: Record<string, unknown>;
    try {
      user = JSON.parse(userData);
    } catch {
      connection.sendRaw(pusherError(4009, "user_data is not JSON"));
      return;
    }
    const id = typeof user?.id === "number" ? String(user.id) : user?.id;
    if (typeof id !== "string" || id === "") {
      connection.sendRaw(pusherError(4009, "user_data needs an id"));
      return;
    }
    const named = await connection.identify({ id, claims: user });
    if (named === "over_quota") {
      overQuota(connection);
      return;
    }
    if (named === "other_user") {
      connection.sendRaw(pusherError(4009, "This connection belongs to another user"));
      return;
    }
    this.#signedIn = id;
    connection.sendRaw(frame("pusher:signin_success", { user_data: userData }));
  }
}

/** The user holds the hub's `maxConnectionsPerUser` already: this one goes (4004, no reconnect). */
function overQuota(connection: WireConnection): null {
  const message = "Too many connections for this user";
  connection.sendRaw(pusherError(PusherCloseCode.OverQuota, message));
  connection.close(PusherCloseCode.OverQuota, message);
  return null;
}

/** `channel_data`'s member: `user_id` (a string, or a number as Laravel sends it) and `user_info`. */
function parseMember(
  channelData: string | undefined,
): { id: string; info: Record<string, unknown> } | null {
  if (channelData === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(channelData);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const { user_id: userId, user_info: userInfo } = parsed as Record<string, unknown>;
  const id = typeof userId === "number" && Number.isFinite(userId) ? String(userId) : userId;
  if (typeof id !== "string" || id === "" || id.length > 200) return null;
  const info = typeof userInfo === "object" && userInfo !== null && !Array.isArray(userInfo)
    ? userInfo as Record<string, unknown>
    : {};
  return { id, info };
}
