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
 * The count is the hub's subscribers of the channel on this instance, of both
 * protocols; behind a `RedisFanout` each instance counts its own (no shared
 * per-channel count exists yet). Pusher connections' subscribes and leaves
 * send it; a Kiln-protocol client's are counted but told with the next one. Pusher throttles the event on busy channels;
 * here every channel's sends are spaced by `interval`, the last change always
 * reported once the interval is over.
 */
export class SubscriptionCounts {
  #hub: Hub;
  #clock: Clock;
  #interval: number;
  /** The Pusher connections to tell, per channel. */
  #listeners = new Map<string, Set<WireConnection>>();
  #lastSent = new Map<string, number>();
  #pending = new Map<string, unknown>();

  constructor(hub: Hub, clock: Clock, interval: number) {
    this.#hub = hub;
    this.#clock = clock;
    this.#interval = interval;
  }

  /**
   * A Pusher connection's subscription to `channel` succeeded; `listens` when
   * its app has `subscriptionCount: true` (a connection of another app still
   * counts, and changes the count).
   */
  joined(connection: WireConnection, channel: string, listens: boolean): void {
    if (channel.startsWith("#")) return; // Pusher's own machinery, not the application's
    // As on Pusher: presence channels have their members (and member_added/removed) instead.
    if (channel.startsWith("presence-")) return;
    let listeners = this.#listeners.get(channel);
    if (listens) {
      if (!listeners) this.#listeners.set(channel, listeners = new Set());
      listeners.add(connection);
    }
    if (listeners) this.#changed(channel);
  }

  /** A Pusher connection left `channel` (unsubscribed or closed). */
  left(connection: WireConnection, channel: string): void {
    const listeners = this.#listeners.get(channel);
    if (!listeners) return;
    listeners.delete(connection);
    if (listeners.size > 0) return this.#changed(channel);
    // Nobody left here to tell: no send, no timer outliving the last connection.
    this.#clock.clearTimeout(this.#pending.get(channel));
    this.#pending.delete(channel);
    this.#listeners.delete(channel);
    this.#lastSent.delete(channel);
  }

  #changed(channel: string): void {
    if (this.#pending.has(channel)) return; // the pending send reads the count then
    const last = this.#lastSent.get(channel) ?? -Infinity;
    // Never synchronous: an unsubscribe is seen before the hub carries it out.
    const delay = Math.max(0, last + this.#interval - this.#clock.now());
    this.#pending.set(channel, this.#clock.setTimeout(() => this.#send(channel), delay));
  }

  #send(channel: string): void {
    this.#pending.delete(channel);
    const listeners = this.#listeners.get(channel);
    if (!listeners) return;
    this.#lastSent.set(channel, this.#clock.now());
    const count = this.#hub.subscribers(channel);
    const text = frame(
      "pusher_internal:subscription_count",
      { subscription_count: count },
      channel,
    );
    for (const connection of listeners) {
      // Closed or unsubscribed by the server (slow consumer, terminate): forget it.
      if (connection.channels.has(channel)) connection.sendRaw(text);
      else listeners.delete(connection);
    }
  }
}
