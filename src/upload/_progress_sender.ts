import type { ProgressHub } from "./progress_broadcast.ts";

/** One event waiting to be broadcast. */
export interface OutgoingEvent {
  channel: string;
  event: string;
  data: unknown;
  /** A newer progress event may replace this one while it waits. */
  coalesce: boolean;
  onError(error: unknown): void;
}

/**
 * Broadcasts each upload's events in order, one at a time, off the byte path:
 * `send()` never waits for the hub. While a broadcast is in flight, only the
 * newest waiting progress event is kept (completion events are never dropped),
 * so a slow hub costs a few objects per upload, never a backlog.
 */
export class ProgressSender {
  #hub: ProgressHub;
  #lanes = new Map<string, OutgoingEvent[]>();

  constructor(hub: ProgressHub) {
    this.#hub = hub;
  }

  /** Queues an event for one upload and starts sending if nothing is in flight. */
  send(id: string, message: OutgoingEvent): void {
    const waiting = this.#lanes.get(id);
    if (waiting === undefined) {
      this.#lanes.set(id, []);
      void this.#drain(id, message);
      return;
    }
    const last = waiting.at(-1);
    if (message.coalesce && last?.coalesce) waiting[waiting.length - 1] = message;
    else waiting.push(message);
  }

  async #drain(id: string, first: OutgoingEvent): Promise<void> {
    const waiting = this.#lanes.get(id)!;
    for (let message: OutgoingEvent | undefined = first; message; message = waiting.shift()) {
      try {
        // Yield first, so even a hub that blocks synchronously runs after the chunk is handled.
        await null;
        await this.#hub.broadcast(message.channel, message.event, message.data);
      } catch (error) {
        try {
          message.onError(error);
        } catch {
          // A throwing error reporter must not stop the lane (or leave it stuck).
        }
      }
    }
    this.#lanes.delete(id);
  }
}
