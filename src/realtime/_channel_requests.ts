/**
 * What a client asks of channels over its connection: subscribe (with the
 * subscription limit, authorization and presence), unsubscribe, and publish
 * client events.
 *
 * @module
 */
import type { ConnectionPolicy } from "./connection.ts";
import {
  type ChannelInfo,
  channelInfo,
  type PresenceMember,
  RealtimeWireErrorCode,
  type ServerMessage,
} from "./protocol.ts";
import type { Session, SessionHost } from "./_session.ts";
import { errorMessage } from "./_error_message.ts";

/** The session a request came in on, the rules it runs under, and its hub. */
export interface ChannelRequestContext {
  readonly session: Session;
  readonly policy: ConnectionPolicy;
  readonly host: SessionHost;
}

/** Subscribes the session to a channel, answering `subscribed` (with the members of a presence channel) or an error. */
export async function subscribe(
  { session, policy, host }: ChannelRequestContext,
  name: string,
  data: unknown,
): Promise<void> {
  const channel = channelInfo(name);
  if (session.channels.has(name)) {
    const members = channel.kind === "presence" ? await host.members(name) : undefined;
    return session.send(subscribed(name, members));
  }
  if (session.channels.size >= policy.maxSubscriptions) {
    return session.send(
      errorMessage(RealtimeWireErrorCode.TooManySubscriptions, "Too many subscriptions", name),
    );
  }
  let info: Record<string, unknown> = {};
  if (channel.kind !== "public") {
    const verdict = await authorizeChannel({ session, policy, host }, channel, data);
    if (!verdict) {
      return session.send(
        errorMessage(RealtimeWireErrorCode.Forbidden, "Not allowed on this channel", name),
      );
    }
    info = verdict;
  }
  if (session.closed || session.channels.has(name)) return;
  session.channels.add(name);
  session.subscribeData.set(name, data);
  let members: PresenceMember[] | undefined;
  try {
    members = await host.subscribe(session, channel, { id: session.user.id, info });
  } catch (error) {
    host.reportError(error, "subscribe");
    leave(session, host, name);
    return session.send(
      errorMessage(RealtimeWireErrorCode.Internal, "The subscription failed", name),
    );
  }
  session.send(subscribed(name, members));
}

/** Leaves a channel the session is subscribed to. */
export function unsubscribe({ session, host }: ChannelRequestContext, name: string): void {
  if (!session.channels.has(name)) {
    return session.send(errorMessage(RealtimeWireErrorCode.NotSubscribed, "Not subscribed", name));
  }
  leave(session, host, name);
}

/**
 * Authorizes every private and presence channel of the session again, with
 * the user as its refreshed token says: a channel the new claims no longer
 * allow is left (answered with `forbidden` for that channel), and a presence
 * member's info follows what `authorize` returns now.
 */
export async function reauthorize(context: ChannelRequestContext): Promise<void> {
  const { session, host } = context;
  for (const name of [...session.channels]) {
    const channel = channelInfo(name);
    if (channel.kind === "public") continue;
    const info = await authorizeChannel(context, channel, session.subscribeData.get(name));
    // Closed, or left by the client, while authorize ran.
    if (session.closed) return;
    if (!session.channels.has(name)) continue;
    if (!info) {
      leave(session, host, name);
      session.send(
        errorMessage(RealtimeWireErrorCode.Forbidden, "No longer allowed on this channel", name),
      );
      continue;
    }
    if (channel.kind === "presence") {
      try {
        await host.updateMember(session, name, { id: session.user.id, info });
      } catch (error) {
        host.reportError(error, "presence");
      }
    }
  }
}

/**
 * Runs `authorize` for a private or presence channel: `null` when it refuses
 * (or throws), else the member info (empty unless it returned an object).
 */
async function authorizeChannel(
  { session, policy, host }: ChannelRequestContext,
  channel: ChannelInfo,
  data: unknown,
): Promise<Record<string, unknown> | null> {
  let verdict;
  try {
    verdict = await policy.authorize(session.user, channel, { connection: session, data });
  } catch (error) {
    host.reportError(error, "authorize");
    return null;
  }
  if (!verdict) return null;
  // The member's identity comes from the token and its info from authorize, never from the client.
  return typeof verdict === "object" ? { ...verdict } : {};
}

function leave(session: Session, host: SessionHost, name: string): void {
  session.channels.delete(name);
  session.subscribeData.delete(name);
  host.unsubscribe(session, name);
}

/** Sends a client event (`client-…`) to the channel's other subscribers, where the policy allows it. */
export async function publish(
  { session, policy, host }: ChannelRequestContext,
  name: string,
  event: string,
  data: unknown,
): Promise<void> {
  const channel = channelInfo(name);
  const allowed = policy.clientEvents;
  if (
    channel.kind === "public" || !event.startsWith("client-") || allowed === false ||
    (typeof allowed === "function" && !allowed(session.user, channel, event))
  ) {
    return session.send(
      errorMessage(
        RealtimeWireErrorCode.ClientEventsDisabled,
        "Client events are not allowed here",
        name,
      ),
    );
  }
  if (!session.channels.has(name)) {
    return session.send(errorMessage(RealtimeWireErrorCode.NotSubscribed, "Not subscribed", name));
  }
  await host.emit(
    name,
    { type: "message", channel: name, event, data: data ?? null, userId: session.user.id },
    session.id,
  );
}

function subscribed(channel: string, members: PresenceMember[] | undefined): ServerMessage {
  return { type: "subscribed", channel, ...(members ? { members } : {}) };
}
