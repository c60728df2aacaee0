/**
 * Parts streamed with a known length: when a PATCH's Content-Length says a
 * whole part more is coming and nothing is buffered, the part goes to the
 * bucket as a stream (no part's bytes gathered), else it is buffered. Deno's
 * fetch cannot stream with a length, so here the bucket's `uploadPartStream`
 * reads the stream whole, checks its length and sends it with the real
 * `uploadPart`: the core's choices, backpressure and failure handling are
 * what is tested; the runtimes' own streaming is tested in workerd
 * (r2_workerd.storage.ts) and on Node and Bun (the runtime suite).
 */
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { bytes, collect, patchHeaders, tus } from "./_serve.ts";
import { RawRequest } from "./_hostile.ts";
import { type R2Simulator, startR2Simulator } from "./_r2_simulator.ts";
import { bucketReader, PART, serveUploads, sha256 } from "./_object_store_helpers.ts";
import { ObjectStore } from "../../src/upload/object_store.ts";
import type { ObjectBucket, PartTarget } from "../../src/upload/object_bucket.ts";
import { S3Bucket } from "../../src/upload/s3/_s3_bucket.ts";

/** Which way each part went, in order, and how a streamed part is read. */
interface Recorder {
  sent: string[];
  /** Called with each streamed part's reader; reads it whole by default. */
  read?: (reader: ReadableStreamDefaultReader<Uint8Array>) => Promise<Uint8Array>;
}

async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return all;
}

/** An ObjectStore on the simulator's bucket whose parts may be streamed. */
function streamingStore(bucket: R2Simulator, recorder: Recorder): ObjectStore {
  const client = new AwsClient({
    accessKeyId: bucket.accessKeyId,
    secretAccessKey: bucket.secretAccessKey,
    service: "s3",
    region: "auto",
    retries: 0,
  });
  const inner = new S3Bucket(client, bucket.s3Endpoint);
  const wrapped: ObjectBucket = {
    put: (key, body) => inner.put(key, body),
    get: (key, range) => inner.get(key, range),
    stream: (key) => inner.stream(key),
    size: (key) => inner.size(key),
    delete: (keys) => inner.delete(keys),
    list: (prefix) => inner.list(prefix),
    createMultipart: (key) => inner.createMultipart(key),
    copyPart: (target, source, range) => inner.copyPart(target, source, range),
    completeMultipart: (key, id, parts) => inner.completeMultipart(key, id, parts),
    abortMultipart: (key, id) => inner.abortMultipart(key, id),
    uploadPart(target: PartTarget, body: Uint8Array) {
      recorder.sent.push(`buffer ${target.number}`);
      return inner.uploadPart(target, body);
    },
    async uploadPartStream(target: PartTarget, body: ReadableStream<Uint8Array>, length: number) {
      recorder.sent.push(`stream ${target.number}`);
      const all = await (recorder.read ?? readAll)(body.getReader());
      // What R2 and S3 do with a body shorter or longer than its Content-Length.
      if (all.byteLength !== length) throw new Error(`${all.byteLength} bytes, not ${length}`);
      return await inner.uploadPart(target, all);
    },
  };
  return new ObjectStore(wrapped, { partSize: PART });
}

async function create(endpoint: string, length: number): Promise<string> {
  const created = await fetch(endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": String(length) }),
  });
  assert.equal(created.status, 201);
  return created.headers.get("Location")!;
}

async function offsetOf(url: string): Promise<number> {
  const head = await fetch(url, { method: "HEAD", headers: tus() });
  assert.equal(head.status, 200);
  return Number(head.headers.get("Upload-Offset"));
}

