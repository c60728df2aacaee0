/**
 * The Redis Cluster hash slot of a hash tag: CRC16 (XMODEM: polynomial
 * 0x1021, initial value 0) of its UTF-8 bytes, modulo 16,384, as the cluster
 * specification defines it. Eight lines of the spec's reference rather than a
 * runtime dependency for `@kiln/core`; tests/redis/slot_test.ts checks it
 * against `cluster-key-slot`, the implementation node-redis and ioredis use.
 *
 * @module
 */

/** How many hash slots a Redis Cluster has. */
export const SLOTS = 16_384;

/** The slot of every key whose hash tag is `tag` (`kiln:{<tag>}:…`); `tag` is not empty. */
export function slotOfTag(tag: string): number {
  let crc = 0;
  for (const byte of new TextEncoder().encode(tag)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % SLOTS;
}
