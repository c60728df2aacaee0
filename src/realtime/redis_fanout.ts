/**
 * Fan-out and presence through Redis, so several server instances act as one hub.
 *
 * @module
 */
import { type RedisInput, toRedisLike } from "../redis/connect.ts";
import { Keyspace } from "../redis/keys.ts";
import type { RedisLike, RedisSubscription } from "../redis/redis_like.ts";
import { ScriptRunner } from "../redis/script.ts";
import { type Clock, systemClock } from "../clock.ts";
import { Backoff } from "../_backoff.ts";
import type {
  ChannelStore,
  Fanout,
  FanoutEnvelope,
  FanoutHandlers,
  PresenceStore,
} from "./fanout.ts";
import type { ConnectionSlots } from "./connection_slots.ts";
import { RedisPresence } from "./_redis_presence.ts";
import { RedisSlots } from "./_redis_slots.ts";
import { RedisChannels } from "./_redis_channels.ts";
import type { InstanceStoreOptions } from "./_instance_store.ts";

/** How many recent message ids are remembered to drop a retried PUBLISH's second copy. */
const SEEN_MESSAGES = 1_024;

/** Options for {@linkcode RedisFanout}. */
export interface RedisFanoutOptions {
  /** An `@upstash/redis` `Redis` instance, or any `RedisLike`. */
  redis: RedisInput;
  /**
   * The key prefix: instances with the same prefix (and Redis) form one hub,
   * and hubs with different prefixes share one Redis without seeing each
   * other. Every key is `<prefix>:{realtime…}:…`.
   * @default "kiln"
   */
  prefix?: string;
  /**
   * How long an instance's presence members (and connection slots and channel
   * subscribers) outlive its last heartbeat, in milliseconds: a crashed
   * instance's members disappear after this, and its connections and
   * subscribers stop counting.
   * @default 30_000
   */
  presenceTtl?: number;
  /**
   * How often an instance renews its presence members, in milliseconds.
   * @default presenceTtl / 3
   */
  heartbeatInterval?: number;
  /** Time, the heartbeat timer and the resubscribe timer. @default systemClock */
  clock?: Clock;
  /**
   * Back-off between attempts to subscribe again after the subscription was
   * lost or refused, in milliseconds: the ceiling starts at `min` and doubles
   * per failed attempt up to `max`, and each wait is drawn between half the
   * ceiling and the ceiling ("equal" jitter), so instances that lost Redis
   * together do not come back together and none retries in a tight loop.
   * `min` must be positive and `max` at least `min`.
   * @default { min: 100, max: 5_000 }
   */
  resubscribeDelay?: { min: number; max: number };
  /**
   * A source of numbers in [0, 1) for the back-off's jitter (inject it in tests).
   * @default Math.random
   */
  random?: () => number;
  /** Called with errors the fan-out recovers from. @default console.error */
  onError?: (error: unknown, context: string) => void;
}

/**
 * Makes several hub instances one hub through Redis: a broadcast on one
 * instance reaches subscribers on all of them (Redis publish, received over
 * an SSE subscription through the REST endpoint); presence members and each
 * instance's subscribers per channel live in Redis with heartbeats, so a
 * crashed instance's members and subscribers disappear.
 * A lost subscription is re-established with back-off.
 *
 * @example Two servers, one hub
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { Hub, RedisFanout } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * // UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN name Upstash or Kiln's gateway.
 * // Instances with the same prefix form one hub; a fresh one keeps this example apart.
 * const prefix = `example-${crypto.randomUUID()}`;
 * const serverA = new Hub({
 *   fanout: new RedisFanout({ redis: Redis.fromEnv(), prefix }),
 *   maxConnectionsPerUser: 1,
 * });
 * const serverB = new Hub({
 *   fanout: new RedisFanout({ redis: Redis.fromEnv(), prefix }),
 *   maxConnectionsPerUser: 1,
 * });
 * // The per-user cap is counted across both instances, in Redis.
 * const slot = await serverA.admit("alice");
 * assert.notEqual(slot, null);
 * assert.equal(await serverB.admit("alice"), null);
 * slot!.release();
 * await serverA.broadcast("news", "headline", { title: "Seen on every instance" });
 * await serverA.close();
 * await serverB.close();
 * ```
 */
export class RedisFanout implements Fanout {
  /** Presence members in Redis, shared by every instance of the hub. */
  readonly presence: PresenceStore;
  /** Each user's connections on every instance of the hub, for `maxConnectionsPerUser`. */
  readonly connections: ConnectionSlots;
  /** Every channel's subscribers on every instance of the hub. */
  readonly channels: ChannelStore;
  /** This instance's id. */
  readonly instanceId: string = crypto.randomUUID();
  #redis: RedisLike;
  #presence: RedisPresence;
  #slots: RedisSlots;
  #channels: RedisChannels;
  #topic: string;
  #clock: Clock;
  #backoff: Backoff;
  #onError: (error: unknown, context: string) => void;
  #handlers: FanoutHandlers | null = null;
  #subscription: RedisSubscription | null = null;
  #retryTimer: unknown = undefined;
  #subscribing: Promise<void> = Promise.resolve();
  #closed = false;
  #sent = 0;
  #seen = new Set<string>();

