/**
 * A bare WebSocket speaking Pusher's frames by hand, for what no well-behaved
 * client sends: forged signatures, other users' channel data, floods.
 *
 * @module
 */
import { within } from "../_support/ws_client.ts";
import { APP, type PusherTestServer } from "./_server.ts";

/** One decoded Pusher frame, `data` parsed when it is JSON text. */
export interface Frame {
  event: string;
  channel?: string;
  data: unknown;
  user_id?: string;
}

/** A raw Pusher connection that records every frame. */
export class RawPusher implements AsyncDisposable {
  readonly socket: WebSocket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<CloseEvent>;
  #waiters: Array<() => void> = [];

  constructor(
    server: PusherTestServer,
    query = "protocol=7&client=js&version=8.6.0",
    key: string = APP.key,
  ) {
    this.socket = new WebSocket(`ws://${server.host}:${server.port}/app/${key}?${query}`);
    this.closed = new Promise((resolve) => {
      this.socket.onclose = (event) => {
        resolve(event);
        this.#wake();
      };
    });
    this.socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      try {
        frame.data = JSON.parse(frame.data);
      } catch { /* a plain string */ }
      this.frames.push(frame);
      this.#wake();
    };
  }

  /** Connects and resolves the socket id from `pusher:connection_established`. */
  static async connect(server: PusherTestServer): Promise<{ raw: RawPusher; socketId: string }> {
    const raw = new RawPusher(server);
    const established = await raw.next("pusher:connection_established");
    return { raw, socketId: (established.data as { socket_id: string }).socket_id };
  }

  send(event: string, data: unknown, channel?: string): void {
    this.socket.send(JSON.stringify({ event, data, ...(channel ? { channel } : {}) }));
  }

  /** The first frame not yet taken with this event (and channel), waiting up to 5 s. */
  async next(event: string, channel?: string): Promise<Frame> {
    const find = () =>
      this.frames.findIndex((frame) =>
        frame.event === event && (channel === undefined || frame.channel === channel)
      );
    return await within(
      (async () => {
        for (;;) {
          const index = find();
          if (index >= 0) return this.frames.splice(index, 1)[0];
          if (this.socket.readyState === WebSocket.CLOSED) {
            throw new Error(`Closed while waiting for ${event}: ${JSON.stringify(this.frames)}`);
          }
          await new Promise<void>((resolve) => this.#waiters.push(resolve));
        }
      })(),
      5_000,
      () => `${event}; got ${JSON.stringify(this.frames)}`,
    );
  }

  /** Pings and waits for the pong: everything sent before has been handled. */
  async roundTrip(): Promise<void> {
    this.send("pusher:ping", {});
    await this.next("pusher:pong");
  }

  async close(): Promise<void> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close(1000);
    await this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
