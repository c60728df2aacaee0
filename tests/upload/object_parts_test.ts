/**
 * How an object store sends parts: the next part's bytes gather while the
 * previous part is in flight, never more than one in flight per upload; and
 * a part that fails leaves the upload as the last request that succeeded
 * left it, so the client resumes from there and loses nothing.
 */
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { bytes, collect, patchHeaders, tus } from "./_serve.ts";
import { type R2Simulator, startR2Simulator } from "./_r2_simulator.ts";
import { PART, serveUploads, sha256 } from "./_object_store_helpers.ts";
import { ObjectStore } from "../../src/upload/object_store.ts";
import type { ObjectBucket, PartTarget } from "../../src/upload/object_bucket.ts";
import { S3Bucket } from "../../src/upload/s3/_s3_bucket.ts";
import { UploadError } from "../../src/upload/errors.ts";

/** The simulator's bucket, with `uploadPart` passed through `wrap`. */
function storeWith(
  bucket: R2Simulator,
  wrap: (send: () => Promise<string>, target: PartTarget) => Promise<string>,
): ObjectStore {
  const client = new AwsClient({
    accessKeyId: bucket.accessKeyId,
    secretAccessKey: bucket.secretAccessKey,
    service: "s3",
    region: "auto",
    retries: 0,
  });
  const inner = new S3Bucket(client, bucket.s3Endpoint);
  const wrapped = new Proxy(inner, {
    get(target, name) {
      if (name === "uploadPart") {
        return (part: PartTarget, body: Uint8Array) =>
          wrap(() => target.uploadPart(part, body), part);
      }
      const value = Reflect.get(target, name);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as ObjectBucket;
  return new ObjectStore(wrapped, { partSize: PART });
}

/** Whether `promise` is still pending after the event loop had a turn. */
async function pending(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol();
  const settled = await Promise.race([
    promise.then(() => null, () => null),
    new Promise((resolve) => setTimeout(() => resolve(marker), 50)),
  ]);
  return settled === marker;
}

Deno.test("the next part's bytes gather while a part is in flight, and a third part waits for the first", async () => {
  await using bucket = await startR2Simulator();
  const gates: (() => void)[] = [];
  let inFlight = 0;
  let most = 0;
  const store = storeWith(bucket, async (send) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise<void>((open) => gates.push(open));
    try {
      return await send();
    } finally {
      inFlight--;
    }
  });
  const data = bytes(2 * PART + 777, 5);
  const upload = await store.startChunkedUpload("overlap.bin");
  // Part 1 is full and leaves; the call returns without waiting for it.
  assert.equal(await pending(upload.append(data.subarray(0, PART))), false);
  assert.equal(gates.length, 1);
  // Half of part 2 gathers meanwhile.
  assert.equal(await pending(upload.append(data.subarray(PART, PART + PART / 2))), false);
  // Filling part 2 waits for part 1: never two parts in flight.
  const filling = upload.append(data.subarray(PART + PART / 2, 2 * PART));
  assert.equal(await pending(filling), true);
  assert.equal(gates.length, 1);
  gates.shift()!();
  await filling;
  assert.equal(gates.length, 1, "part 2 left once part 1 was answered");
  assert.equal(upload.offset, 2 * PART);
  await upload.append(data.subarray(2 * PART));
  gates.shift()!();
  const finished = upload.finalize();
  const waiting = (): number => gates.length;
  while (waiting() === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  gates.shift()!(); // the last part
  assert.deepEqual(await finished, { path: "overlap.bin", size: data.byteLength });
  assert.equal(most, 1);
  assert.equal(await sha256(await collect(await store.read("overlap.bin"))), await sha256(data));
});

Deno.test("a part that fails mid-PATCH is answered 503 and leaves the upload where it was; the client resumes and the bytes match", async () => {
  await using bucket = await startR2Simulator();
  let failNext = false;
  const store = storeWith(bucket, (send, target) => {
    if (failNext && target.number === 3) {
      failNext = false;
      return Promise.reject(
        new UploadError("UPLOAD_STORE_UNAVAILABLE", "PUT part 3: the store answered 503"),
      );
    }
    return send();
  });
  await using server = await serveUploads({ store, maxSize: 1 << 30 });
  const data = bytes(4 * PART + 12_345, 6);
  const created = await fetch(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": String(data.byteLength) }),
  });
  const url = created.headers.get("Location")!;
  const first = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: data.subarray(0, PART + 1000),
  });
  assert.equal(first.status, 204);
  // Parts 2 and 3 go out in this PATCH; part 3 fails while part 4's bytes arrive.
  failNext = true;
  const failed = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(PART + 1000),
    body: data.subarray(PART + 1000),
  });
  assert.equal(failed.status, 503);
  assert.equal(failed.headers.get("Tus-Resumable"), "1.0.0");
  await failed.body?.cancel();
  const head = await fetch(url, { method: "HEAD", headers: tus() });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("Upload-Offset"), String(PART + 1000));
  const resumed = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(PART + 1000),
    body: data.subarray(PART + 1000),
  });
  assert.equal(resumed.status, 204);
  const id = url.split("/").pop()!;
  assert.equal(await sha256(await collect(await store.read(id))), await sha256(data));
});