Deno.test("a PATCH with a Content-Length streams its whole parts; its last bytes are buffered", async () => {
  await using bucket = await startR2Simulator();
  const recorder: Recorder = { sent: [] };
  const store = streamingStore(bucket, recorder);
  await using server = await serveUploads({ store, maxSize: 1 << 30 });
  const data = bytes(2 * PART + 777, 21);
  const url = await create(server.endpoint, data.byteLength);
  // A Uint8Array body: Deno's fetch sends its Content-Length.
  const patched = await fetch(url, { method: "PATCH", headers: patchHeaders(0), body: data });
  assert.equal(patched.status, 204);
  assert.deepEqual(recorder.sent, ["stream 1", "stream 2", "buffer 3"]);
  const id = url.split("/").pop()!;
  assert.equal(await sha256(await collect(await store.read(id))), await sha256(data));
});

Deno.test("without a Content-Length, or behind a tail, parts are buffered; streaming resumes at the next boundary", async () => {
  await using bucket = await startR2Simulator();
  const recorder: Recorder = { sent: [] };
  const store = streamingStore(bucket, recorder);
  await using server = await serveUploads({ store, maxSize: 1 << 30 });
  const data = bytes(3 * PART + 10, 22);
  const url = await create(server.endpoint, data.byteLength);
  // A stream body: Deno sends it chunked, with no length, so the part is buffered.
  const first = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: ReadableStream.from([data.subarray(0, PART + 100)]),
  });
  assert.equal(first.status, 204);
  assert.deepEqual(recorder.sent, ["buffer 1"]);
  // A 100-byte tail is waiting: part 2 is buffered to join it; part 3 starts on a boundary.
  const second = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(PART + 100),
    body: data.subarray(PART + 100),
  });
  assert.equal(second.status, 204);
  assert.deepEqual(recorder.sent, ["buffer 1", "buffer 2", "stream 3", "buffer 4"]);
  const id = url.split("/").pop()!;
  assert.equal(await sha256(await collect(await store.read(id))), await sha256(data));
});

Deno.test("a streamed part holds at most the stream's queue: appending waits for the bucket to read", async () => {
  await using bucket = await startR2Simulator();
  let release!: () => void;
  const gate = new Promise<void>((open) => release = open);
  const recorder: Recorder = {
    sent: [],
    read: async (reader) => {
      await gate;
      return await readAll(reader);
    },
  };
  const store = streamingStore(bucket, recorder);
  const upload = await store.startChunkedUpload("bounded.bin");
  upload.expect!(PART);
  const data = bytes(PART, 23);
  const chunk = 256 * 1024;
  let appended = 0;
  // The bucket reads nothing yet: appends stop once about 1 MiB is queued.
  const appending = (async () => {
    for (let at = 0; at < PART; at += chunk) {
      await upload.append(data.subarray(at, at + chunk));
      appended = at + chunk;
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(appended <= 1024 * 1024 + chunk, `${appended} bytes taken while the bucket read none`);
  assert.ok(appended > 0);
  release();
  await appending;
  assert.equal(upload.offset, PART);
  const file = await upload.finalize();
  assert.equal(file.size, PART);
  assert.deepEqual(recorder.sent, ["stream 1"]);
  assert.equal(
    await sha256(await collect(await store.read("bounded.bin"))),
    await sha256(data),
  );
});

Deno.test("a request dropped inside a streamed part keeps the whole parts before it; the client resumes", async () => {
  await using bucket = await startR2Simulator();
  const recorder: Recorder = { sent: [] };
  const store = streamingStore(bucket, recorder);
  await using server = await serveUploads({ store, maxSize: 1 << 30 });
  const data = bytes(3 * PART + 5, 24);
  const url = await create(server.endpoint, data.byteLength);
  // Part 1 recorded by a first request.
  const first = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: data.subarray(0, PART),
  });
  assert.equal(first.status, 204);
  assert.deepEqual(recorder.sent, ["stream 1"]);
  // Part 2 streams whole, then the client vanishes halfway through part 3.
  {
    await using raw = await RawRequest.open("PATCH", url, {
      ...patchHeaders(PART),
      "Content-Length": String(data.byteLength - PART),
    });
    await raw.send(data.subarray(PART, 2 * PART + PART / 2));
    await new Promise((resolve) => setTimeout(resolve, 200));
    raw.drop();
  }
  // The server notices, abandons part 3 and records part 2, the last whole one.
  let offset = -1;
  for (let tries = 0; tries < 50; tries++) {
    offset = await offsetOf(url);
    if (offset === 2 * PART) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(recorder.sent, ["stream 1", "stream 2", "stream 3"]);
  assert.equal(offset, 2 * PART);
  const reader = bucketReader(bucket);
  const id = url.split("/").pop()!;
  assert.ok(!(await reader.keys()).includes(`${id}.part`), "no tail was written");
  const resumed = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(2 * PART),
    body: data.subarray(2 * PART),
  });
  assert.equal(resumed.status, 204);
  assert.deepEqual(recorder.sent.slice(3), ["stream 3", "buffer 4"]);
  assert.equal(await sha256(await collect(await store.read(id))), await sha256(data));
});

