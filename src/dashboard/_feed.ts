/**
 * What `GET /api/events` streams, read once for every listener: one overview
 * read per interval and one `queue.events()` subscription, while at least one
 * page listens and not at all otherwise (Redis over HTTP bills per command,
 * and ten open tabs must not cost ten times as much).
 *
 * @module
 */
import { Backoff } from "../_backoff.ts";
import { readOverview } from "./_overview.ts";
import type { DashboardParts } from "./_state.ts";

/** One message for the listeners: an SSE event name and its JSON data. */
export interface FeedMessage {
  /** `snapshot`, `job` or `error`. */
  event: string;
  /** JSON text. */
  data: string;
}

type Listener = (message: FeedMessage) => void;

/** The shared source of live updates. */
export class Feed {
  #parts: DashboardParts;
  #interval: number;
  #listeners = new Set<Listener>();
  #timer: unknown = null;
  #events: AbortController | null = null;
  #last: FeedMessage | null = null;
  /** Whether the last overview read failed. */
  #outage = false;
  /** Bumped on every start and stop, so a read that outlives its run schedules nothing. */
  #generation = 0;

  constructor(parts: DashboardParts, interval: number) {
    this.#parts = parts;
    this.#interval = interval;
  }

  /** How many listen now. */
  get size(): number {
    return this.#listeners.size;
  }

  /**
   * Adds a listener; it gets the latest snapshot at once when there is one.
   *
   * @returns A function that removes it.
   */
  listen(listener: Listener): () => void {
    this.#listeners.add(listener);
    if (this.#last !== null) listener(this.#last);
    if (this.#listeners.size === 1) this.#start();
    return () => {
      if (!this.#listeners.delete(listener) || this.#listeners.size > 0) return;
      this.#stop();
    };
  }

  #start(): void {
    void this.#tick(++this.#generation);
    this.#listen();
  }

  /** (Re)opens the `queue.events()` subscription, closing the one before. */
  #listen(): void {
    this.#events?.abort();
    const controller = new AbortController();
    this.#events = controller;
    void this.#follow(controller.signal);
  }

  /**
   * Forwards `queue.events()` until the last listener leaves. When the stream
   * fails or ends (Redis or the gateway went away), it says so and listens
   * again after a back-off, which also picks up queues created since.
   */
  async #follow(signal: AbortSignal): Promise<void> {
    const retry = new Backoff({ initial: 1_000, max: 30_000, jitter: "equal" });
    while (!signal.aborted) {
      try {
        for await (const event of this.#parts.queue.events({ signal })) {
          if (signal.aborted) return;
          retry.reset();
          this.#send({ event: "job", data: JSON.stringify(event) });
        }
      } catch (error) {
        if (!signal.aborted) this.#send(errorMessage(error));
      }
      await this.#wait(retry.next(), signal);
    }
  }

  #wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = this.#parts.clock.setTimeout(() => {
        signal.removeEventListener("abort", stop);
        resolve();
      }, ms);
      const stop = () => {
        this.#parts.clock.clearTimeout(timer);
        resolve();
      };
      signal.addEventListener("abort", stop, { once: true });
    });
  }

  #stop(): void {
    this.#generation++;
    if (this.#timer !== null) this.#parts.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#events?.abort();
    this.#events = null;
    this.#last = null;
    this.#outage = false;
  }

  async #tick(generation: number): Promise<void> {
    this.#timer = null;
    let message: FeedMessage;
    try {
      message = { event: "snapshot", data: JSON.stringify(await readOverview(this.#parts)) };
    } catch (error) {
      message = errorMessage(error);
    }
    if (generation !== this.#generation) return;
    if (message.event === "snapshot") {
      // Back from an outage: a subscription that lived through it may be dead without
      // saying so (an SSE stream cut by a gateway crash), so listen afresh.
      if (this.#outage) this.#listen();
      this.#outage = false;
      this.#last = message;
    } else {
      this.#outage = true;
    }
    this.#send(message);
    this.#timer = this.#parts.clock.setTimeout(
      () => void this.#tick(generation),
      this.#interval,
    );
  }

  #send(message: FeedMessage): void {
    for (const listener of this.#listeners) listener(message);
  }
}

function errorMessage(error: unknown): FeedMessage {
  const code = (error as { code?: unknown })?.code;
  return {
    event: "error",
    data: JSON.stringify({
      error: error instanceof Error ? error.message : String(error),
      ...(typeof code === "string" ? { code } : {}),
    }),
  };
}
