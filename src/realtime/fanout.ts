/**
 * The seam between one hub and its other instances: message fan-out and the
 * presence store. {@linkcode LocalFanout} serves a single process;
 * `RedisFanout` joins several.
 *
 * @module
 */
import type { ConnectionSlots } from "./connection_slots.ts";
import type { PresenceMember } from "./protocol.ts";
import { sameMember } from "./_same_member.ts";

/** A message on its way to a channel's subscribers, serialized once. */
export interface FanoutEnvelope {
  /** The channel. */
  readonly channel: string;
  /** The server message, already JSON. */
  readonly payload: string;
  /** A connection id that must not receive it (the sender). */
  readonly except?: string;
}

/** The result of {@linkcode PresenceStore.join}. */
export interface PresenceJoin {
  /** `true` when the user was not a member on any instance before. */
  added: boolean;
  /** The channel's members, the new one included. */
  members: PresenceMember[];
  /**
   * `true` when the user was a member already (on another instance) with other
   * info, which this join replaced: the hub announces `member_updated`.
   * @default false
   */
  updated?: boolean;
}

/**
 * Where presence members live. The hub calls `join` when a user's first
 * connection on this instance enters a channel and `leave` when the last
 * one leaves, so a store counts instances, not tabs.
 */
export interface PresenceStore {
  /** Records `member` as present on this instance. */
  join(channel: string, member: PresenceMember): Promise<PresenceJoin>;
  /** Records that `userId` left on this instance; resolves the member when nobody else has them. */
  leave(channel: string, userId: string): Promise<PresenceMember | null>;
  /**
   * Replaces the info of a member this instance holds (after a token refresh);
   * resolves whether the stored member changed, so the hub announces
   * `member_updated` once, and only for a real change.
   */
  update(channel: string, member: PresenceMember): Promise<boolean>;
  /** The channel's members. */
  members(channel: string): Promise<PresenceMember[]>;
}

/**
 * What a {@linkcode ChannelStore} found out: which channels became occupied
 * or vacated across every instance (each told by exactly one instance), and
 * the new subscriber counts of channels whose count moved.
 */
export interface ChannelChange {
  /** Channels that gained their first subscriber on any instance. */
  readonly occupied: readonly string[];
  /** Channels that lost their last subscriber on every instance. */
  readonly vacated: readonly string[];
  /**
   * Subscribers across instances of every channel whose count moved, as of
   * that change (changes made by several instances may arrive out of order).
   */
  readonly counts: ReadonlyMap<string, number>;
}

/**
 * Where the subscribers of every channel are counted across instances. The
 * hub tells it each change of its own counts; without one (`LocalFanout`)
 * the hub counts its own connections only.
 */
export interface ChannelStore {
  /** This instance holds `count` subscribers of `channel` now (0: none). */
  set(channel: string, count: number): void;
  /**
   * Subscribers per channel across instances, this instance's latest included:
   * of `channels` only, or of every channel with subscribers.
   */
  read(channels?: readonly string[]): Promise<Map<string, number>>;
}

/** What a fan-out calls back into its hub. */
export interface FanoutHandlers {
  /** Delivers a message published by another instance to this instance's subscribers. */
  deliver(envelope: FanoutEnvelope): void;
  /** A member vanished without leaving (its instance stopped heartbeating). */
  memberGone(channel: string, member: PresenceMember): void;
  /** A member this instance holds had to be recorded again (the store lost it). */
  memberBack(channel: string, member: PresenceMember): void;
  /**
   * Channel counts moved, on this instance or another (see {@linkcode ChannelStore});
   * a caller that does not count channels leaves it out.
   */
  channels?(change: ChannelChange): void;
}

/**
 * Carries broadcasts between hub instances and stores presence.
 * The hub delivers to its own subscribers itself; `publish` reaches the others.
 */
export interface Fanout {
  /** The presence store shared by all instances. */
  readonly presence: PresenceStore;
  /**
   * Where the per-user connection cap is counted across instances; without
   * it each hub instance counts its own connections.
   * @default undefined
   */
  readonly connections?: ConnectionSlots;
  /**
   * Where channel subscribers are counted across instances, for occupancy
   * (`channel_occupied`/`channel_vacated` once across instances) and counts;
   * without it each hub instance counts its own subscribers.
   * @default undefined
   */
  readonly channels?: ChannelStore;
  /** Starts receiving from other instances; the hub calls it once, lazily. */
  start(handlers: FanoutHandlers): Promise<void>;
  /** Sends a message to every other instance. */
  publish(envelope: FanoutEnvelope): Promise<void>;
  /** Stops receiving and releases resources. */
  close(): Promise<void>;
}

/**
 * The in-process default: no other instances, presence in memory.
 *
 * @example A hub on one process
 * ```ts
 * import { Hub } from "@kiln/core/realtime";
 * import { LocalFanout } from "@kiln/core/realtime/transport";
 * import assert from "node:assert/strict";
 *
 * const fanout = new LocalFanout();
 * const hub = new Hub({ fanout }); // what `new Hub()` does
 * await hub.broadcast("news", "headline", { title: "Hello" });
 * assert.deepEqual(await fanout.presence.members("presence-room.1"), []);
 * await hub.close();
 * ```
 */
export class LocalFanout implements Fanout {
  /** Presence kept in this process's memory. */
  readonly presence: PresenceStore = new MemoryPresence();

  /**
   * Nothing to start.
   *
   * @param _handlers Unused: no other instance ever calls back.
   */
  start(_handlers: FanoutHandlers): Promise<void> {
    return Promise.resolve();
  }

  /**
   * There are no other instances to reach.
   *
   * @param _envelope Unused.
   */
  publish(_envelope: FanoutEnvelope): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

class MemoryPresence implements PresenceStore {
  #channels = new Map<string, Map<string, PresenceMember>>();

  join(channel: string, member: PresenceMember): Promise<PresenceJoin> {
    let members = this.#channels.get(channel);
    if (!members) this.#channels.set(channel, members = new Map());
    const previous = members.get(member.id);
    members.set(member.id, member);
    return Promise.resolve({
      added: previous === undefined,
      members: [...members.values()],
      updated: previous !== undefined && !sameMember(previous, member),
    });
  }

  update(channel: string, member: PresenceMember): Promise<boolean> {
    const members = this.#channels.get(channel);
    const previous = members?.get(member.id);
    if (!members || !previous || sameMember(previous, member)) return Promise.resolve(false);
    members.set(member.id, member);
    return Promise.resolve(true);
  }

  leave(channel: string, userId: string): Promise<PresenceMember | null> {
    const members = this.#channels.get(channel);
    const member = members?.get(userId) ?? null;
    members?.delete(userId);
    if (members?.size === 0) this.#channels.delete(channel);
    return Promise.resolve(member);
  }

  members(channel: string): Promise<PresenceMember[]> {
    return Promise.resolve([...(this.#channels.get(channel)?.values() ?? [])]);
  }
}
