/**
 * The info object is read from the bucket once per locked request (each
 * read is a billed round trip), and never trusted from memory once the lock
 * is gone: another server may have written the upload since.
 */
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { collect, patchHeaders, tus } from "./_serve.ts";
import { startR2Simulator } from "./_r2_simulator.ts";
import { PART, serveUploads } from "./_object_store_helpers.ts";
import { ObjectStore } from "../../src/upload/object_store.ts";
import type { ObjectBucket } from "../../src/upload/object_bucket.ts";
import { S3Bucket } from "../../src/upload/s3/_s3_bucket.ts";
import type { R2Simulator } from "./_r2_simulator.ts";

/** An S3 bucket that counts the calls made through it, by operation and key suffix. */
function countingStore(bucket: R2Simulator) {
  const client = new AwsClient({
    accessKeyId: bucket.accessKeyId,
    secretAccessKey: bucket.secretAccessKey,
    service: "s3",
    region: "auto",
    retries: 0,
  });
  const inner = new S3Bucket(client, bucket.s3Endpoint);
  const calls: string[] = [];
  const counted = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const key = typeof args[0] === "string" ? args[0] : "";
        calls.push(`${String(name)}${key.endsWith(".info") ? " info" : ""}`);
        return value.apply(target, args);
      };
    },
  }) as ObjectBucket;
  return { store: new ObjectStore(counted, { partSize: PART }), calls };
}

async function patch(
  url: string,
  offset: number,
  body: Uint8Array<ArrayBuffer>,
): Promise<Response> {
  const response = await fetch(url, { method: "PATCH", headers: patchHeaders(offset), body });
  await response.body?.cancel();
  return response;
}

Deno.test("a PATCH of a whole part reads the info object once, and every read after the lock goes asks the bucket", async () => {
  await using bucket = await startR2Simulator();
  const a = countingStore(bucket);
  const b = countingStore(bucket);
  await using serverA = await serveUploads({ store: a.store, maxSize: 1 << 30 });
  await using serverB = await serveUploads({ store: b.store, maxSize: 1 << 30 });
  const created = await fetch(serverA.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": String(3 * PART) }),
  });
  const id = created.headers.get("Location")!.split("/").pop()!;
  const urlA = `${serverA.endpoint}/${id}`;
  const urlB = `${serverB.endpoint}/${id}`;

  a.calls.length = 0;
  assert.equal((await patch(urlA, 0, new Uint8Array(PART).fill(1))).status, 204);
  // The record, the resume, the release and the save all read it; only the first asks.
  assert.equal(a.calls.filter((call) => call === "get info").length, 1, a.calls.join(", "));
  assert.equal(a.calls.filter((call) => call === "put info").length, 2, a.calls.join(", "));

  // Server B writes the next part; A's next PATCH must see it, not what A last wrote.
  assert.equal((await patch(urlB, PART, new Uint8Array(PART).fill(2))).status, 204);
  const stale = await patch(urlA, PART, new Uint8Array(PART).fill(3));
  assert.equal(stale.status, 409);
  assert.equal(stale.headers.get("Upload-Offset"), String(2 * PART));
  const head = await fetch(urlA, { method: "HEAD", headers: tus() });
  assert.equal(head.headers.get("Upload-Offset"), String(2 * PART));
  assert.equal((await patch(urlA, 2 * PART, new Uint8Array(PART).fill(4))).status, 204);
  const stored = await collect(await a.store.read(id));
  assert.deepEqual([stored[0], stored[PART], stored[2 * PART]], [1, 2, 4]);
  assert.equal(stored.byteLength, 3 * PART);
});
