/**
 * What the realtime page shows: this instance's channels with their
 * subscriber counts, and presence members (from the hub's presence store, so
 * members on other instances count too). The hub has no list of channels, so
 * the dashboard adds connection middleware that keeps the live connections.
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
}

/** One channel as the dashboard lists it. */
export interface ChannelSummary {
  /** The channel's name. */
  name: string;
  /** Connections on this instance subscribed to it. */
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

/** Keeps the hub's live connections to count subscribers per channel. */
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

  /** Channels with subscribers, busiest first; presence channels with their members. */
  async channels(): Promise<ChannelList> {
    const counts = new Map<string, number>();
    for (const connection of this.#connections) {
      for (const channel of connection.channels) {
        counts.set(channel, (counts.get(channel) ?? 0) + 1);
      }
    }
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
