/**
 * The wire protocol: JSON objects with a `type`, validated with valibot on
 * the way in.
 *
 * @module
 */
import * as v from "valibot";
import type { RealtimeUser } from "./auth.ts";

/** The subprotocol clients ask for and the server echoes (never the token beside it). */
export const PROTOCOL = "kiln.v1";

/** The prefix of the subprotocol entry carrying the token: `bearer.<jwt>`. */
export const BEARER_PREFIX = "bearer.";

/** Characters allowed in channel names (Pusher's set), at most 200 of them. */
export const CHANNEL_NAME_PATTERN: RegExp = /^[A-Za-z0-9_\-=@,.;:]{1,200}$/;

const channelName: v.GenericSchema<string> = v.pipe(
  v.string(),
  v.regex(CHANNEL_NAME_PATTERN, "Channel names are 1 to 200 of A-Z a-z 0-9 _ - = @ , . ; :"),
);
const eventName: v.GenericSchema<string> = v.pipe(v.string(), v.minLength(1), v.maxLength(200));

/** A message from client to server. */
export type ClientMessage =
  | { type: "subscribe"; channel: string; data?: unknown }
  | { type: "unsubscribe"; channel: string }
  | { type: "publish"; channel: string; event: string; data?: unknown }
  | { type: "ping" }
  | { type: "refresh"; token: string };

/** Valibot schema of every message a client may send. */
export const ClientMessageSchema: v.GenericSchema<unknown, ClientMessage> = v.variant("type", [
  v.object({ type: v.literal("subscribe"), channel: channelName, data: v.optional(v.unknown()) }),
  v.object({ type: v.literal("unsubscribe"), channel: channelName }),
  v.object({
    type: v.literal("publish"),
    channel: channelName,
    event: eventName,
    data: v.optional(v.unknown()),
  }),
  v.object({ type: v.literal("ping") }),
  v.object({ type: v.literal("refresh"), token: v.pipe(v.string(), v.minLength(1)) }),
]);

const CLIENT_TYPES = new Set(["subscribe", "unsubscribe", "publish", "ping", "refresh"]);

/** A member of a presence channel: the user's id and what `authorize` returned for them. */
export interface PresenceMember {
  /** The user's id (the token's `sub`). */
  id: string;
  /** The member information `authorize` returned. */
  info: Record<string, unknown>;
}

/** A message from server to client. */
export type ServerMessage =
  | {
    type: "welcome";
    connectionId: string;
    user: RealtimeUser;
    expiresAt: number | null;
  }
  | { type: "subscribed"; channel: string; members?: PresenceMember[] }
  | { type: "error"; code: RealtimeWireErrorCode; message: string; channel?: string }
  | { type: "message"; channel: string; event: string; data: unknown; userId?: string }
  | { type: "member_added"; channel: string; member: PresenceMember }
  | { type: "member_removed"; channel: string; member: PresenceMember }
  | { type: "member_updated"; channel: string; member: PresenceMember }
  | { type: "pong" }
  | { type: "token_expiring"; expiresAt: number };

/**
 * The `code` of an `{type:"error"}` message. Errors never close the connection
 * by themselves; see {@linkcode import("./close_codes.ts").CloseCode} for what does.
 *
 * The root barrel (`@kiln/core`) also exports `RealtimeErrorCode`, the union of
 * the realtime module's `KilnError` codes: this table is the other thing, the
 * codes on the wire.
 *
 * @example Switching on an error code in a client
 * ```ts
 * import { RealtimeWireErrorCode, type ServerMessage } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * const message = JSON.parse(
 *   '{"type":"error","code":"forbidden","message":"Not allowed","channel":"private-x"}',
 * ) as ServerMessage;
 * const hide = message.type === "error" && message.code === RealtimeWireErrorCode.Forbidden;
 * assert.equal(hide, true);
 * ```
 */
