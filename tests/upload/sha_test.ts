import assert from "node:assert/strict";
import { createHasher } from "../../src/upload/_sha.ts";

async function webDigest(
  algorithm: "SHA-1" | "SHA-256",
  bytes: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest(algorithm, bytes));
}

Deno.test("the incremental SHA-1 and SHA-256 match Web Crypto for every split of many lengths", async () => {
  const data = crypto.getRandomValues(new Uint8Array(300));
  for (const [name, web] of [["sha1", "SHA-1"], ["sha256", "SHA-256"]] as const) {
    for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 300]) {
      const bytes = data.slice(0, length);
      const expected = await webDigest(web, bytes);
      for (const split of [1, 7, 64, 1000]) {
        const hasher = createHasher(name)!;
        for (let at = 0; at < length; at += split) hasher.update(bytes.subarray(at, at + split));
        assert.deepEqual(hasher.digest(), expected, `${name} of ${length} bytes in ${split}s`);
      }
    }
  }
});

Deno.test("createHasher() knows only sha1 and sha256", () => {
  assert.equal(createHasher("md5"), null);
  assert.equal(createHasher("SHA1"), null);
});

Deno.test("a buffer reused after update() leaves the digest unchanged, as the PATCH path reuses its buffers", async () => {
  const data = crypto.getRandomValues(new Uint8Array(200));
  for (const [name, web] of [["sha1", "SHA-1"], ["sha256", "SHA-256"]] as const) {
    const hasher = createHasher(name)!;
    const buffer = new Uint8Array(70);
    for (let at = 0; at < data.byteLength; at += 70) {
      const part = data.subarray(at, at + 70);
      buffer.set(part);
      hasher.update(buffer.subarray(0, part.byteLength));
      buffer.fill(0xff); // the next read overwrites it
    }
    assert.deepEqual(hasher.digest(), await webDigest(web, data), name);
  }
});
