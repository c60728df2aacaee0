/**
 * Connection slots counted in Redis, so the per-user cap holds across every
 * instance of a hub. Each slot names the instance that holds it; an instance
 * renews one deadline for all of its slots with a heartbeat (one call, however
 * many users it serves), and the slots of an instance whose deadline lapsed
 * stop counting. An idle instance (no slots) sends nothing.
 *
 * @module
 */
import { Keyspace } from "../redis/keys.ts";
import { defineScript } from "../redis/script.ts";
import type { InstanceStoreOptions } from "./_instance_store.ts";
import type { ConnectionSlots } from "./connection_slots.ts";
import { connectionAcquire, connectionHeartbeat, connectionRelease } from "./_scripts.ts";

const acquireScript = defineScript(connectionAcquire);
const releaseScript = defineScript(connectionRelease);
const heartbeatScript = defineScript(connectionHeartbeat);

/**
 * How long a user's slot key outlives its last change. Live slots are not
 * renewed one by one (that would cost a call per user per heartbeat), so this
 * is long: a key only expires when its user has taken no slot for a week.
 */
const KEY_TTL_MS = 7 * 24 * 3600 * 1000;

/** The connection slots of one instance of a Redis-backed hub. */
export class RedisSlots implements ConnectionSlots {
  #options: InstanceStoreOptions;
  #keys: Keyspace;
  #held = 0;
  #timer: unknown = undefined;
  #stopped = false;

  constructor(options: InstanceStoreOptions) {
    this.#options = options;
    // One hash tag for all of a hub's slots: the acquire script reads a user's
    // slots and the instances' deadlines together.
    this.#keys = new Keyspace("realtime", options.prefix);
  }

  async acquire(userId: string, connectionId: string, limit: number): Promise<boolean> {
    const { runner, clock, ttl, instanceId } = this.#options;
    const now = clock.now();
    const reply = await runner.run(acquireScript, [this.#userKey(userId), this.#instancesKey()], [
      now,
      now + ttl,
      instanceId,
      connectionId,
      limit,
      KEY_TTL_MS,
    ]) as [number, number];
    if (reply[0] !== 1) return false;
    this.#held += 1;
    this.#armHeartbeat();
    return true;
  }

  async release(userId: string, connectionId: string): Promise<void> {
    this.#held = Math.max(0, this.#held - 1);
    if (this.#held === 0) this.#disarm();
    await this.#options.runner.run(releaseScript, [this.#userKey(userId)], [
      `${this.#options.instanceId}|${connectionId}`,
    ]);
  }

  /** Stops the heartbeat. */
  close(): Promise<void> {
    this.#stopped = true;
    this.#disarm();
    return Promise.resolve();
  }

  #userKey(userId: string): string {
    return this.#keys.key("slots", "user", userId);
  }

  #instancesKey(): string {
    return this.#keys.key("slots", "instances");
  }

  #armHeartbeat(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    const { clock, heartbeatInterval } = this.#options;
    this.#timer = clock.setTimeout(async () => {
      this.#timer = undefined;
      if (this.#held === 0 || this.#stopped) return;
      await this.#beat();
      if (this.#held > 0) this.#armHeartbeat();
    }, heartbeatInterval);
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #beat(): Promise<void> {
    const { runner, clock, ttl, instanceId, onError } = this.#options;
    const now = clock.now();
    try {
      await runner.run(heartbeatScript, [this.#instancesKey()], [
        now + ttl,
        instanceId,
        now - KEY_TTL_MS,
        KEY_TTL_MS,
      ]);
    } catch (error) {
      onError(error, "connection slots heartbeat");
    }
  }
}