export const RealtimeWireErrorCode = {
  /** The frame was not JSON, or not a JSON object. */
  InvalidJson: "invalid_json",
  /** The `type` is not one the server knows. */
  UnknownType: "unknown_type",
  /** A field is missing or has the wrong shape. */
  InvalidMessage: "invalid_message",
  /** Binary frames are not part of the protocol. */
  BinaryUnsupported: "binary_unsupported",
  /** `authorize` refused the channel. */
  Forbidden: "forbidden",
  /** The connection already has `maxSubscriptions` channels. */
  TooManySubscriptions: "too_many_subscriptions",
  /** The channel is not one the connection is subscribed to. */
  NotSubscribed: "not_subscribed",
  /** Client events are not enabled here, or the event name lacks the `client-` prefix. */
  ClientEventsDisabled: "client_events_disabled",
  /** The message was dropped by the rate limit. */
  RateLimited: "rate_limited",
  /** The refresh token was invalid or belonged to another user. */
  RefreshRejected: "refresh_rejected",
  /** The server failed while handling the message. */
  Internal: "internal_error",
} as const;

/** One of the values of {@linkcode RealtimeWireErrorCode}. */
export type RealtimeWireErrorCode =
  typeof RealtimeWireErrorCode[keyof typeof RealtimeWireErrorCode];

/** The result of {@linkcode parseClientMessage}. */
export type ParseResult =
  | { ok: true; message: ClientMessage }
  | { ok: false; code: RealtimeWireErrorCode; message: string; channel?: string };

/**
 * Parses and validates one text frame from a client.
 *
 * @param text The frame's text.
 * @returns The message, or the error to answer with.
 *
 * @example Parsing good and bad frames
 * ```ts
 * import { parseClientMessage } from "@kiln/core/realtime/transport";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseClientMessage('{"type":"ping"}'), { ok: true, message: { type: "ping" } });
 * assert.equal(parseClientMessage("{nope").ok, false);
 * ```
 */
export function parseClientMessage(text: string): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {
      ok: false,
      code: RealtimeWireErrorCode.InvalidJson,
      message: "The message is not valid JSON",
    };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return {
      ok: false,
      code: RealtimeWireErrorCode.InvalidJson,
      message: "The message is not a JSON object",
    };
  }
  const type = (json as { type?: unknown }).type;
  if (typeof type !== "string" || !CLIENT_TYPES.has(type)) {
    return { ok: false, code: RealtimeWireErrorCode.UnknownType, message: "Unknown message type" };
  }
  const result = v.safeParse(ClientMessageSchema, json);
  if (result.success) return { ok: true, message: result.output };
  const issue = result.issues[0];
  const path = issue.path?.map((item) => String(item.key)).join(".") ?? "";
  const channel = (json as { channel?: unknown }).channel;
  return {
    ok: false,
    code: RealtimeWireErrorCode.InvalidMessage,
    message: path ? `Invalid ${path}: ${issue.message}` : issue.message,
    ...(typeof channel === "string" && CHANNEL_NAME_PATTERN.test(channel) ? { channel } : {}),
  };
}

/** The kind of a channel, from its name. */
export type ChannelKind = "public" | "private" | "presence";

/** A channel as `authorize` sees it. */
export interface ChannelInfo {
  /** The full name, such as `private-user.42`. */
  readonly name: string;
  /** `presence` for `presence-…`, `private` for `private-…`, else `public`. */
  readonly kind: ChannelKind;
}

/**
 * Tells a channel's kind from its name (Laravel and Pusher naming).
 *
 * @param name The channel name.
 * @returns The channel's name and kind.
 *
 * @example Kinds of channels
 * ```ts
 * import { channelInfo } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * assert.equal(channelInfo("presence-room.1").kind, "presence");
 * assert.equal(channelInfo("private-user.7").kind, "private");
 * assert.equal(channelInfo("news").kind, "public");
 * ```
 */
export function channelInfo(name: string): ChannelInfo {
  const kind: ChannelKind = name.startsWith("presence-")
    ? "presence"
    : name.startsWith("private-")
    ? "private"
    : "public";
  return { name, kind };
}
