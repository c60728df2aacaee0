/**
 * Which master serves each of a Redis Cluster's 16384 hash slots, read from
 * `CLUSTER SLOTS`, and the slot of a key (CRC16 of the key or its `{hash tag}`, by
 * `cluster-key-slot`, the implementation node-redis and ioredis use).
 *
 * @module
 */

import calculateSlot from "cluster-key-slot";
import type { RespValue } from "./redis_reply.ts";

/** How many hash slots a Redis Cluster has. */
export const SLOT_COUNT = 16_384;

/** A master, as `host:port`. */
export type NodeAddress = string;

const text = new TextDecoder();
const str = (value: RespValue) => value instanceof Uint8Array ? text.decode(value) : String(value);

/**
 * @param key a key as the request spelled it
 * @returns its hash slot
 */
export function slotOfKey(key: string): number {
  return calculateSlot(key);
}

/** The slot → master table. */
export class SlotMap {
  readonly #owners: Array<NodeAddress | undefined> = new Array(SLOT_COUNT);
  #masters: NodeAddress[] = [];
  #next = 0;

  /**
   * Replaces the table with a `CLUSTER SLOTS` reply.
   *
   * @param reply the reply
   * @param askedHost the host of the node that answered, for entries with an empty host
   * @throws {TypeError} when the reply is not a slot table
   */
  load(reply: RespValue, askedHost: string): void {
    if (!Array.isArray(reply)) throw new TypeError("CLUSTER SLOTS did not answer a table");
    this.#owners.fill(undefined);
    const masters = new Set<NodeAddress>();
    for (const range of reply) {
      if (!Array.isArray(range) || range.length < 3 || !Array.isArray(range[2])) continue;
      const [host, port] = range[2];
      const name = str(host);
      const address = `${name === "" || name === "?" ? askedHost : name}:${Number(port)}`;
      masters.add(address);
      this.#owners.fill(address, Number(range[0]), Number(range[1]) + 1);
    }
    this.#masters = [...masters];
  }

  /** @returns the master serving `slot`, if the table knows one */
  ownerOf(slot: number): NodeAddress | undefined {
    return this.#owners[slot];
  }

  /** Records a MOVED redirection until the next full reload. */
  move(slot: number, address: NodeAddress): void {
    this.#owners[slot] = address;
    if (!this.#masters.includes(address)) this.#masters.push(address);
  }

  /** Every master, as of the last load. */
  get masters(): readonly NodeAddress[] {
    return this.#masters;
  }

  /** @returns a master for a command without keys, taking turns */
  anyMaster(): NodeAddress | undefined {
    if (this.#masters.length === 0) return undefined;
    this.#next = (this.#next + 1) % this.#masters.length;
    return this.#masters[this.#next];
  }
}

/**
 * @param message an error reply's text
 * @returns the redirection it asks for, if it is `MOVED <slot> <host:port>` or
 *   `ASK <slot> <host:port>`
 */
export function redirectionOf(
  message: string,
): { kind: "MOVED" | "ASK"; slot: number; address: NodeAddress } | undefined {
  const match = /^(MOVED|ASK) (\d+) (\S+)$/.exec(message);
  if (match === null) return undefined;
  return { kind: match[1] as "MOVED" | "ASK", slot: Number(match[2]), address: match[3] };
}
