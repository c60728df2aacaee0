import assert from "node:assert/strict";
import calculateSlot from "cluster-key-slot";
import { slotOfTag } from "../../src/redis/_slot.ts";

Deno.test("slotOfTag() is the cluster's slot: the spec's test vector, and cluster-key-slot's answer for any tag", () => {
  // Redis Cluster specification: CRC16 of "123456789" is 0x31C3.
  assert.equal(slotOfTag("123456789"), 0x31c3 % 16_384);
  const tags = ["reports#0", "mail", "é", "日本語", "emoji 🙂", "a#12.345"];
  for (let i = 0; i < 500; i++) tags.push(crypto.randomUUID().slice(0, 1 + (i % 30)));
  for (const tag of tags) {
    assert.equal(slotOfTag(tag), calculateSlot(`kiln:{${tag}}:ready`), tag);
  }
});
