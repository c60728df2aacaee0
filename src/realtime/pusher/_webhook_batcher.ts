/**
 * Gathers hub events into one webhook batch per app and receiver, and hands
 * each batch to the queue once the batch interval is over.
 *
 * @module
 */
import type { Clock } from "../../clock.ts";
import type { Queue } from "../../queue/queue.ts";
import type { HubEvent } from "../hub.ts";
import type { PusherApp } from "./app.ts";
import { sign } from "./_signature.ts";
import { pusherWebhook, type PusherWebhookEvent } from "./webhooks.ts";

/** One event as Pusher's webhook body lists it. */
export type WebhookEvent = { name: PusherWebhookEvent } & Record<string, unknown>;

/** The Pusher webhook event for a hub event (counts have none). */
export function fromHubEvent(
  event: Exclude<HubEvent, { type: "subscription_count" }>,
): WebhookEvent {
  switch (event.type) {
    case "member_added":
    case "member_removed":
      return { name: event.type, channel: event.channel, user_id: event.member.id };
    default:
      return { name: event.type, channel: event.channel };
  }
}

/** Batches events for every app with webhooks. */
export class WebhookBatcher {
  #queue: Queue;
  #clock: Clock;
  #interval: number;
  #onError: (error: unknown, context: string) => void;
  #apps: readonly PusherApp[];
  #pending: WebhookEvent[] = [];
  #timer: unknown = null;
  #inFlight = new Set<Promise<void>>();

  constructor(options: {
    queue: Queue;
    clock: Clock;
    interval: number;
    apps: readonly PusherApp[];
    onError: (error: unknown, context: string) => void;
  }) {
    this.#queue = options.queue;
    this.#clock = options.clock;
    this.#interval = options.interval;
    this.#apps = options.apps.filter((app) => (app.webhooks?.length ?? 0) > 0);
    this.#onError = options.onError;
  }

  /** Whether any app has a webhook. */
  get active(): boolean {
    return this.#apps.length > 0;
  }

  /** Adds an event to the batch; the first of a batch arms its timer (none while idle). */
  add(event: WebhookEvent): void {
    if (!this.active) return;
    this.#pending.push(event);
    this.#timer ??= this.#clock.setTimeout(() => this.flush(), this.#interval, true);
  }

  /** Dispatches what is pending now; settles when the queue has it. */
  flush(): Promise<void> {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    const events = this.#pending;
    this.#pending = [];
    if (events.length === 0) return Promise.all(this.#inFlight).then(() => {});
    const sending = this.#dispatch(events).catch((error) => this.#onError(error, "webhooks"));
    this.#inFlight.add(sending);
    sending.finally(() => this.#inFlight.delete(sending));
    return sending;
  }

  async #dispatch(events: WebhookEvent[]): Promise<void> {
    const time = this.#clock.now();
    for (const app of this.#apps) {
      for (const hook of app.webhooks ?? []) {
        const wanted = hook.events
          ? events.filter((event) => hook.events!.includes(event.name))
          : events;
        if (wanted.length === 0) continue;
        const body = JSON.stringify({ time_ms: time, events: wanted });
        await this.#queue.dispatch(pusherWebhook, {
          url: hook.url,
          key: app.key,
          signature: await sign(app.secret, body),
          body,
        });
      }
    }
  }
}
