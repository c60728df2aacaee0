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

Deno.test("parallelUploads: 3 joins in the bucket with S3Store (partials of 1 KiB, far below the 5 MiB part minimum)", async () => {
  await using bucket = await startR2Simulator();
  const id = await joinedWithParallelUploads(s3Store(bucket), bytes(3_000, 5));
  assert.equal((await bucketReader(bucket).bytes(id))?.byteLength, 3_000);
});

Deno.test("S3Store.concatenate() copies parts that lie inside one source with UploadPartCopy and gathers parts that span sources", async () => {
  await using bucket = await startR2Simulator();
  const store = s3Store(bucket);
  const sources = [bytes(PART + (1 << 20), 1), bytes(1000, 2), bytes(PART + (1 << 20), 3)];
  for (const [index, source] of sources.entries()) {
    await store.uploadWithProgress(`s${index}`, new Blob([source]).stream());
  }
  const copies: string[] = [];
  const fetch = globalThis.fetch;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    // aws4fetch sends a signed Request; reading its headers leaves the body to fetch.
    const headers = input instanceof Request ? input.headers : new Headers(init?.headers);
    const range = headers.get("x-amz-copy-source-range");
    if (range) copies.push(range);
    return fetch(input, init);
  };
  try {
    const joined = await store.concatenate("joined", ["s0", "s1", "s2"]);
    assert.equal(joined.size, 2 * PART + (2 << 20) + 1000);
  } finally {
    globalThis.fetch = fetch;
  }
  // Part 1 is the first 5 MiB of s0; part 2 spans s0, s1 and s2; part 3 is the rest of s2.
  assert.deepEqual(copies, [
    `bytes=0-${PART - 1}`,
    `bytes=${PART - (1 << 20) - 1000}-${PART + (1 << 20) - 1}`,
  ]);
  const expected = new Uint8Array(await new Blob(sources).arrayBuffer());
  assert.equal(await sha256(await collect(await store.read("joined"))), await sha256(expected));
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
  assert.match((await final([])).text, /names no partial upload/);
  const bad = await fetch(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Concat": "everything", "Upload-Length": "1" }),
  });
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
  // Two partials within maxSize each, over it together: 413 before anything is joined.
  const big = [await partial(png(600_000)), await partial(new Uint8Array(600_000))];
  assert.equal((await final(big)).status, 413);
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
