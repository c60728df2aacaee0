/**
 * Hash tags as Redis Cluster reads them (https://redis.io/docs/reference/cluster-spec/):
 * only the first `{` up to the first `}` after it counts, and an empty tag `{}` means the
 * whole key is hashed, so a hostile key cannot pick another key's slot with odd braces.
 */

import assert from "node:assert/strict";
import { slotOfKey } from "../../scripts/_gateway/cluster_slot_map.ts";

Deno.test("hash tags follow the cluster spec, including empty and nested braces", () => {
  assert.equal(slotOfKey("{user1000}.following"), slotOfKey("user1000"));
  assert.equal(slotOfKey("foo{bar}{zap}"), slotOfKey("bar"));
  assert.equal(slotOfKey("foo{{bar}}zap"), slotOfKey("{bar"));
  // `{}` is no tag: the whole key is hashed, not the empty string, nor the later `{bar}`.
  assert.notEqual(slotOfKey("foo{}{bar}"), slotOfKey("bar"));
  assert.notEqual(slotOfKey("foo{}{bar}"), slotOfKey(""));
  assert.equal(slotOfKey("{}"), 15257); // CRC16("{}") mod 16384, as CLUSTER KEYSLOT answers
  assert.equal(slotOfKey("123456789"), 12739); // the spec's CRC16 check value 0x31C3
  // Multi-byte keys hash their UTF-8 bytes, as Redis sees them.
  assert.equal(slotOfKey("{é}a"), slotOfKey("é"));
});
