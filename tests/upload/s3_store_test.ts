/**
 * S3Store against Cloudflare's own R2 simulator (miniflare 4 running
 * workerd), over R2's S3 API with real SigV4 checks, the 5 MiB minimum and
 * the equal-part rule; tus-js-client drives real servers on real sockets.
 */
import assert from "node:assert/strict";
import { bytes, patchHeaders, tus } from "./_serve.ts";
import { startR2Simulator } from "./_r2_simulator.ts";
import {
  bucketReader,
  PART,
  runTusClient,
  s3Store,
  serveUploads,
  sha256,
} from "./_object_store_helpers.ts";
import { conformance } from "./_state_conformance.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { RedisUploadState } from "../../src/upload/mod.ts";
import { UploadError } from "../../src/upload/errors.ts";
import { S3Bucket } from "../../src/upload/s3/_s3_bucket.ts";
import { AwsClient } from "aws4fetch";

Deno.test("tus-js-client uploads 8 MiB in 2.3 MiB chunks into S3Store, aborted and resumed on a restarted server; the bytes' SHA-256 matches", async () => {
  await using bucket = await startR2Simulator();
  const data = bytes(8 * 1024 * 1024 + 12_345, 7);
  const chunkSize = 2.3 * 1024 * 1024 | 0;
  let url: string;
  {
    await using first = await serveUploads({ store: s3Store(bucket), maxSize: 1 << 30 });
    url = await runTusClient(data, { endpoint: first.endpoint, chunkSize, stopAfter: 6 << 20 });
  }
  const id = url.split("/").pop()!;
  // The first 5 MiB went into part 1; the rest waits in <id>.part.
  assert.deepEqual(await bucketReader(bucket).keys(), [`${id}.info`, `${id}.part`]);
  // A new store and server on the same bucket: the record and part list come from <id>.info.
  await using second = await serveUploads({ store: s3Store(bucket), maxSize: 1 << 30 });
  const head = await fetch(`${second.endpoint}/${id}`, { method: "HEAD", headers: tus() });
  assert.equal(head.status, 200);
  const offset = Number(head.headers.get("Upload-Offset"));
  assert.ok(offset >= 6 << 20 && offset < data.byteLength, `offset ${offset}`);
  await runTusClient(data, { uploadUrl: `${second.endpoint}/${id}`, chunkSize });
  const stored = await bucketReader(bucket).bytes(id);
  assert.equal(stored?.byteLength, data.byteLength);
  assert.equal(await sha256(stored!), await sha256(data));
  assert.deepEqual(await bucketReader(bucket).keys(), [id, `${id}.info`], "tail removed");
});

Deno.test("a checksum mismatch on a chunk longer than a part discards the chunk and leaves no part", async () => {
  await using bucket = await startR2Simulator();
  await using server = await serveUploads({ store: s3Store(bucket), maxSize: 1 << 30 });
  const data = bytes(PART + 1_000_000, 3);
  const created = await fetch(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": String(data.byteLength) }),
  });
  const url = created.headers.get("Location")!;
  const id = url.split("/").pop()!;
  const wrong = btoa(String.fromCharCode(...new Uint8Array(20)));
  const refused = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(0, { "Upload-Checksum": `sha1 ${wrong}` }),
    body: data,
  });
  assert.equal(refused.status, 460);
  await refused.body?.cancel();
  const info = JSON.parse(
    new TextDecoder().decode((await bucketReader(bucket).bytes(`${id}.info`))!),
  );
  // Part 1 was sent while the body streamed; the record lists no part and no tail, so the
  // next part 1 replaces it (the multipart upload itself is kept for it).
  assert.deepEqual({ ...info.upload, uploadId: null }, {
    offset: 0,
    partSize: PART,
    uploadId: null,
    parts: [],
    tail: null,
  });
  const head = await fetch(url, { method: "HEAD", headers: tus() });
  assert.equal(head.headers.get("Upload-Offset"), "0");
  // The same bytes with the right checksum are kept, and part 1 is the right part 1.
  const sha1 = new Uint8Array(await crypto.subtle.digest("SHA-1", data));
  const accepted = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(0, { "Upload-Checksum": `sha1 ${btoa(String.fromCharCode(...sha1))}` }),
    body: data,
  });
  assert.equal(accepted.status, 204);
  assert.equal(await sha256((await bucketReader(bucket).bytes(id))!), await sha256(data));
});

