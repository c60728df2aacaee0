/**
 * What a client asks of channels over its connection: subscribe (with the
 * subscription limit, authorization and presence), unsubscribe, and publish
 * client events.
 *
 * @module
 */
import type { ConnectionPolicy } from "./connection.ts";
import { channelInfo, ErrorCode, type PresenceMember, type ServerMessage } from "./protocol.ts";
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
      errorMessage(ErrorCode.TooManySubscriptions, "Too many subscriptions", name),
    );
  }
  let info: Record<string, unknown> = {};
  if (channel.kind !== "public") {
    let verdict;
    try {
      verdict = await policy.authorize(session.user, channel, { connection: session, data });
    } catch (error) {
      host.reportError(error, "authorize");
      verdict = false;
    }
    if (!verdict) {
      return session.send(errorMessage(ErrorCode.Forbidden, "Not allowed on this channel", name));
    }
    // The member's identity comes from the token and its info from authorize, never from the client.
    if (typeof verdict === "object") info = { ...verdict };
  }
  if (session.closed || session.channels.has(name)) return;
  session.channels.add(name);
  let members: PresenceMember[] | undefined;
  try {
    members = await host.subscribe(session, channel, { id: session.user.id, info });
  } catch (error) {
    host.reportError(error, "subscribe");
    session.channels.delete(name);
    host.unsubscribe(session, name);
    return session.send(errorMessage(ErrorCode.Internal, "The subscription failed", name));
  }
  session.send(subscribed(name, members));
}

/** Leaves a channel the session is subscribed to. */
export function unsubscribe({ session, host }: ChannelRequestContext, name: string): void {
  if (!session.channels.has(name)) {
    return session.send(errorMessage(ErrorCode.NotSubscribed, "Not subscribed", name));
  }
  session.channels.delete(name);
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
      errorMessage(ErrorCode.ClientEventsDisabled, "Client events are not allowed here", name),
    );
  }
  if (!session.channels.has(name)) {
    return session.send(errorMessage(ErrorCode.NotSubscribed, "Not subscribed", name));
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