Deno.test("a request dropped inside its first streamed part keeps nothing of it and answers nothing kept", async () => {
  await using bucket = await startR2Simulator();
  const recorder: Recorder = { sent: [] };
  const store = streamingStore(bucket, recorder);
  await using server = await serveUploads({ store, maxSize: 1 << 30 });
  const data = bytes(PART + 5, 26);
  const url = await create(server.endpoint, data.byteLength);
  {
    await using raw = await RawRequest.open("PATCH", url, {
      ...patchHeaders(0),
      "Content-Length": String(data.byteLength),
    });
    await raw.send(data.subarray(0, PART / 2));
    await new Promise((resolve) => setTimeout(resolve, 200));
    raw.drop();
  }
  for (let tries = 0; tries < 50 && recorder.sent.length === 0; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(recorder.sent, ["stream 1"]);
  assert.equal(await offsetOf(url), 0);
  const resumed = await fetch(url, { method: "PATCH", headers: patchHeaders(0), body: data });
  assert.equal(resumed.status, 204);
  const id = url.split("/").pop()!;
  assert.equal(await sha256(await collect(await store.read(id))), await sha256(data));
});

Deno.test("a checksum mismatch drops every streamed part of the chunk; the upload stays put", async () => {
  await using bucket = await startR2Simulator();
  const recorder: Recorder = { sent: [] };
  const store = streamingStore(bucket, recorder);
  await using server = await serveUploads({ store, maxSize: 1 << 30 });
  const data = bytes(2 * PART + 3, 25);
  const url = await create(server.endpoint, data.byteLength);
  const wrong = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(0, { "Upload-Checksum": `sha1 ${btoa("x".repeat(20))}` }),
    body: data,
  });
  assert.equal(wrong.status, 460);
  await wrong.body?.cancel();
  assert.deepEqual(recorder.sent, ["stream 1", "stream 2"]);
  assert.equal(await offsetOf(url), 0);
  const right = await fetch(url, { method: "PATCH", headers: patchHeaders(0), body: data });
  assert.equal(right.status, 204);
  const id = url.split("/").pop()!;
  assert.equal(await sha256(await collect(await store.read(id))), await sha256(data));
});

Deno.test("a refused type sends no part: the first bytes are sniffed before streaming starts", async () => {
  await using bucket = await startR2Simulator();
  const recorder: Recorder = { sent: [] };
  const store = streamingStore(bucket, recorder);
  await using server = await serveUploads({
    store,
    maxSize: 1 << 30,
    allowedTypes: ["image/png"],
  });
  const data = new TextEncoder().encode("<!doctype html><html>" + "x".repeat(PART + 100));
  const url = await create(server.endpoint, data.byteLength);
  // Raw, so the body arrives in small writes: the first is shorter than the sniffing window.
  const refused = await (async () => {
    await using raw = await RawRequest.open("PATCH", url, {
      ...patchHeaders(0),
      "Content-Length": String(data.byteLength),
    });
    await raw.send(data.subarray(0, 100));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await raw.send(data.subarray(100)).catch(() => {});
    return await raw.response();
  })();
  assert.equal(refused.status, 415);
  assert.deepEqual(recorder.sent, []);
});