Deno.test("a wrong secret fails with a typed store error, answered 500 with tus headers", async () => {
  await using bucket = await startR2Simulator();
  const store = s3Store(bucket, { secretAccessKey: "not-the-secret" });
  await assert.rejects(
    store.uploadWithProgress("a.bin", new Blob(["x"]).stream()),
    (error) =>
      error instanceof UploadError && error.code === "UPLOAD_STORE_FAILED" &&
      /403 SignatureDoesNotMatch/.test(error.message),
  );
  const seen: unknown[] = [];
  await using server = await serveUploads({
    store,
    maxSize: 1024,
    cors: { origin: "https://app.example" },
    onError: (error) => seen.push(error),
  });
  const created = await fetch(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "5", Origin: "https://app.example" }),
  });
  assert.equal(created.status, 500);
  assert.equal(created.headers.get("Tus-Resumable"), "1.0.0");
  assert.equal(created.headers.get("Access-Control-Allow-Origin"), "https://app.example");
  await created.body?.cancel();
  assert.ok(seen[0] instanceof UploadError && seen[0].code === "UPLOAD_STORE_FAILED");
});

/**
 * A store endpoint on a port this test holds for its whole run (so no other process can take
 * it and answer). Each connection gets `answer`: "reset" closes it at once, "silent" reads the
 * request's head and then says nothing until the endpoint is disposed, and chunks of text are
 * written after the head, `pause` ms apart, before it closes.
 */
