import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { fromBase64, toBase64, utf8ToBase64 } from "../../src/upload/_base64.ts";

Deno.test("toBase64() and fromBase64() agree with Node's Buffer, past one 32 KiB slice", () => {
  for (const size of [0, 1, 2, 3, 0x8000, 0x8001, 100_000]) {
    const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 7919) & 0xff);
    const text = toBase64(bytes);
    assert.equal(text, Buffer.from(bytes).toString("base64"), `${size} bytes`);
    assert.deepEqual(fromBase64(text), bytes);
  }
});

Deno.test("utf8ToBase64() encodes the UTF-8 bytes, not UTF-16 code units", () => {
  assert.equal(utf8ToBase64("naïve 🚀"), Buffer.from("naïve 🚀", "utf8").toString("base64"));
});

Deno.test("fromBase64() throws on text that is not base64", () => {
  assert.throws(() => fromBase64("not base64!"));
});
