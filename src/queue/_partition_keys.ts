/**
 * Where a partitioned queue's jobs go (`QueueOptions.partitions`): the
 * partition of a job id or unique key, the partitions' names (their hash
 * tags, spread over the cluster's slot ranges), and the option's checks.
 *
 * @module
 */
import { Keyspace } from "../redis/keys.ts";
import { slotOfTag, SLOTS } from "../redis/_slot.ts";

/** The most partitions one queue may have. */
export const MAX_PARTITIONS = 256;

/**
 * The partition a job id or unique key belongs to: FNV-1a (32 bits) of its
 * UTF-8 bytes, modulo the count. Stable across processes, runtimes and
 * releases: changing it would strand every job of a partitioned queue.
 */
export function partitionOf(key: string, count: number): number {
  // The UTF-8 bytes are made on the fly (a lone surrogate as U+FFFD, as
  // TextEncoder does): this runs for every job a worker reports, so no buffer.
  let hash = 0x811c9dc5;
  const add = (byte: number) => {
    hash = Math.imul(hash ^ byte, 0x01000193);
  };
  for (let i = 0; i < key.length; i++) {
    let code = key.charCodeAt(i);
    if (code < 0x80) {
      add(code);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const low = key.charCodeAt(i + 1);
      if (code <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else {
        code = 0xfffd;
      }
    }
    if (code < 0x800) {
      add(0xc0 | (code >> 6));
    } else if (code < 0x10000) {
      add(0xe0 | (code >> 12));
      add(0x80 | ((code >> 6) & 0x3f));
    } else {
      add(0xf0 | (code >> 18));
      add(0x80 | ((code >> 12) & 0x3f));
      add(0x80 | ((code >> 6) & 0x3f));
    }
    add(0x80 | (code & 0x3f));
  }
  return (hash >>> 0) % count;
}

const names = new Map<string, string>();

/**
 * The name the backend underneath knows partition `index` of `count` of
 * `queue` by, and so the hash tag of its keys: `<queue>#<index>`, or
 * `<queue>#<index>.<salt>` with the smallest salt that puts the tag's slot in
 * the index-th of `count` equal slot ranges. A cluster created with even
 * slot ranges per master (`redis-cli --cluster create`, managed services)
 * then gets the partitions spread over its masters as evenly as the count
 * allows; plain `<queue>#<k>` tags would land where CRC16 throws them (six
 * partitions of "reports": four on one of three masters).
 */
export function partitionName(queue: string, index: number, count: number): string {
  const cached = `${count}\0${index}\0${queue}`;
  let name = names.get(cached);
  if (name === undefined) {
    const low = Math.floor((index * SLOTS) / count);
    const high = Math.floor(((index + 1) * SLOTS) / count);
    name = `${queue}#${index}`;
    for (let salt = 1; !inRange(slotOfTag(name), low, high); salt++) {
      name = `${queue}#${index}.${salt}`;
    }
    if (names.size > 10_000) names.clear(); // a few per partitioned queue: never in practice
    names.set(cached, name);
  }
  return name;
}

function inRange(slot: number, low: number, high: number): boolean {
  return slot >= low && slot < high;
}

/** Splits a partition's name into its queue and index, or `null` for another name. */
export function parsePartition(name: string): { queue: string; index: number } | null {
  const match = /^(.+)#(0|[1-9][0-9]*)(?:\.[1-9][0-9]*)?$/s.exec(name);
  return match === null ? null : { queue: match[1], index: Number(match[2]) };
}

/**
 * Checks `QueueOptions.partitions`: queue names a Redis key can carry, counts
 * from 1 to {@linkcode MAX_PARTITIONS}, and no declared name that is another
 * declared queue's partition.
 */
export function checkPartitions(option: unknown): ReadonlyMap<string, number> {
  if (option === undefined) return new Map();
  if (option === null || typeof option !== "object" || Array.isArray(option)) {
    throw new TypeError("partitions must map queue names to partition counts");
  }
  const counts = new Map<string, number>();
  for (const [queue, count] of Object.entries(option)) {
    new Keyspace(queue); // throws the TypeError a Redis key would
    if (!Number.isInteger(count) || count < 1 || count > MAX_PARTITIONS) {
      throw new RangeError(
        `partitions of queue "${queue}" must be an integer from 1 to ${MAX_PARTITIONS}, got ${count}`,
      );
    }
    counts.set(queue, count);
  }
  for (const queue of counts.keys()) {
    const owner = parsePartition(queue);
    if (owner !== null && owner.index < (counts.get(owner.queue) ?? 1)) {
      throw new TypeError(
        `Queue "${queue}" is a partition's name of the partitioned queue "${owner.queue}"`,
      );
    }
  }
  return counts;
}