function storeEndpoint(answer: "reset" | "silent" | string[], pause = 0) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let dispose!: () => void;
  const disposed = new Promise<void>((resolve) => (dispose = resolve));
  const handle = async (conn: Deno.Conn) => {
    try {
      if (answer === "reset") return;
      const head = new Uint8Array(65_536);
      let seen = "";
      while (!seen.includes("\r\n\r\n")) {
        const n = await conn.read(head);
        if (n === null) return;
        seen += new TextDecoder().decode(head.subarray(0, n));
      }
      if (answer === "silent") return await disposed;
      for (const [n, chunk] of answer.entries()) {
        if (n > 0) await new Promise((resolve) => setTimeout(resolve, pause));
        await conn.write(new TextEncoder().encode(chunk));
      }
    } catch {
      // The client went first; nothing to answer.
    } finally {
      conn.close();
    }
  };
  const handling: Promise<void>[] = [];
  const serving = (async () => {
    for await (const conn of listener) handling.push(handle(conn));
  })();
  return {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/bucket/`,
    async [Symbol.asyncDispose]() {
      listener.close();
      dispose();
      await serving;
      await Promise.all(handling);
    },
  };
}

/** Creates an upload on a tus server in front of `endpoint`, which must answer 503. */
async function assertCreationUnavailable(endpoint: string, options: { timeout?: number } = {}) {
  const seen: unknown[] = [];
  const store = s3Store(
    { s3Endpoint: endpoint, accessKeyId: "a", secretAccessKey: "b" } as never,
    options,
  );
  await using server = await serveUploads({ store, maxSize: 1024, onError: (e) => seen.push(e) });
  const created = await fetch(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "5" }),
  });
  assert.equal(created.status, 503);
  assert.equal(created.headers.get("Retry-After"), "5");
  assert.equal(created.headers.get("Tus-Resumable"), "1.0.0");
  await created.body?.cancel();
  assert.ok(
    seen[0] instanceof UploadError && seen[0].code === "UPLOAD_STORE_UNAVAILABLE",
    String(seen[0]),
  );
}

const unavailable = (error: unknown) =>
  error instanceof UploadError && error.code === "UPLOAD_STORE_UNAVAILABLE";

Deno.test("a store that resets every connection answers 503 with Retry-After", async () => {
  await using store = storeEndpoint("reset");
  await assertCreationUnavailable(store.endpoint);
});

Deno.test("a store whose host name does not resolve answers 503 with Retry-After", async () => {
  // .invalid never resolves (RFC 6761), with or without a resolver.
  await assertCreationUnavailable("http://kiln-store.invalid/bucket/");
});

Deno.test("a store that refuses connections answers 503 with Retry-After", async () => {
  // Port 1 (tcpmux) is below the ephemeral range, so no test's or server's port 0 listen can
  // be given it (as the closed listener's port once was, answering 500), and nothing here
  // serves tcpmux: the connection is refused every time.
  await assertCreationUnavailable("http://127.0.0.1:1/bucket/");
});

Deno.test("a store that never answers answers 503 once its timeout passes", async () => {
  await using store = storeEndpoint("silent");
  await assertCreationUnavailable(store.endpoint, { timeout: 200 });
  const bucket = new S3Bucket(
    new AwsClient({ accessKeyId: "a", secretAccessKey: "b" }),
    store.endpoint,
    100,
  );
  await assert.rejects(bucket.stream("k"), unavailable);
  await assert.rejects(bucket.put("k", new Uint8Array(10)), unavailable);
  assert.throws(
    () =>
      s3Store({ s3Endpoint: store.endpoint, accessKeyId: "a", secretAccessKey: "b" } as never, {
        timeout: 0,
      }),
    RangeError,
  );
});

Deno.test("reading an upload back is timed only until the store starts answering", async () => {
  // Headers at once, then the body in three pieces over 300 ms, three times the timeout.
  await using store = storeEndpoint(
    ["HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", "def", "ghi"],
    150,
  );
  const bucket = new S3Bucket(
    new AwsClient({ accessKeyId: "a", secretAccessKey: "b" }),
    store.endpoint,
    100,
  );
  const body = await bucket.stream("k");
  assert.equal(await new Response(body).text(), "abcdefghi");
});

Deno.test("an answer that breaks off after its status line is UNAVAILABLE, not FAILED", async () => {
  // 200 with a body promised and cut short: every read of an answer's body.
  await using store = storeEndpoint([
    'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: "e"\r\n\r\n<InitiateMultipartUploadResult>',
  ]);
  const bucket = new S3Bucket(
    new AwsClient({ accessKeyId: "a", secretAccessKey: "b" }),
    store.endpoint,
  );
  await assert.rejects(bucket.createMultipart("k"), unavailable);
  await assert.rejects(bucket.get("k"), unavailable);
  await assert.rejects(bucket.completeMultipart("k", "u", []), unavailable);
  await assert.rejects(
    bucket.copyPart({ key: "k", uploadId: "u", number: 1 }, "s", { offset: 0, length: 1 }),
    unavailable,
  );
  await assert.rejects(Array.fromAsync(bucket.list("")), unavailable);
});

Deno.test("resuming with another part size is refused clearly, keeping every byte", async () => {
  await using bucket = await startR2Simulator();
  await using first = await serveUploads({ store: s3Store(bucket), maxSize: 1 << 30 });
  const data = bytes(PART + 10, 5);
  const url = await runTusClient(data, {
    endpoint: first.endpoint,
    stopAfter: 100,
    chunkSize: 100,
  });
  const id = url.split("/").pop()!;
  const other = s3Store(bucket, { partSize: PART + 1 });
  await assert.rejects(
    other.resumeChunkedUpload(id, 100),
    (error) =>
      error instanceof UploadError && error.code === "UPLOAD_RECORD_CORRUPT" &&
      /parts of 5242880 bytes, this store into 5242881/.test(error.message),
  );
  assert.throws(() => s3Store(bucket, { partSize: PART - 1 }), RangeError);
  // The original store still finishes it.
  await runTusClient(data, { uploadUrl: url });
  assert.equal(await sha256((await bucketReader(bucket).bytes(id))!), await sha256(data));
});

Deno.test("two servers sharing RedisUploadState: a PATCH while another server holds the upload gets 423", async () => {
  await using bucket = await startR2Simulator();
  await using stack = await startRedisStack();
  const state = () => new RedisUploadState({ redis: stack.newRedis(), prefix: "s3-423" });
  // Server a's state tells the test when a takes a lock, so the test waits for the lock itself
  // instead of probing with requests of its own: a probe takes the lock for a moment too, and a
  // PATCH of a's arriving in that moment got 423 and never held it (1 run in 3).
  const stateA = state();
  const lockA = stateA.lock.bind(stateA);
  let tookLock!: () => void;
  const heldByA = new Promise<void>((resolve) => (tookLock = resolve));
  stateA.lock = async (id) => {
    const lock = await lockA(id);
    if (lock) tookLock();
    return lock;
  };
  await using a = await serveUploads({ store: s3Store(bucket), state: stateA, maxSize: 1 << 30 });
  await using b = await serveUploads({ store: s3Store(bucket), state: state(), maxSize: 1 << 30 });
  const created = await fetch(b.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "10" }),
  });
  const id = created.headers.get("Location")!.split("/").pop()!;
  let feed!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (feed = c) });
  feed.enqueue(new TextEncoder().encode("abcd"));
  const slow = fetch(`${a.endpoint}/${id}`, {
    method: "PATCH",
    headers: patchHeaders(0),
    body,
    duplex: "half",
  } as RequestInit);
  try {
    // The only request that can take a lock before this point is a's PATCH; if it ends
    // without one (an error), the test fails here instead of waiting for ever.
    const ended = slow.then((response) => `a's PATCH ended with ${response.status}`, String);
    const first = await Promise.race([heldByA.then(() => null), ended]);
    assert.equal(first, null, "server a took the upload's lock");
    const locked = await fetch(`${b.endpoint}/${id}`, {
      method: "PATCH",
      headers: patchHeaders(0),
      body: "x",
    });
    assert.equal(locked.status, 423);
    assert.equal(locked.headers.get("Tus-Resumable"), "1.0.0");
    await locked.body?.cancel();
    feed.enqueue(new TextEncoder().encode("efghij"));
  } finally {
    // Ends the held request on failure too, so the servers can shut down and the test fails
    // instead of waiting forever.
    feed.close();
  }
  assert.equal((await slow).status, 204);
  assert.equal(new TextDecoder().decode((await bucketReader(bucket).bytes(id))!), "abcdefghij");
});

