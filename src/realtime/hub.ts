/**
 * The hub: every connection of one server instance, their channels, and the
 * broadcasts that reach them.
 *
 * @module
 */
import type { WSContext } from "hono/ws";
import { HubClosedError } from "./errors.ts";
import type { AuthSession } from "./auth.ts";
import { type Clock, systemClock } from "../clock.ts";
import { CloseCode } from "./close_codes.ts";
import type {
  ConnectionMiddleware,
  ConnectionPolicy,
  ConnectOptions,
  TransportConnection,
} from "./connection.ts";
import { type Fanout, type FanoutEnvelope, LocalFanout } from "./fanout.ts";
import {
  CHANNEL_NAME_PATTERN,
  type ChannelInfo,
  type PresenceMember,
  type ServerMessage,
} from "./protocol.ts";
import { sameMember } from "./_same_member.ts";
import { Session, type SessionHost } from "./_session.ts";
import type { ConnectionSlot, ConnectionSlots } from "./connection_slots.ts";
import { Admission } from "./_admission.ts";
import { MemorySlots } from "./_memory_slots.ts";

/**
 * The fan-out channel hubs tell each other to close a user's connections on.
 * No client can subscribe to it: channel names with `#` are refused.
 */
const DISCONNECT_CHANNEL = "#kiln:disconnect";

/** How long a slot waits for its socket to open before it goes back by itself. */
const ADMISSION_TIMEOUT_MS = 10_000;

/** Options for {@linkcode Hub}. */
export interface HubOptions {
  /**
   * How broadcasts reach other server instances and where presence lives.
   * @default new LocalFanout()
   */
  fanout?: Fanout;
  /** Time and timers (token expiry, idle timeouts, rate limits). @default systemClock */
  clock?: Clock;
  /**
   * Most connections one user (one token `sub`) may hold at once; an upgrade
   * over it is refused with 429 before it happens. Counted across every
   * instance with `RedisFanout`, per instance otherwise. `Infinity` for no cap.
   * A hundred is far more tabs than anyone keeps open, and still stops one
   * leaked token from holding thousands of sockets.
   * @default 100
   */
  maxConnectionsPerUser?: number;
  /**
   * Called with errors the hub recovers from (a throwing hook, a failed presence update).
   * @default console.error
   */
  onError?: (error: unknown, context: string) => void;
}

/** Options for {@linkcode Hub.broadcast}. */
export interface BroadcastOptions {
  /** A connection id that must not receive the message (usually the sender's). */
  except?: string;
}

/**
 * What {@linkcode Hub.watch} reports: a channel gaining its first subscriber or
 * losing its last, a channel's subscriber count moving, and a presence member
 * joining or leaving. Behind a fan-out that counts channels (`RedisFanout`),
 * occupied and vacated are decided across instances and reported by one of
 * them, like members; `subscription_count` is reported on every instance, with
 * the count as of that change (read {@linkcode Hub.channels} for the current one).
 */
export type HubEvent =
  | { type: "channel_occupied"; channel: string }
  | { type: "channel_vacated"; channel: string }
  | { type: "subscription_count"; channel: string; count: number }
  | { type: "member_added"; channel: string; member: PresenceMember }
  | { type: "member_removed"; channel: string; member: PresenceMember };

interface PresenceEntry {
  sessions: Set<Session>;
  member: PresenceMember;
}

/**
 * The channels and connections of a realtime server. Connections arrive
 * through the {@linkcode realtime} middleware; {@linkcode Hub.broadcast} can
 * be called from anywhere (an HTTP handler, a queue job).
 *
 * @example Broadcasting from an HTTP handler
 * ```ts
 * import { Hub } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * const hub = new Hub();
 * await hub.broadcast("private-user.123", "invoice.paid", { id: 7 });
 * assert.equal(hub.size, 0); // no connections, so nobody received it
 * await hub.close();
 * ```
 */
export class Hub<Data extends Record<string, unknown> = Record<string, unknown>> {
  #fanout: Fanout;
  #clock: Clock;
  #onError: (error: unknown, context: string) => void;
  #middlewares: ConnectionMiddleware[] = [];
  #sessions = new Set<Session>();
  #channels = new Map<string, Set<Session>>();
  #presence = new Map<string, Map<string, PresenceEntry>>();
  #presenceChains = new Map<string, Promise<unknown>>();
  #started: Promise<void> | null = null;
  #closed = false;
  #host: SessionHost;
  #maxPerUser: number;
  #slots: ConnectionSlots;
  #localSlots = new MemorySlots();
  #admissions = new Set<Admission>();
  #releases = new Set<Promise<void>>();
  #watchers = new Set<(event: HubEvent) => void>();

