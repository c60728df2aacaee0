/**
 * Presence members in Redis, shared by every instance of a hub: each instance
 * renews the members it holds with a heartbeat, so a crashed instance's
 * members expire.
 *
 * @module
 */
import { Keyspace } from "../redis/keys.ts";
import type { RedisReply } from "../redis/redis_like.ts";
import { defineScript } from "../redis/script.ts";
import type { InstanceStoreOptions } from "./_instance_store.ts";
import type { FanoutHandlers, PresenceJoin, PresenceStore } from "./fanout.ts";
import type { PresenceMember } from "./protocol.ts";
import {
  presenceJoin,
  presenceLeave,
  presenceMembers,
  presenceTouch,
  presenceUpdate,
} from "./_scripts.ts";

const joinScript = defineScript(presenceJoin);
const updateScript = defineScript(presenceUpdate);
const leaveScript = defineScript(presenceLeave);
const touchScript = defineScript(presenceTouch);
const membersScript = defineScript(presenceMembers);

/** How long a script's answer is kept for a retried call: far longer than any retry takes. */
const REPLAY_TTL_MS = 60_000;

/** The presence store of one instance of a Redis-backed hub. */
export class RedisPresence implements PresenceStore {
  #options: InstanceStoreOptions;
  #handlers: FanoutHandlers | null = null;
  /** The members this instance holds, by channel and user: renewed by every heartbeat. */
  #held = new Map<string, Map<string, string>>();
  #heartbeatTimer: unknown;
  #stopped = false;

  constructor(options: InstanceStoreOptions) {
    this.#options = options;
  }

  /** Starts the heartbeat; members that vanish or come back are reported to `handlers`. */
  start(handlers: FanoutHandlers): void {
    this.#handlers = handlers;
    this.#armHeartbeat();
  }

  /** Stops the heartbeat. */
  stop(): void {
    this.#stopped = true;
    this.#options.clock.clearTimeout(this.#heartbeatTimer);
  }

  async join(channel: string, member: PresenceMember): Promise<PresenceJoin> {
    const { runner, clock, ttl, instanceId } = this.#options;
    const json = JSON.stringify(member);
    let users = this.#held.get(channel);
    if (!users) this.#held.set(channel, users = new Map());
    users.set(member.id, json);
    const now = clock.now();
    const reply = await runner.run(joinScript, this.#keys(channel), [
      now,
      now + ttl,
      instanceId,
      member.id,
      json,
      ttl * 2,
    ]) as [number, string[], RedisReply, number];
    this.#stale(channel, reply[2]);
    return {
      added: reply[0] === 1,
      members: reply[1].map((item) => JSON.parse(item)),
      updated: reply[3] === 1,
    };
  }

  async update(channel: string, member: PresenceMember): Promise<boolean> {
    const json = JSON.stringify(member);
    // The heartbeat re-records held members from here if the store loses them.
    const users = this.#held.get(channel);
    if (users?.has(member.id)) users.set(member.id, json);
    const reply = await this.#options.runner.run(updateScript, this.#keys(channel), [
      this.#options.clock.now(),
      this.#options.instanceId,
      member.id,
      json,
      REPLAY_TTL_MS,
    ]) as [number, RedisReply];
    this.#stale(channel, reply[1]);
    return reply[0] === 1;
  }

  async leave(channel: string, userId: string): Promise<PresenceMember | null> {
    const users = this.#held.get(channel);
    users?.delete(userId);
    if (users?.size === 0) this.#held.delete(channel);
    const reply = await this.#options.runner.run(leaveScript, this.#keys(channel), [
      this.#options.clock.now(),
      this.#options.instanceId,
      userId,
      REPLAY_TTL_MS,
    ]) as [string, RedisReply];
    this.#stale(channel, reply[1]);
    return reply[0] ? JSON.parse(reply[0]) : null;
  }

  async members(channel: string): Promise<PresenceMember[]> {
    const reply = await this.#options.runner.run(membersScript, this.#keys(channel), [
      this.#options.clock.now(),
      this.#options.instanceId,
      REPLAY_TTL_MS,
    ]) as [string[], RedisReply];
    this.#stale(channel, reply[1]);
    return reply[0].map((item) => JSON.parse(item));
  }

  /**
   * The channel's presence keys, plus a fresh key where the script keeps its
   * answer: the HTTP client retries a call whose reply was lost, and the
   * replay must get the first answer (a `member_added` is announced once).
   */
  #keys(channel: string): string[] {
    const keys = new Keyspace(`realtime.${channel}`, this.#options.prefix);
    return [
      keys.key("conns"),
      keys.key("counts"),
      keys.key("members"),
      keys.key("replay", crypto.randomUUID()),
    ];
  }

  #stale(channel: string, reply: RedisReply): void {
    if (!Array.isArray(reply)) return;
    for (const json of reply) {
      if (typeof json === "string") this.#handlers?.memberGone(channel, JSON.parse(json));
    }
  }

  #armHeartbeat(): void {
    if (this.#stopped) return;
    this.#heartbeatTimer = this.#options.clock.setTimeout(async () => {
      await this.#beat();
      this.#armHeartbeat();
    }, this.#options.heartbeatInterval);
  }

  async #beat(): Promise<void> {
    const { runner, clock, ttl, instanceId, onError } = this.#options;
    const now = clock.now();
    await Promise.all([...this.#held].map(async ([channel, users]) => {
      const args: (string | number)[] = [now, now + ttl, instanceId, ttl * 2];
      for (const [user, json] of users) args.push(user, json);
      try {
        const reply = await runner.run(touchScript, this.#keys(channel), args);
        const [readded, stale] = reply as [RedisReply[], RedisReply];
        for (const json of readded) {
          if (typeof json === "string") this.#handlers?.memberBack(channel, JSON.parse(json));
        }
        this.#stale(channel, stale);
      } catch (error) {
        onError(error, "presence heartbeat");
      }
    }));
  }
}