  /**
   * Creates the fan-out; nothing connects until the hub starts it.
   *
   * @param options The Redis, the key prefix and the presence timings.
   * @throws {TypeError} When `redis` is not a Redis client, or `prefix` is not a valid key part.
   * @throws {RangeError} When a timing is not a positive number, or `resubscribeDelay.max` is below `min`.
   */
  constructor(options: RedisFanoutOptions) {
    this.#redis = toRedisLike(options.redis);
    const prefix = options.prefix ?? "kiln";
    this.#topic = new Keyspace("realtime", prefix).key("fanout"); // validates the prefix
    const ttl = options.presenceTtl ?? 30_000;
    const heartbeatInterval = options.heartbeatInterval ?? Math.floor(ttl / 3);
    if (!(ttl > 0) || !(heartbeatInterval > 0) || heartbeatInterval >= ttl) {
      throw new RangeError(
        "presenceTtl and heartbeatInterval must be positive, heartbeatInterval below presenceTtl",
      );
    }
    const delays = options.resubscribeDelay ?? { min: 100, max: 5_000 };
    if (!(delays.min > 0) || !(delays.max >= delays.min)) {
      // A zero delay would retry a refused connection in a tight loop.
      throw new RangeError("resubscribeDelay needs min > 0 and max >= min");
    }
    this.#backoff = new Backoff(
      { initial: delays.min, max: delays.max, factor: 2, jitter: "equal" },
      options.random ?? Math.random,
    );
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? ((error, context) => {
      console.error(`[kiln realtime] ${context}:`, error);
    });
    const stores: InstanceStoreOptions = {
      runner: new ScriptRunner(this.#redis),
      prefix,
      instanceId: this.instanceId,
      clock: this.#clock,
      ttl,
      heartbeatInterval,
      onError: this.#onError,
    };
    this.connections = this.#slots = new RedisSlots(stores);
    this.presence = this.#presence = new RedisPresence(stores);
    this.channels = this.#channels = new RedisChannels(stores, (counts) =>
      this.#send({
        k: [...counts].flat(),
      }));
  }

  /**
   * Subscribes to the hub's Redis channel and starts the presence heartbeat.
   * When Redis cannot be reached it keeps retrying in the background.
   *
   * @param handlers The hub's callbacks.
   */
  async start(handlers: FanoutHandlers): Promise<void> {
    this.#handlers = handlers;
    this.#presence.start(handlers);
    this.#channels.start(handlers);
    await (this.#subscribing = this.#subscribe());
  }

  /**
   * Publishes a message for the other instances.
   *
   * @param envelope The serialized message.
   * @throws {import("../errors.ts").RedisError} When Redis cannot be reached.
   */
  publish(envelope: FanoutEnvelope): Promise<void> {
    return this.#send({
      c: envelope.channel,
      p: envelope.payload,
      ...(envelope.except ? { x: envelope.except } : {}),
    });
  }

  /** Publishes a message to the other instances, with this instance's id and a sequence number. */
  async #send(fields: Record<string, unknown>): Promise<void> {
    const message = JSON.stringify({ i: this.instanceId, n: this.#sent++, ...fields });
    await this.#redis.publish(this.#topic, message);
  }

  /** Stops the subscription, the heartbeat and any pending retry. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#clock.clearTimeout(this.#retryTimer);
    this.#presence.stop();
    await this.#channels.close(); // a closing hub's subscribers go before its subscription
    await this.#slots.close();
    await this.#subscribing; // an attempt under way closes what it opened
    const subscription = this.#subscription;
    this.#subscription = null;
    await subscription?.close();
  }

  async #subscribe(): Promise<void> {
    if (this.#closed) return;
    let lost = false;
    let subscription: RedisSubscription | undefined;
    try {
      subscription = await this.#redis.subscribe(this.#topic, {
        onMessage: (message) => this.#receive(message),
        onReady: () => this.#backoff.reset(),
        // Called once when the stream errors or simply ends (a gateway that
        // crashed or restarted), possibly before `subscribe` has resolved.
        onError: (error) => {
          lost = true;
          if (this.#closed) return;
          this.#onError(error, "fanout subscription");
          if (subscription !== undefined && this.#subscription === subscription) {
            this.#subscription = null;
          }
          this.#retryLater();
        },
      });
      if (this.#closed) return void await subscription.close();
      if (!lost) this.#subscription = subscription;
    } catch (error) {
      // Refused or unreachable: never reached the server, so try again later.
      if (this.#closed) return;
      this.#onError(error, "fanout subscription");
      this.#retryLater();
    }
  }

  #retryLater(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#subscribing = this.#subscribe();
    }, this.#backoff.next());
  }

  #receive(text: string): void {
    let message: { i?: unknown; n?: unknown; c?: unknown; p?: unknown; x?: unknown; k?: unknown };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.i === this.instanceId) return; // delivered locally already
    const counts = Array.isArray(message.k);
    if (!counts && (typeof message.c !== "string" || typeof message.p !== "string")) return;
    if (typeof message.i === "string" && typeof message.n === "number") {
      // A PUBLISH retried after its reply was lost arrives twice: deliver it once.
      const id = `${message.i}:${message.n}`;
      if (this.#seen.has(id)) return;
      this.#seen.add(id);
      if (this.#seen.size > SEEN_MESSAGES) this.#seen.delete(this.#seen.values().next().value!);
    }
    if (counts) return this.#receiveCounts(message.k as unknown[]);
    this.#handlers?.deliver({
      channel: message.c as string,
      payload: message.p as string,
      except: typeof message.x === "string" ? message.x : undefined,
    });
  }

  /** Another instance's channel counts moved: `[channel, count, …]`; anything malformed is dropped. */
  #receiveCounts(list: unknown[]): void {
    const counts = new Map<string, number>();
    for (let i = 0; i + 1 < list.length; i += 2) {
      const [channel, count] = [list[i], list[i + 1]];
      if (typeof channel === "string" && Number.isSafeInteger(count) && (count as number) >= 0) {
        counts.set(channel, count as number);
      }
    }
    this.#channels.received(counts);
  }
}