  /**
   * Creates a hub.
   *
   * @param options The fan-out, the clock and the error reporter.
   */
  constructor(options: HubOptions = {}) {
    this.#fanout = options.fanout ?? new LocalFanout();
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? ((error, context) => {
      console.error(`[kiln realtime] ${context}:`, error);
    });
    this.#host = this.#makeHost();
    const limit = options.maxConnectionsPerUser ?? 100;
    if (!(limit === Infinity || (Number.isSafeInteger(limit) && limit > 0))) {
      throw new RangeError(
        `maxConnectionsPerUser must be a positive integer or Infinity, got ${limit}`,
      );
    }
    this.#maxPerUser = limit;
    this.#slots = this.#fanout.connections ?? this.#localSlots;
  }

  /** How many connections this instance holds. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Adds connection middleware; hooks run in the order added.
   *
   * @param middleware The hooks.
   * @returns The hub, for chaining.
   *
   * @example Logging connections
   * ```ts
   * import { Hub } from "@kiln/core/realtime";
   * import assert from "node:assert/strict";
   *
   * const log: string[] = [];
   * const hub = new Hub();
   * assert.equal(
   *   hub.use({
   *     onConnect: (connection) => void log.push(`hello ${connection.user.id}`),
   *     onClose: (connection, { code }) => void log.push(`bye ${connection.user.id} ${code}`),
   *   }),
   *   hub, // chains
   * );
   * await hub.close();
   * ```
   */
  use(middleware: ConnectionMiddleware<Data>): this {
    this.#middlewares.push(middleware as unknown as ConnectionMiddleware);
    return this;
  }

