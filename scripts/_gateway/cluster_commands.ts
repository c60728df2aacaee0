/**
 * What the gateway needs to know about each command to route it in a Redis Cluster, read
 * from the cluster's own `COMMAND` reply: where its first key is, and whether Redis says
 * it runs on every shard (`request_policy:all_shards`/`all_nodes`, e.g. SCRIPT LOAD,
 * FLUSHDB, DBSIZE, KEYS) and how the shards' replies combine (`response_policy`).
 *
 * @module
 */

import type { CommandArgs } from "./redis_reply.ts";
import type { RespValue } from "./redis_reply.ts";

/** How one command is routed. */
export interface CommandRoute {
  /** Argument index of the first key; 0 when the command has none at a fixed place. */
  firstKey: number;
  /** Keys whose place depends on the arguments (`movablekeys`). */
  movableKeys: boolean;
  /** Runs on every master, its replies combined by {@linkcode CommandRoute.combine}. */
  allShards: boolean;
  /** Redis's `response_policy` tip, e.g. `agg_sum`; empty when it has none. */
  combine: string;
}

/** Commands whose keys follow a `numkeys` argument at index 2 (scripts and functions). */
const NUMKEYS_AT_2 = new Set([
  "EVAL",
  "EVALSHA",
  "EVAL_RO",
  "EVALSHA_RO",
  "FCALL",
  "FCALL_RO",
]);

/**
 * PUBLISH has no key, but routing it by its channel sends every message of a channel
 * through one master, the one its subscribers are on (see `subscriber()`): messages
 * relayed between masters over the cluster bus from several publishers' nodes would
 * arrive in no set order.
 */
const CHANNEL_AT_1 = new Set(["PUBLISH"]);

const text = new TextDecoder();
const str = (value: RespValue) => value instanceof Uint8Array ? text.decode(value) : String(value);

/** Every command's route, by `NAME` and, for subcommands, `NAME|SUB`. */
export class CommandRoutes {
  readonly #routes = new Map<string, CommandRoute>();
  readonly #containers = new Set<string>();

  /** @param commandReply the cluster's reply to `COMMAND` */
  constructor(commandReply: RespValue) {
    const add = (raw: RespValue) => {
      if (!Array.isArray(raw) || raw.length < 6) return;
      const name = str(raw[0]).toUpperCase();
      const flags = Array.isArray(raw[2]) ? raw[2].map(str) : [];
      const tips = Array.isArray(raw[7]) ? raw[7].map(str) : [];
      const request = tips.find((t) => t.startsWith("request_policy:"))?.slice(15) ?? "";
      this.#routes.set(name, {
        firstKey: Number(raw[3]) || 0,
        movableKeys: flags.includes("movablekeys"),
        allShards: request === "all_shards" || request === "all_nodes",
        combine: tips.find((t) => t.startsWith("response_policy:"))?.slice(16) ?? "",
      });
      if (Array.isArray(raw[9]) && raw[9].length > 0) {
        this.#containers.add(name);
        for (const sub of raw[9]) add(sub);
      }
    };
    if (Array.isArray(commandReply)) { for (const raw of commandReply) add(raw); }
  }

  /** @returns the route of `command`, or `undefined` for a command Redis does not know */
  routeOf(command: CommandArgs): CommandRoute | undefined {
    const name = String(command[0]).toUpperCase();
    if (this.#containers.has(name) && command.length > 1) {
      return this.#routes.get(`${name}|${String(command[1]).toUpperCase()}`) ??
        this.#routes.get(name);
    }
    return this.#routes.get(name);
  }

  /**
   * @returns the first key of `command` when it can be found without asking Redis,
   *   `null` when the command has no key, `undefined` when only Redis can tell
   *   (`COMMAND GETKEYS`)
   */
  firstKey(command: CommandArgs): string | null | undefined {
    const route = this.routeOf(command);
    if (route === undefined) return null;
    if (CHANNEL_AT_1.has(String(command[0]).toUpperCase())) {
      return command.length > 1 ? String(command[1]) : null;
    }
    if (route.firstKey > 0) {
      return command.length > route.firstKey ? String(command[route.firstKey]) : null;
    }
    if (!route.movableKeys) return null;
    const name = String(command[0]).toUpperCase();
    if (NUMKEYS_AT_2.has(name)) {
      return Number(command[2]) > 0 && command.length > 3 ? String(command[3]) : null;
    }
    return undefined;
  }
}
