/**
 * Channel subscribers counted in Redis across every instance of a hub. Each
 * instance stores its own count per channel under its heartbeat, so a crashed
 * instance's subscribers stop counting once its deadline lapses; a channel
 * becoming occupied or vacated is decided inside one script, so exactly one
 * instance reports it.
 *
 * The hub's changes are not sent one by one: a burst of them (five thousand
 * clients subscribing) goes out as one call, and the next burst waits for it,
 * so the calls adapt to Redis's round trip. The values sent are absolute, so
 * a retried call changes nothing twice. An idle instance (no subscribers)
 * sends nothing.
 *
 * @module
 */
import { Keyspace } from "../redis/keys.ts";
import { defineScript } from "../redis/script.ts";
import type { InstanceStoreOptions } from "./_instance_store.ts";
import type { ChannelChange, ChannelStore, FanoutHandlers } from "./fanout.ts";
import { channelRead, channelSync } from "./_scripts.ts";

const syncScript = defineScript(channelSync);
const readScript = defineScript(channelRead);

/** How long a pruning read's answer is kept for a retried call. */
const REPLAY_TTL_MS = 60_000;

/** Tells the other instances which channel counts moved. */
export type CountsPublisher = (counts: ReadonlyMap<string, number>) => Promise<void>;

/** The channel counts of one instance of a Redis-backed hub. */
export class RedisChannels implements ChannelStore {
  #options: InstanceStoreOptions;
  #keys: Keyspace;
  #publish: CountsPublisher;
  #handlers: FanoutHandlers | null = null;
  /** This instance's subscribers per channel, as the hub last said. */
  #local = new Map<string, number>();
  /** Channels whose count here changed since it was last stored. */
  #dirty = new Set<string>();
  #beatDue = false;
  #flushing: Promise<void> | null = null;
  #timer: unknown = undefined;
  #stopped = false;

  constructor(options: InstanceStoreOptions, publish: CountsPublisher) {
    this.#options = options;
    this.#publish = publish;
    this.#keys = new Keyspace("realtime", options.prefix);
  }

  /** Reports changes (its own and other instances') to `handlers` from now on. */
  start(handlers: FanoutHandlers): void {
    this.#handlers = handlers;
  }

  set(channel: string, count: number): void {
    if (count > 0) this.#local.set(channel, count);
    else this.#local.delete(channel);
    this.#dirty.add(channel);
    this.#kick();
  }

  async read(channels?: readonly string[]): Promise<Map<string, number>> {
    const { runner, clock, instanceId } = this.#options;
    const reply = await runner.run(readScript, this.#scriptKeys(), [
      clock.now(),
      instanceId,
      REPLAY_TTL_MS,
      ...(channels ?? []),
    ]) as [unknown[], string[], string[], unknown[]];
    this.#changed(reply[1], reply[2], reply[3]);
    const result = pairs(reply[0]);
    // This instance's own subscribers, fresher than what it last stored.
    for (const channel of channels ?? this.#local.keys()) {
      const count = (result.get(channel) ?? 0) + (this.#local.get(channel) ?? 0);
      if (count > 0) result.set(channel, count);
    }
    return result;
  }

  /** Another instance's counts moved. */
  received(counts: ReadonlyMap<string, number>): void {
    if (counts.size > 0) this.#handlers?.channels?.({ occupied: [], vacated: [], counts });
  }

  /** Stores what is pending (the subscribers a closing hub let go), then stops the heartbeat. */
  async close(): Promise<void> {
    this.#disarm();
    while (this.#flushing) await this.#flushing;
    if (this.#dirty.size > 0) await this.#flush();
    this.#stopped = true;
    this.#disarm();
  }

  #scriptKeys(): string[] {
    const keys = this.#keys;
    return [
      keys.key("channels", "instances"),
      keys.key("channels", "held"),
      keys.key("channels", "mine"),
      keys.key("channels", "totals"),
      keys.key("channels", "replay", crypto.randomUUID()),
    ];
  }

  /** Starts sending, unless a call is under way: it sends what gathers meanwhile when it is done. */
  #kick(): void {
    if (this.#flushing || this.#stopped) return;
    this.#flushing = (async () => {
      try {
        // Changes made in the same turn (a batch of subscribes) go out together.
        await Promise.resolve();
        while ((this.#dirty.size > 0 || this.#beatDue) && !this.#stopped) {
          if (!await this.#flush()) break; // retried with the next heartbeat
        }
      } finally {
        this.#flushing = null;
        this.#arm();
      }
    })();
  }

  /** One call: this instance's changed counts and its heartbeat. Resolves `false` when it failed. */
  async #flush(): Promise<boolean> {
    const { runner, clock, ttl, instanceId, onError } = this.#options;
    const sent = [...this.#dirty];
    this.#dirty.clear();
    this.#beatDue = false;
    const now = clock.now();
    const args: (string | number)[] = [now, now + ttl, instanceId, ttl * 2];
    for (const channel of sent) args.push(channel, this.#local.get(channel) ?? 0);
    let reply: [string[], string[], unknown[], number];
    try {
      reply = await runner.run(syncScript, this.#scriptKeys(), args) as typeof reply;
    } catch (error) {
      for (const channel of sent) this.#dirty.add(channel);
      onError(error, "channel counts");
      return false;
    }
    if (Number(reply[3]) === 1) {
      // The store did not know this instance: its counts were taken away
      // (a missed heartbeat) or lost, so all of them go again.
      const again = new Set(sent);
      for (const channel of this.#local.keys()) if (!again.has(channel)) this.#dirty.add(channel);
    }
    this.#changed(reply[0], reply[1], reply[2]);
    return true;
  }

  #changed(occupied: string[], vacated: string[], list: unknown[]): void {
    const counts = pairs(list);
    if (occupied.length === 0 && vacated.length === 0 && counts.size === 0) return;
    this.#handlers?.channels?.({ occupied, vacated, counts } satisfies ChannelChange);
    if (counts.size === 0) return;
    this.#publish(counts).catch((error) => this.#options.onError(error, "channel counts"));
  }

  /** The heartbeat runs while this instance holds subscribers (or has changes to retry). */
  #arm(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    if (this.#local.size === 0 && this.#dirty.size === 0) return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#beatDue = true;
      this.#kick();
    }, this.#options.heartbeatInterval);
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** `[channel, count, channel, count…]` as a map. */
function pairs(list: unknown[]): Map<string, number> {
  const result = new Map<string, number>();
  for (let i = 0; i + 1 < list.length; i += 2) result.set(String(list[i]), Number(list[i + 1]));
  return result;
}
