/**
 * The tus concatenation extension on every store Kiln ships: tus-js-client's
 * `parallelUploads` (unmodified) sends partial uploads and joins them with a
 * final one; the joined bytes' SHA-256 matches. On S3 the final upload is
 * assembled in the bucket, with partials both below the 5 MiB part minimum
 * and spanning several parts.
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/upload/mod.ts";
import { FileStore } from "../../src/upload/file_store.ts";
import type { UploadStore } from "../../src/upload/store_mod.ts";
import type { UploadInfo } from "../../src/upload/mod.ts";
import { bytes, patchHeaders, png, tus } from "./_serve.ts";
import { startR2Simulator } from "./_r2_simulator.ts";
import {
  bucketReader,
  PART,
  runTusClient,
  s3Store,
  serveUploads,
  sha256,
} from "./_object_store_helpers.ts";
import { collect } from "./_serve.ts";

async function joinedWithParallelUploads(store: UploadStore, data: Uint8Array<ArrayBuffer>) {
  const completed: UploadInfo[] = [];
  await using server = await serveUploads({
    store,
    maxSize: 1 << 30,
    onComplete: (upload) => void completed.push(upload),
  });
  const options = await fetch(server.endpoint, { method: "OPTIONS" });
  assert.match(options.headers.get("Tus-Extension") ?? "", /(^|,)concatenation(,|$)/);
  const url = await runTusClient(data, { endpoint: server.endpoint, parallelUploads: 3 });
  const id = url.split("/").pop()!;
  assert.equal(await sha256(await collect(await store.read(id))), await sha256(data));
  // Only the final upload is a finished file to the application.
  assert.deepEqual(completed.map((upload) => upload.id), [id]);
  const head = await fetch(url, { method: "HEAD", headers: tus() });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("Upload-Length"), String(data.byteLength));
  assert.equal(head.headers.get("Upload-Offset"), String(data.byteLength));
  const partials = head.headers.get("Upload-Concat")!.replace(/^final;/, "").split(" ");
  assert.equal(partials.length, 3);
  for (const partial of partials) {
    assert.ok(partial.startsWith(`${server.endpoint}/`), partial);
    const partialHead = await fetch(partial, { method: "HEAD", headers: tus() });
    assert.equal(partialHead.headers.get("Upload-Concat"), "partial");
  }
  const patched = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(data.byteLength),
    body: "x",
  });
  assert.equal(patched.status, 403);
  await patched.body?.cancel();
  return id;
}

Deno.test("parallelUploads: 3 joins into a MemoryStore", async () => {
  await joinedWithParallelUploads(new MemoryStore(), bytes(30_001, 2));
});

Deno.test("parallelUploads: 3 joins into a FileStore", async () => {
  const directory = await Deno.makeTempDir({ prefix: "kiln-concat-" });
  try {
    await joinedWithParallelUploads(new FileStore({ directory }), bytes(30_001, 3));
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("parallelUploads: 3 joins in the bucket with S3Store: parts inside one partial are copied by the bucket, parts across partials gathered, a small join is one object", async () => {
  await using bucket = await startR2Simulator();
  // 3 partials of 5.33 MiB: part 1 lies inside the first (UploadPartCopy), parts 2 and 3 span two.
  const large = await joinedWithParallelUploads(s3Store(bucket), bytes(16 << 20, 4));
  // 3 partials of 1 KiB, far below the 5 MiB part minimum: gathered into one object.
  const small = await joinedWithParallelUploads(s3Store(bucket), bytes(3_000, 5));
  const reader = bucketReader(bucket);
  assert.equal((await reader.bytes(large))?.byteLength, 16 << 20);
  assert.equal((await reader.bytes(small))?.byteLength, 3_000);
  assert.ok(16 / 3 * (1 << 20) > PART, "the first partial holds a whole part");
});

Deno.test("a final upload is refused clearly: unfinished or unknown partials, a length of its own, a refused type", async () => {
  const store = new MemoryStore();
  await using server = await serveUploads({
    store,
    maxSize: 1 << 20,
    allowedTypes: ["image/png"],
  });
  const partial = async (body: Uint8Array<ArrayBuffer>, length = body.byteLength) => {
    const created = await fetch(server.endpoint, {
      method: "POST",
      headers: patchHeaders(0, { "Upload-Length": String(length), "Upload-Concat": "partial" }),
      body,
    });
    assert.equal(created.status, 201, await created.text());
    return created.headers.get("Location")!;
  };
  const final = async (urls: string[], headers: Record<string, string> = {}) => {
    const response = await fetch(server.endpoint, {
      method: "POST",
      headers: tus({ "Upload-Concat": `final;${urls.join(" ")}`, ...headers }),
    });
    return { status: response.status, text: await response.text() };
  };
  const image = png(5000);
  // A partial that is not a PNG on its own (it starts mid-file) is still taken.
  const [head, tail] = [await partial(image.slice(0, 10)), await partial(image.slice(10))];
  const unfinished = await partial(new Uint8Array(3), 10);
  assert.match((await final([head, unfinished])).text, /is not finished/);
  assert.match((await final([head, `${server.endpoint}/nope`])).text, /not a partial upload/);
  assert.equal((await final([head, tail], { "Upload-Length": "5000" })).status, 400);
  assert.equal((await final(["::"])).status, 400);
  assert.equal((await final([tail, head])).status, 415, "joined in the wrong order: not a PNG");
  const joined = await final([head, tail]);
  assert.equal(joined.status, 201);
});

Deno.test("a store without concatenate() does not offer the extension and refuses Upload-Concat", async () => {
  const inner = new MemoryStore();
  const store: UploadStore = {
    startChunkedUpload: (path) => inner.startChunkedUpload(path),
    resumeChunkedUpload: (path, offset) => inner.resumeChunkedUpload(path, offset),
    uploadWithProgress: (path, stream) => inner.uploadWithProgress(path, stream),
    stat: (path) => inner.stat(path),
    read: (path) => inner.read(path),
    delete: (path) => inner.delete(path),
  };
  await using server = await serveUploads({ store, maxSize: 1024 });
  const options = await fetch(server.endpoint, { method: "OPTIONS" });
  assert.doesNotMatch(options.headers.get("Tus-Extension") ?? "", /concatenation/);
  const created = await fetch(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "3", "Upload-Concat": "partial" }),
  });
  assert.equal(created.status, 400);
  await created.body?.cancel();
});