  /**
   * Takes a connection slot for a user before their socket is upgraded, under
   * `maxConnectionsPerUser`: resolves `null` when the user holds that many
   * already. {@linkcode realtime} calls this (and answers `null` with 429);
   * call it yourself only for a transport of your own, and hand the slot to
   * {@linkcode Hub.connect}. A slot no connection claims within 10 s goes back
   * by itself; call `release()` when the upgrade fails.
   *
   * When the fan-out's shared count cannot be reached (Redis is down), the
   * slot is counted on this instance alone, and the error is reported to `onError`.
   *
   * @param userId The user's id (the token's `sub`).
   * @returns The slot, or `null` when the user is at the cap.
   * @throws {HubClosedError} after {@linkcode Hub.close}.
   *
   * @example Admitting connections by hand
   * ```ts
   * import { Hub } from "@kiln/core/realtime";
   * import assert from "node:assert/strict";
   *
   * const hub = new Hub({ maxConnectionsPerUser: 1 });
   * const slot = await hub.admit("alice");
   * assert.notEqual(slot, null);
   * assert.equal(await hub.admit("alice"), null); // at the cap
   * slot!.release();
   * assert.notEqual(await hub.admit("alice"), null);
   * await hub.close();
   * ```
   */
  async admit(userId: string): Promise<ConnectionSlot | null> {
    if (this.#closed) throw new HubClosedError();
    const limit = this.#maxPerUser;
    if (limit === Infinity) return this.#admission(userId, () => {});
    const connectionId = crypto.randomUUID();
    let slots = this.#slots;
    let taken: boolean;
    try {
      taken = await slots.acquire(userId, connectionId, limit);
    } catch (error) {
      // The shared count is out of reach: keep counting on this instance rather than
      // refusing everyone, or admitting without any bound.
      this.#onError(error, "connection slots");
      slots = this.#localSlots;
      taken = await slots.acquire(userId, connectionId, limit);
    }
    if (!taken) return null;
    const giveBack = () => this.#track(slots.release(userId, connectionId));
    if (this.#closed) {
      giveBack();
      throw new HubClosedError();
    }
    return this.#admission(userId, giveBack);
  }

  /**
   * Takes over an upgraded socket. {@linkcode realtime} calls this; call it
   * yourself only for a transport of your own.
   *
   * @param socket The socket, in Hono's shape.
   * @param auth Who the connection belongs to.
   * @param policy The limits and rules, as {@linkcode realtime} resolves them.
   * @param slot The user's slot from {@linkcode Hub.admit}; it goes back when the connection closes.
   * @param options The connection's id and wire protocol, for a protocol other than Kiln's own.
   * @returns The connection, with `receive(data)` and `closedByPeer(code, reason)` for the transport.
   * @throws {HubClosedError} after {@linkcode Hub.close}.
   * @throws {TypeError} When `slot` is not this hub's, belongs to another user, or was used or given back.
   */
  connect(
    socket: WSContext,
    auth: AuthSession,
    policy: ConnectionPolicy,
    slot?: ConnectionSlot,
    options: ConnectOptions = {},
  ): TransportConnection {
    if (this.#closed) throw new HubClosedError();
    if (slot !== undefined) {
      if (!(slot instanceof Admission) || !this.#admissions.has(slot)) {
        throw new TypeError("The slot must come from this hub's admit()");
      }
      if (slot.userId !== auth.user.id) throw new TypeError("The slot belongs to another user");
      if (!slot.attach()) throw new TypeError("The slot was used or given back already");
    }
    const session = new Session(socket, auth, policy, this.#host, slot, options.wire, options.id);
    this.#sessions.add(session);
    this.#start().catch((error) => this.#onError(error, "fanout"));
    session.start();
    return session;
  }

  /**
   * Sends an event to every subscriber of a channel, on every instance.
   *
   * @param channel The channel name.
   * @param event The event name.
   * @param data Any JSON value.
   * @param options A connection to skip.
   * @returns Settles once delivered here and handed to the fan-out.
   * @throws {TypeError} When the channel name is invalid.
   * @throws {HubClosedError} after {@linkcode Hub.close}.
   * @throws {import("../errors.ts").RedisError} When the fan-out could not publish.
   *
   * @example Notifying one user
   * ```ts
   * import { Hub } from "@kiln/core/realtime";
   * import assert from "node:assert/strict";
   *
   * const hub = new Hub();
   * await hub.broadcast("private-user.42", "order.shipped", { orderId: 9 });
   * await assert.rejects(hub.broadcast("no spaces", "x", null), TypeError); // invalid channel
   * await hub.close();
   * ```
   */
  async broadcast(
    channel: string,
    event: string,
    data: unknown,
    options: BroadcastOptions = {},
  ): Promise<void> {
    if (typeof channel !== "string" || !CHANNEL_NAME_PATTERN.test(channel)) {
      throw new TypeError(`Invalid channel name ${JSON.stringify(channel)}`);
    }
    if (typeof event !== "string" || event.length === 0) {
      throw new TypeError("The event name must be a non-empty string");
    }
    if (this.#closed) throw new HubClosedError();
    await this.#start();
    await this.#emit(
      channel,
      { type: "message", channel, event, data: data ?? null },
      options.except,
    );
  }

  /**
   * Lists the members of a presence channel, across instances.
   *
   * @param channel The presence channel.
   * @returns The members.
   *
   * @example Who is in the room
   * ```ts
   * import { Hub } from "@kiln/core/realtime";
   * import assert from "node:assert/strict";
   *
   * const hub = new Hub();
   * assert.deepEqual(await hub.members("presence-room.1"), []); // nobody there yet
   * await hub.close();
   * ```
   */
  members(channel: string): Promise<PresenceMember[]> {
    return this.#fanout.presence.members(channel);
  }

  /**
   * Calls `listener` with every {@linkcode HubEvent} from now on, for webhooks
   * and metrics. A listener that throws is reported to `onError`.
   *
   * @param listener Called synchronously, in the order events happen.
   * @returns A function that stops the calls.
   *
   * @example Noticing channels that become occupied
   * ```ts
   * import { Hub, type HubEvent } from "@kiln/core/realtime";
   * import assert from "node:assert/strict";
   *
   * const hub = new Hub();
   * const seen: HubEvent[] = [];
   * const stop = hub.watch((event) => seen.push(event));
   * stop();
   * assert.deepEqual(seen, []); // nothing happened while watching
   * await hub.close();
   * ```
   */
  watch(listener: (event: HubEvent) => void): () => void {
    this.#watchers.add(listener);
    return () => this.#watchers.delete(listener);
  }

  #notify(event: HubEvent): void {
    for (const listener of this.#watchers) {
      try {
        listener(event);
      } catch (error) {
        this.#onError(error, "watch");
      }
    }
  }

  /**
   * The channels with subscribers on every instance, and how many each has:
   * counted across instances behind a `RedisFanout`, this instance's own
   * otherwise (then it is {@linkcode Hub.subscriptions}).
   *
   * @param names Only these channels (the others are left out); every channel with subscribers when absent.
   * @returns Subscribers per channel name, only channels with some.
   * @throws {import("../errors.ts").RedisError} When the shared count cannot be read.
   * @throws {HubClosedError} after {@linkcode Hub.close}, when the count is shared.
   *
   * @example Counting a channel's subscribers on every instance
   * ```ts
   * import { Hub } from "@kiln/core/realtime";
   * import assert from "node:assert/strict";
   *
   * const hub = new Hub();
   * assert.equal((await hub.channels(["news"])).get("news") ?? 0, 0); // nobody anywhere
   * await hub.close();
   * ```
   */
  async channels(names?: readonly string[]): Promise<Map<string, number>> {
    const store = this.#fanout.channels;
    if (store) {
      if (this.#closed) throw new HubClosedError();
      // Started, so what the read prunes (a crashed instance's channels) is reported.
      await this.#start();
      return await store.read(names);
    }
    if (names === undefined) return this.subscriptions();
    const counts = new Map<string, number>();
    for (const name of names) {
      const size = this.subscribers(name);
      if (size > 0) counts.set(name, size);
    }
    return counts;
  }

  /**
   * The channels with subscribers on this instance, and how many each has
   * (see {@linkcode Hub.channels} for every instance's).
   *
   * @returns Subscribers per channel name.
   *
   * @example Counting subscribers
   * ```ts
   * import { Hub } from "@kiln/core/realtime";
   * import assert from "node:assert/strict";
   *
   * const hub = new Hub();
   * assert.equal(hub.subscriptions().size, 0); // nobody is subscribed to anything
   * await hub.close();
   * ```
   */
  subscriptions(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [channel, sessions] of this.#channels) counts.set(channel, sessions.size);
    return counts;
  }

  /**
   * How many connections of this instance are subscribed to one channel, of
   * every protocol (other instances behind a `RedisFanout` count their own),
   * without listing every channel as {@linkcode Hub.subscriptions} does.
   *
   * @param channel The channel name.
   * @returns Its subscribers here; 0 for a channel nobody here is in.
   *
   * @example Counting one channel's subscribers
   * ```ts
   * import { Hub } from "@kiln/core/realtime";
   * import assert from "node:assert/strict";
   *
   * const hub = new Hub();
   * assert.equal(hub.subscribers("news"), 0); // nobody here is subscribed to it
   * await hub.close();
   * ```
   */
  subscribers(channel: string): number {
    return this.#channels.get(channel)?.size ?? 0;
  }

  /**
   * Closes one user's connections, whatever their protocol, on this instance
   * and (through the fan-out) on every other.
   *
   * @param userId The user's id.
   * @param code The close code. @default CloseCode.Refused
   * @param reason The close reason.
   * @returns Settles once closed here and handed to the fan-out.
   * @throws {HubClosedError} after {@linkcode Hub.close}.
   * @throws {import("../errors.ts").RedisError} When the fan-out could not publish.
   *
   * @example Signing a user out everywhere
   * ```ts
   * import { Hub } from "@kiln/core/realtime";
   * import assert from "node:assert/strict";
   *
   * const hub = new Hub();
   * await hub.disconnect("user-7"); // user-7 holds no connection: nothing to close
   * assert.equal(hub.size, 0);
   * await hub.close();
   * ```
   */
  async disconnect(
    userId: string,
    code: number = CloseCode.Refused,
    reason = "disconnected",
  ): Promise<void> {
    if (this.#closed) throw new HubClosedError();
    this.#disconnectHere(userId, code, reason);
    await this.#start();
    await this.#fanout.publish({
      channel: DISCONNECT_CHANNEL,
      payload: JSON.stringify({ userId, code, reason }),
    });
  }

  #disconnectHere(userId: string, code: number, reason: string): void {
    for (const session of [...this.#sessions]) {
      if (session.user.id === userId) session.close(code, reason);
    }
  }

  /**
   * Closes every connection with `CloseCode.GoingAway`, waits for their
   * presence to be cleared, and stops the fan-out.
   *
   * @returns Settles when everything is released.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const sessions = [...this.#sessions];
    for (const session of sessions) session.close(CloseCode.GoingAway, "server shutting down");
    await Promise.all(sessions.map((session) => session.drained()));
    // Slots admitted for sockets that never opened go back now, not when their timer fires.
    for (const admission of [...this.#admissions]) admission.release();
    await Promise.allSettled([...this.#presenceChains.values(), ...this.#releases]);
    if (this.#started) await this.#started.catch(() => {});
    await this.#fanout.close();
  }

  #admission(userId: string, giveBack: () => void): Admission {
    const admission: Admission = new Admission(
      userId,
      () => {
        this.#admissions.delete(admission);
        giveBack();
      },
      this.#clock,
      ADMISSION_TIMEOUT_MS,
    );
    this.#admissions.add(admission);
    return admission;
  }

  /** Keeps a slot's way back to the store in sight, so close() can wait for it. */
  #track(release: Promise<void>): void {
    const tracked = release.catch((error) => this.#onError(error, "connection slots"));
    this.#releases.add(tracked);
    tracked.finally(() => this.#releases.delete(tracked));
  }

  #start(): Promise<void> {
    this.#started ??= this.#fanout.start({
      deliver: (envelope) => this.#deliver(envelope),
      memberGone: (channel, member) => {
        this.#notify({ type: "member_removed", channel, member });
        this.#emit(channel, { type: "member_removed", channel, member }).catch((error) =>
          this.#onError(error, "presence")
        );
      },
      memberBack: (channel, member) => {
        this.#emit(channel, { type: "member_added", channel, member }).catch((error) =>
          this.#onError(error, "presence")
        );
      },
      channels: (change) => {
        for (const channel of change.occupied) this.#notify({ type: "channel_occupied", channel });
        for (const [channel, count] of change.counts) {
          this.#notify({ type: "subscription_count", channel, count });
        }
        for (const channel of change.vacated) this.#notify({ type: "channel_vacated", channel });
      },
    }).catch((error) => {
      this.#started = null; // let the next caller try again
      throw error;
    });
    return this.#started;
  }

  #deliver(envelope: FanoutEnvelope): void {
    if (envelope.channel === DISCONNECT_CHANNEL) return this.#disconnectFrom(envelope.payload);
    const subscribers = this.#channels.get(envelope.channel);
    if (!subscribers) return;
    for (const session of subscribers) {
      if (session.id !== envelope.except) session.deliver(envelope.payload);
    }
  }

  /** Another instance's `disconnect()`; a malformed command is ignored. */
  #disconnectFrom(payload: string): void {
    try {
      const { userId, code, reason } = JSON.parse(payload);
      if (typeof userId !== "string" || !Number.isInteger(code)) return;
      this.#disconnectHere(userId, code, typeof reason === "string" ? reason : "");
    } catch {
      this.#onError(new TypeError("A malformed disconnect command"), "fanout");
    }
  }

  async #emit(channel: string, message: ServerMessage, except?: string): Promise<void> {
    // Serialized once, whatever the number of subscribers.
    const envelope: FanoutEnvelope = { channel, payload: JSON.stringify(message), except };
    this.#deliver(envelope);
    await this.#fanout.publish(envelope);
  }

  /**
   * A channel has `size` subscribers here now (`first`: it had none): the
   * fan-out's store counts it across instances and reports back; without one,
   * this instance decides.
   */
  #counted(channel: string, size: number, first: boolean): void {
    const store = this.#fanout.channels;
    if (store) return store.set(channel, size);
    if (first) this.#notify({ type: "channel_occupied", channel });
    this.#notify({ type: "subscription_count", channel, count: size });
    if (size === 0) this.#notify({ type: "channel_vacated", channel });
  }

  /** Runs presence changes of one (channel, user) in order, so join and leave never cross. */
  #serial<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#presenceChains.get(key) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(task);
    this.#presenceChains.set(key, next);
    const cleanup = () => {
      if (this.#presenceChains.get(key) === next) this.#presenceChains.delete(key);
    };
    next.then(cleanup, cleanup);
    return next;
  }

  #makeHost(): SessionHost {
    const clock = () => this.#clock;
    const middlewares = () => this.#middlewares;
    return {
      get clock() {
        return clock();
      },
      get middlewares() {
        return middlewares();
      },
      subscribe: (session, channel, member) => this.#subscribe(session, channel, member),
      unsubscribe: (session, channel) => this.#unsubscribe(session, channel),
      updateMember: (session, channel, member) => this.#updateMember(session, channel, member),
      members: (channel) => this.#fanout.presence.members(channel),
      emit: (channel, message, except) => this.#emit(channel, message, except),
      admit: async (userId) => {
        let slot: ConnectionSlot | null;
        try {
          slot = await this.admit(userId);
        } catch {
          return null; // closing
        }
        if (slot instanceof Admission && slot.attach()) return slot;
        slot?.release();
        return null;
      },
      detach: (session) => {
        this.#sessions.delete(session);
        for (const channel of session.channels) this.#unsubscribe(session, channel);
      },
      reportError: (error, context) => this.#onError(error, context),
    };
  }

  async #subscribe(
    session: Session,
    channel: ChannelInfo,
    member: PresenceMember,
  ): Promise<PresenceMember[] | undefined> {
    await this.#start();
    // Closed while the fan-out started: detach already ran, so do not index it now.
    if (session.closed) return undefined;
    let subscribers = this.#channels.get(channel.name);
    if (!subscribers) this.#channels.set(channel.name, subscribers = new Set());
    const size = subscribers.size;
    subscribers.add(session);
    if (subscribers.size !== size) this.#counted(channel.name, subscribers.size, size === 0);
    if (channel.kind !== "presence") return undefined;
    let users = this.#presence.get(channel.name);
    if (!users) this.#presence.set(channel.name, users = new Map());
    let entry = users.get(member.id);
    const first = !entry;
    if (!entry) users.set(member.id, entry = { sessions: new Set(), member });
    entry.sessions.add(session);
    const store = this.#fanout.presence;
    const current = entry;
    return await this.#serial(`${channel.name}\n${member.id}`, async () => {
      if (!first) {
        // Another tab of the user is here already; the latest authorization wins.
        if (!sameMember(current.member, member)) {
          current.member = member;
          if (await store.update(channel.name, member)) {
            await this.#emit(channel.name, memberUpdated(channel.name, member), session.id);
          }
        }
        return await store.members(channel.name);
      }
      const joined = await store.join(channel.name, member);
      if (joined.added) {
        this.#notify({ type: "member_added", channel: channel.name, member });
        await this.#emit(
          channel.name,
          { type: "member_added", channel: channel.name, member },
          session.id,
        );
      } else if (joined.updated) {
        await this.#emit(channel.name, memberUpdated(channel.name, member), session.id);
      }
      return joined.members;
    });
  }

  /**
   * A session's user has new member info for a presence channel (its token was
   * refreshed): stores it and announces `member_updated` to everyone there,
   * the session included, when it changed.
   */
  async #updateMember(session: Session, channel: string, member: PresenceMember): Promise<void> {
    const entry = this.#presence.get(channel)?.get(member.id);
    if (!entry?.sessions.has(session) || sameMember(entry.member, member)) return;
    entry.member = member;
    await this.#serial(`${channel}\n${member.id}`, async () => {
      // Left while waiting its turn: the leave already announced the removal.
      if (!entry.sessions.has(session)) return;
      if (await this.#fanout.presence.update(channel, member)) {
        await this.#emit(channel, memberUpdated(channel, member));
      }
    });
  }

  #unsubscribe(session: Session, channel: string): void {
    const subscribers = this.#channels.get(channel);
    if (subscribers?.delete(session)) {
      if (subscribers.size === 0) this.#channels.delete(channel);
      this.#counted(channel, subscribers.size, false);
    }
    const users = this.#presence.get(channel);
    const entry = users?.get(session.user.id);
    if (!users || !entry || !entry.sessions.delete(session) || entry.sessions.size > 0) return;
    users.delete(session.user.id);
    if (users.size === 0) this.#presence.delete(channel);
    // The user's last tab here left: tell the store, and everyone if nobody else holds them.
    this.#serial(`${channel}\n${session.user.id}`, async () => {
      const member = await this.#fanout.presence.leave(channel, session.user.id);
      if (!member) return;
      this.#notify({ type: "member_removed", channel, member });
      await this.#emit(channel, { type: "member_removed", channel, member });
    }).catch((error) => this.#onError(error, "presence"));
  }
}

function memberUpdated(channel: string, member: PresenceMember): ServerMessage {
  return { type: "member_updated", channel, member };
}
