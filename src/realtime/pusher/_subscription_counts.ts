/**
 * `pusher_internal:subscription_count`: tells a channel's Pusher subscribers
 * how many subscribers it has, when that changes, at most once per interval.
 * Every channel but presence ones, as on Pusher.
 *
 * @module
 */
import type { Clock } from "../../clock.ts";
import type { WireConnection } from "../connection.ts";
import type { Hub } from "../hub.ts";
import { frame } from "./_encode.ts";

/**
 * The counts of one `pusher()`, for its apps with `subscriptionCount: true`.
 *
 * The count is the hub's subscribers of the channel of both protocols, on
 * every instance behind a `RedisFanout` (as `hub.channels()` reads it). The
 * hub reports every change of a count, this instance's or another's; Pusher
 * throttles the event on busy channels, and here every channel's sends are
 * spaced by `interval`, the count read when the send goes, so the last change
 * is always reported once the interval is over.
 */
export class SubscriptionCounts {
  #hub: Hub;
  #clock: Clock;
  #interval: number;
  #onError: (error: unknown, context: string) => void;
  /** The Pusher connections to tell, per channel. */
  #listeners = new Map<string, Set<WireConnection>>();
  #lastSent = new Map<string, number>();
  #pending = new Map<string, unknown>();

  constructor(
    hub: Hub,
    clock: Clock,
    interval: number,
    onError: (error: unknown, context: string) => void,
  ) {
    this.#hub = hub;
    this.#clock = clock;
    this.#interval = interval;
    this.#onError = onError;
    hub.watch((event) => {
      if (event.type === "subscription_count") this.#changed(event.channel);
    });
  }

  /**
   * A Pusher connection's subscription to `channel` succeeded; `listens` when
   * its app has `subscriptionCount: true` (a connection of another app still
   * counts: the hub reports the change it makes). A new listener is told the
   * count: the hub reported the change its own subscription made before it listened.
   */
  joined(connection: WireConnection, channel: string, listens: boolean): void {
    if (!listens || !counted(channel)) return;
    let listeners = this.#listeners.get(channel);
    if (!listeners) this.#listeners.set(channel, listeners = new Set());
    listeners.add(connection);
    this.#changed(channel);
  }

  /** A Pusher connection left `channel` (unsubscribed or closed). */
  left(connection: WireConnection, channel: string): void {
    const listeners = this.#listeners.get(channel);
    if (!listeners) return;
    listeners.delete(connection);
    if (listeners.size > 0) return;
    // Nobody left here to tell: no send, no timer outliving the last connection.
    this.#clock.clearTimeout(this.#pending.get(channel));
    this.#pending.delete(channel);
    this.#listeners.delete(channel);
    this.#lastSent.delete(channel);
  }

  /** A channel's count moved: its listeners here hear of it (no timer for channels nobody here listens to). */
  #changed(channel: string): void {
    if (!this.#listeners.has(channel)) return;
    if (this.#pending.has(channel)) return; // the pending send reads the count then
    const last = this.#lastSent.get(channel) ?? -Infinity;
    // Never synchronous: the connection subscribing is told it succeeded first.
    const delay = Math.max(0, last + this.#interval - this.#clock.now());
    this.#pending.set(channel, this.#clock.setTimeout(() => this.#send(channel), delay));
  }

  async #send(channel: string): Promise<void> {
    // Changes heard while the count is read schedule the next send, after the interval.
    this.#pending.delete(channel);
    const listeners = this.#listeners.get(channel);
    if (!listeners) return;
    this.#lastSent.set(channel, this.#clock.now());
    let count: number;
    try {
      count = (await this.#hub.channels([channel])).get(channel) ?? 0;
    } catch (error) {
      return this.#onError(error, "subscription count");
    }
    const text = frame(
      "pusher_internal:subscription_count",
      { subscription_count: count },
      channel,
    );
    for (const connection of this.#listeners.get(channel) ?? []) {
      // Closed or unsubscribed by the server (slow consumer, terminate): forget it.
      if (connection.channels.has(channel)) connection.sendRaw(text);
      else listeners.delete(connection);
    }
  }
}

/** Pusher's own channels ("#") are not the application's; presence channels have their members instead, as on Pusher. */
function counted(channel: string): boolean {
  return !channel.startsWith("#") && !channel.startsWith("presence-");
}
