/**
 * What the realtime page shows: the channels with subscribers and how many
 * each has on every instance (the hub's `channels()`, counted across instances
 * behind a `RedisFanout`), presence members (from the hub's presence store, so
 * members on other instances count too), and this instance's live
 * connections, which the dashboard counts with connection middleware.
 *
 * @module
 */
import type { Connection, ConnectionMiddleware, PresenceMember } from "../realtime/mod.ts";

/** The hub the dashboard watches: a `Hub` of `@kiln/core/realtime`. */
export interface DashboardHub {
  /** Adds connection middleware. */
  use(middleware: ConnectionMiddleware): unknown;
  /** A presence channel's members. */
  members(channel: string): Promise<PresenceMember[]>;
  /** Subscribers per channel with some, on every instance. */
  channels(): Promise<Map<string, number>>;
}

/** One channel as the dashboard lists it. */
export interface ChannelSummary {
  /** The channel's name. */
  name: string;
  /** Connections subscribed to it, on every instance of the hub. */
  subscribers: number;
  /** Its members, for a presence channel. */
  members?: PresenceMember[];
}

/**
 * The most channels listed, busiest first: each presence channel listed costs
 * a read of its members, and clients choose how many channels exist.
 */
export const MAX_LISTED_CHANNELS = 200;

/** The channels listed, and how many more there are. */
export interface ChannelList {
  /** The busiest channels, at most {@linkcode MAX_LISTED_CHANNELS}. */
  channels: ChannelSummary[];
  /** Channels with subscribers that are not listed. */
  unlisted: number;
}

/** Reads the hub's channels and keeps count of this instance's live connections. */
export class RealtimeActivity {
  #hub: DashboardHub;
  #connections = new Set<Connection>();

  constructor(hub: DashboardHub) {
    this.#hub = hub;
    hub.use({
      onConnect: (connection) => {
        this.#connections.add(connection);
      },
      onClose: (connection) => {
        this.#connections.delete(connection);
      },
    });
  }

  /** Live connections on this instance. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Channels with subscribers on any instance, busiest first; presence channels with their members. */
  async channels(): Promise<ChannelList> {
    const counts = await this.#hub.channels();
    const names = [...counts.keys()].sort((a, b) =>
      counts.get(b)! - counts.get(a)! || a.localeCompare(b)
    );
    const listed = names.slice(0, MAX_LISTED_CHANNELS);
    const channels = await Promise.all(listed.map(async (name) => {
      const summary: ChannelSummary = { name, subscribers: counts.get(name)! };
      if (name.startsWith("presence-")) summary.members = await this.#hub.members(name);
      return summary;
    }));
    return { channels, unlisted: names.length - listed.length };
  }
}
