/**
 * Kiln's server messages as Pusher protocol 7 frames: `{ event, channel?, data }`
 * with `data` a JSON string.
 *
 * @module
 */
import { type PresenceMember, RealtimeWireErrorCode, type ServerMessage } from "../protocol.ts";
import { PusherCloseCode } from "./close_codes.ts";

/** Kiln's refusals of a subscription, which Pusher reports on the channel. */
const SUBSCRIPTION_ERRORS = new Set<string>([
  RealtimeWireErrorCode.Forbidden,
  RealtimeWireErrorCode.TooManySubscriptions,
  RealtimeWireErrorCode.Internal,
]);

/** Refusals of client events, which pusher-js reports as `pusher:error` 4301. */
const CLIENT_EVENT_ERRORS = new Set<string>([
  RealtimeWireErrorCode.ClientEventsDisabled,
  RealtimeWireErrorCode.RateLimited,
]);

/** One frame. */
export function frame(event: string, data: unknown, channel?: string, userId?: string): string {
  return JSON.stringify({
    event,
    ...(channel !== undefined ? { channel } : {}),
    data: JSON.stringify(data ?? null),
    ...(userId !== undefined ? { user_id: userId } : {}),
  });
}

/** A `pusher:error`, which pusher-js reports on its connection's `error` event. */
export function pusherError(code: number | null, message: string): string {
  return frame("pusher:error", { code, message });
}

/** A `pusher:subscription_error` on the channel, as pusher-js and Laravel Echo's `.error()` see it. */
export function subscriptionError(channel: string, status: number, error: string): string {
  return frame("pusher:subscription_error", { type: "AuthError", error, status }, channel);
}

/**
 * Encodes a Kiln server message for a Pusher client, or `null` when Pusher has
 * no such message (`member_updated`, `token_expiring`).
 *
 * @param message The message.
 * @param activityTimeout Seconds, for `pusher:connection_established`.
 */
export function encode(message: ServerMessage, activityTimeout: number): string | null {
  switch (message.type) {
    case "welcome":
      return frame("pusher:connection_established", {
        socket_id: message.connectionId,
        activity_timeout: activityTimeout,
      });
    case "subscribed":
      return frame(
        "pusher_internal:subscription_succeeded",
        message.members ? { presence: presence(message.members) } : {},
        message.channel,
      );
    case "error":
      if (message.channel !== undefined && SUBSCRIPTION_ERRORS.has(message.code)) {
        return subscriptionError(message.channel, 403, message.message);
      }
      return pusherError(
        CLIENT_EVENT_ERRORS.has(message.code) ? PusherCloseCode.ClientEventRejected : null,
        message.message,
      );
    case "pong":
      return frame("pusher:pong", {});
    default:
      return encodeBroadcast(message);
  }
}

function encodeBroadcast(message: ServerMessage): string | null {
  switch (message.type) {
    case "message":
      // Pusher names the sender of client events on presence channels only.
      return frame(
        message.event,
        message.data,
        message.channel,
        message.userId !== undefined && message.channel.startsWith("presence-")
          ? message.userId
          : undefined,
      );
    case "member_added":
      return frame(
        "pusher_internal:member_added",
        { user_id: message.member.id, user_info: message.member.info },
        message.channel,
      );
    case "member_removed":
      return frame(
        "pusher_internal:member_removed",
        { user_id: message.member.id },
        message.channel,
      );
    default:
      return null;
  }
}

let lastPayload = "";
let lastFrame: string | null = null;

/**
 * A broadcast (Kiln's JSON text, the same string for each subscriber) as a
 * Pusher frame. The hub hands every subscriber of one broadcast the same
 * string, so one entry of memory turns a fan-out to thousands into one parse.
 */
export function translate(payload: string): string | null {
  if (payload !== lastPayload) {
    lastFrame = encodeBroadcast(JSON.parse(payload) as ServerMessage);
    lastPayload = payload;
  }
  return lastFrame;
}

function presence(members: readonly PresenceMember[]) {
  const hash: Record<string, unknown> = {};
  for (const member of members) hash[member.id] = member.info;
  return { ids: Object.keys(hash), hash, count: Object.keys(hash).length };
}