Deno.test("cleanupExpired() and termination abort the multipart upload and delete every object", async () => {
  await using bucket = await startR2Simulator();
  const clock = new ManualClock(1_000_000);
  await using server = await serveUploads({
    store: s3Store(bucket),
    maxSize: 1 << 30,
    clock,
    expiresIn: 60_000,
  });
  const data = bytes(PART + 100, 9);
  const expired = await runTusClient(data, {
    endpoint: server.endpoint,
    stopAfter: PART + 50,
    chunkSize: PART + 50,
  });
  const terminated = await runTusClient(data, {
    endpoint: server.endpoint,
    stopAfter: PART + 50,
    chunkSize: PART + 50,
  });
  const reader = bucketReader(bucket);
  const uploadIds: Record<string, string> = {};
  for (const url of [expired, terminated]) {
    const id = url.split("/").pop()!;
    const info = JSON.parse(new TextDecoder().decode((await reader.bytes(`${id}.info`))!));
    assert.equal(info.upload.parts.length, 1);
    uploadIds[id] = info.upload.uploadId;
  }
  const deleted = await fetch(terminated, { method: "DELETE", headers: tus() });
  assert.equal(deleted.status, 204);
  clock.advance(60_001);
  assert.deepEqual(await server.files.cleanupExpired(), { removed: 1, forgotten: 0 });
  assert.deepEqual(await reader.keys(), []);
  for (const [id, uploadId] of Object.entries(uploadIds)) {
    assert.equal(await reader.takesParts(id, uploadId), false, `${id}'s multipart upload is gone`);
  }
});

Deno.test("resuming below the recorded offset cuts the tail back, and the next resume trusts it", async () => {
  await using bucket = await startR2Simulator();
  const store = s3Store(bucket);
  const data = bytes(PART + 3000, 4);
  const first = await store.startChunkedUpload("cut.bin");
  await first.append(data.subarray(0, PART + 1000));
  await first.release();
  // The server recorded less than the store holds (its save failed after the store's).
  const cut = await store.resumeChunkedUpload("cut.bin", PART + 400);
  assert.equal(cut.offset, PART + 400);
  await cut.release();
  const resumed = await store.resumeChunkedUpload("cut.bin", PART + 400);
  await resumed.append(data.subarray(PART + 400));
  assert.deepEqual(await resumed.finalize(), { path: "cut.bin", size: data.byteLength });
  assert.equal(await sha256((await bucketReader(bucket).bytes("cut.bin"))!), await sha256(data));
  // Below the part already sent, the bytes cannot be cut back: refused, nothing lost.
  const again = await store.startChunkedUpload("again.bin");
  await again.append(data.subarray(0, PART + 10));
  await again.release();
  await assert.rejects(
    store.resumeChunkedUpload("again.bin", 10),
    (error) => error instanceof UploadError && error.code === "UPLOAD_RECORD_CORRUPT",
  );
  assert.equal((await store.resumeChunkedUpload("again.bin", PART + 10)).offset, PART + 10);
});

Deno.test("S3Store.state keeps records in <id>.info objects", async (t) => {
  await using bucket = await startR2Simulator();
  await conformance(s3Store(bucket, { prefix: "state/" }).state, t);
});
