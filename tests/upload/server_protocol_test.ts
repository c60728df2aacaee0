import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  MemoryStore,
  MemoryUploadState,
  uploads,
  type UploadsOptions,
} from "../../src/upload/mod.ts";
import { b64, bytes, collect, patchHeaders, serve, tus } from "./_serve.ts";
import { ManualClock } from "../support/manual_clock.ts";

async function setup(options: Partial<UploadsOptions> = {}) {
  const store = new MemoryStore();
  const files = uploads({ store, maxSize: 1024 * 1024, ...options });
  const served = await serve(new Hono().route("/files", files));
  return {
    store,
    files,
    endpoint: `${served.url}/files`,
    [Symbol.asyncDispose]: () => served[Symbol.asyncDispose](),
  };
}

async function create(endpoint: string, headers: Record<string, string>) {
  const response = await fetch(endpoint, { method: "POST", headers: tus(headers) });
  await response.body?.cancel();
  assert.equal(response.status, 201, `creation answered ${response.status}`);
  return response.headers.get("Location")!;
}

async function send(url: string, init: RequestInit) {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

Deno.test("OPTIONS advertises version, extensions, max size and checksum algorithms", async () => {
  await using server = await setup();
  const response = await send(server.endpoint, { method: "OPTIONS" });
  assert.equal(response.status, 204);
  assert.equal(response.headers.get("Tus-Version"), "1.0.0");
  assert.equal(response.headers.get("Tus-Resumable"), "1.0.0");
  assert.equal(response.headers.get("Tus-Max-Size"), String(1024 * 1024));
  assert.equal(response.headers.get("Tus-Checksum-Algorithm"), "sha1,sha256");
  assert.deepEqual(
    response.headers.get("Tus-Extension")!.split(",").sort(),
    [
      "checksum",
      "concatenation",
      "creation",
      "creation-defer-length",
      "creation-with-upload",
      "expiration",
      "termination",
    ],
  );
});

Deno.test("a request without Tus-Resumable 1.0.0 gets 412 with Tus-Version", async () => {
  await using server = await setup();
  for (const headers of [{}, { "Tus-Resumable": "0.2.2" }] as Record<string, string>[]) {
    const response = await send(server.endpoint, {
      method: "POST",
      headers: { "Upload-Length": "5", ...headers },
    });
    assert.equal(response.status, 412);
    assert.equal(response.headers.get("Tus-Version"), "1.0.0");
  }
  assert.deepEqual(server.store.paths(), []);
});

Deno.test("POST creates an upload: 201 with Location, and HEAD reports it with no-store", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, {
    "Upload-Length": "10",
    "Upload-Metadata": `filename ${b64("résumé.pdf")},is_confidential`,
  });
  assert.match(location, new RegExp(`^${server.endpoint}/[0-9a-f]{32}$`));
  const head = await send(location, { method: "HEAD", headers: tus() });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("Upload-Offset"), "0");
  assert.equal(head.headers.get("Upload-Length"), "10");
  assert.equal(
    head.headers.get("Upload-Metadata"),
    `filename ${b64("résumé.pdf")},is_confidential`,
  );
  assert.equal(head.headers.get("Cache-Control"), "no-store");
  assert.equal(head.headers.get("Tus-Resumable"), "1.0.0");
});

Deno.test("POST answers 400 for missing, doubled or malformed lengths and bad metadata", async () => {
  await using server = await setup();
  const cases: Record<string, string>[] = [
    {},
    { "Upload-Length": "5", "Upload-Defer-Length": "1" },
    { "Upload-Defer-Length": "2" },
    { "Upload-Length": "-1" },
    { "Upload-Length": "1e3" },
    { "Upload-Length": "5", "Upload-Metadata": "name not*base64" },
    { "Upload-Length": "5", "Upload-Metadata": `a ${b64("x")},a ${b64("y")}` },
    { "Upload-Length": "5", "Upload-Metadata": `bad key ${b64("x")}` },
    { "Upload-Length": "5", "Upload-Metadata": `big ${b64("x".repeat(5000))}` },
    { "Upload-Length": "5", "Upload-Metadata": `bin ${btoa("\xff\xfe")}` },
  ];
  for (const headers of cases) {
    const response = await send(server.endpoint, { method: "POST", headers: tus(headers) });
    assert.equal(response.status, 400, JSON.stringify(headers));
  }
  assert.deepEqual(server.store.paths(), []);
});

Deno.test("POST over Tus-Max-Size answers 413 and creates nothing", async () => {
  await using server = await setup();
  const response = await send(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": String(1024 * 1024 + 1) }),
  });
  assert.equal(response.status, 413);
  assert.deepEqual(server.store.paths(), []);
});

Deno.test("HEAD, PATCH and DELETE of an unknown upload answer 404, including traversal-looking ids", async () => {
  await using server = await setup();
  for (const id of ["0123456789abcdef0123456789abcdef", "..%2F..%2Fetc%2Fpasswd", "a.b"]) {
    const url = `${server.endpoint}/${id}`;
    assert.equal((await send(url, { method: "HEAD", headers: tus() })).status, 404, id);
    assert.equal(
      (await send(url, { method: "PATCH", headers: patchHeaders(0), body: "x" })).status,
      404,
      id,
    );
    assert.equal((await send(url, { method: "DELETE", headers: tus() })).status, 404, id);
  }
});

Deno.test("PATCH appends at the offset and answers 204 with the new Upload-Offset", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, { "Upload-Length": "11" });
  const first = await send(location, { method: "PATCH", headers: patchHeaders(0), body: "hello " });
  assert.equal(first.status, 204);
  assert.equal(first.headers.get("Upload-Offset"), "6");
  const second = await send(location, { method: "PATCH", headers: patchHeaders(6), body: "world" });
  assert.equal(second.headers.get("Upload-Offset"), "11");
  const id = location.split("/").pop()!;
  assert.equal(new TextDecoder().decode(await collect(await server.store.read(id))), "hello world");
});

Deno.test("PATCH with a wrong content type answers 415 and a missing or bad offset 400", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, { "Upload-Length": "5" });
  const wrongType = await send(location, {
    method: "PATCH",
    headers: tus({ "Content-Type": "application/octet-stream", "Upload-Offset": "0" }),
    body: "hello",
  });
  assert.equal(wrongType.status, 415);
  const noOffset = await send(location, {
    method: "PATCH",
    headers: tus({ "Content-Type": "application/offset+octet-stream" }),
    body: "hello",
  });
  assert.equal(noOffset.status, 400);
  assert.equal(
    (await send(location, {
      method: "PATCH",
      headers: patchHeaders(0, { "Upload-Offset": "x" }),
      body: "h",
    })).status,
    400,
  );
  const head = await send(location, { method: "HEAD", headers: tus() });
  assert.equal(head.headers.get("Upload-Offset"), "0");
});

Deno.test("PATCH at the wrong offset answers 409 and writes nothing", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, { "Upload-Length": "10" });
  await send(location, { method: "PATCH", headers: patchHeaders(0), body: "abc" });
  const conflict = await send(location, {
    method: "PATCH",
    headers: patchHeaders(1),
    body: "zzzz",
  });
  assert.equal(conflict.status, 409);
  const head = await send(location, { method: "HEAD", headers: tus() });
  assert.equal(head.headers.get("Upload-Offset"), "3");
  const next = await send(location, { method: "PATCH", headers: patchHeaders(3), body: "defghij" });
  assert.equal(next.status, 204);
  const id = location.split("/").pop()!;
  assert.equal(new TextDecoder().decode(await collect(await server.store.read(id))), "abcdefghij");
});

Deno.test("PATCH past the declared length answers 413 and keeps nothing past it, streamed or not", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, { "Upload-Length": "5" });
  const declared = await send(location, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: "123456",
  });
  assert.equal(declared.status, 413);
  const streamed = await send(location, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: new Blob(["123", "456"]).stream(),
  });
  assert.equal(streamed.status, 413);
  const head = await send(location, { method: "HEAD", headers: tus() });
  assert.equal(head.headers.get("Upload-Offset"), "0");
  const fits = await send(location, { method: "PATCH", headers: patchHeaders(0), body: "12345" });
  assert.equal(fits.status, 204);
});

Deno.test("a checksum mismatch answers 460 and discards the chunk; matching sha1 and sha256 are kept", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, { "Upload-Length": "8" });
  const digest = async (algorithm: string, text: string) =>
    btoa(
      String.fromCharCode(
        ...new Uint8Array(await crypto.subtle.digest(algorithm, new TextEncoder().encode(text))),
      ),
    );
  const mismatch = await send(location, {
    method: "PATCH",
    headers: patchHeaders(0, { "Upload-Checksum": `sha1 ${await digest("SHA-1", "other")}` }),
    body: "abcd",
  });
  assert.equal(mismatch.status, 460);
  assert.equal(
    (await send(location, { method: "HEAD", headers: tus() })).headers.get("Upload-Offset"),
    "0",
  );
  const sha1 = await send(location, {
    method: "PATCH",
    headers: patchHeaders(0, { "Upload-Checksum": `sha1 ${await digest("SHA-1", "abcd")}` }),
    body: "abcd",
  });
  assert.equal(sha1.status, 204);
  const sha256 = await send(location, {
    method: "PATCH",
    headers: patchHeaders(4, { "Upload-Checksum": `sha256 ${await digest("SHA-256", "efgh")}` }),
    body: "efgh",
  });
  assert.equal(sha256.headers.get("Upload-Offset"), "8");
  const id = location.split("/").pop()!;
  assert.equal(new TextDecoder().decode(await collect(await server.store.read(id))), "abcdefgh");
});

Deno.test("an unsupported or malformed checksum answers 400", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, { "Upload-Length": "4" });
  for (const checksum of ["md5 AAAA", "sha1", "sha1 !!!"]) {
    const response = await send(location, {
      method: "PATCH",
      headers: patchHeaders(0, { "Upload-Checksum": checksum }),
      body: "abcd",
    });
    assert.equal(response.status, 400, checksum);
  }
});

Deno.test("creation-with-upload stores the POST body and answers its Upload-Offset", async () => {
  const completed: string[] = [];
  await using server = await setup({ onComplete: (upload) => void completed.push(upload.id) });
  const response = await send(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "9", "Content-Type": "application/offset+octet-stream" }),
    body: "first",
  });
  assert.equal(response.status, 201);
  assert.equal(response.headers.get("Upload-Offset"), "5");
  const location = response.headers.get("Location")!;
  await send(location, { method: "PATCH", headers: patchHeaders(5), body: "last" });
  const id = location.split("/").pop()!;
  assert.deepEqual(completed, [id]);
  assert.equal(new TextDecoder().decode(await collect(await server.store.read(id))), "firstlast");
});

Deno.test("a deferred length is reported as Upload-Defer-Length and set by a later PATCH", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, { "Upload-Defer-Length": "1" });
  const head = await send(location, { method: "HEAD", headers: tus() });
  assert.equal(head.headers.get("Upload-Defer-Length"), "1");
  assert.equal(head.headers.get("Upload-Length"), null);
  await send(location, { method: "PATCH", headers: patchHeaders(0), body: "abc" });
  const id = location.split("/").pop()!;
  assert.equal(await server.store.stat(id), null, "not finished while the length is unknown");
  const tooShort = await send(location, {
    method: "PATCH",
    headers: patchHeaders(3, { "Upload-Length": "2" }),
    body: "",
  });
  assert.equal(tooShort.status, 400);
  const last = await send(location, {
    method: "PATCH",
    headers: patchHeaders(3, { "Upload-Length": "5" }),
    body: "de",
  });
  assert.equal(last.status, 204);
  assert.deepEqual(await server.store.stat(id), { path: id, size: 5 });
  const changed = await send(location, {
    method: "PATCH",
    headers: patchHeaders(5, { "Upload-Length": "6" }),
    body: "",
  });
  assert.equal(changed.status, 400);
});

Deno.test("a deferred-length upload streaming past maxSize answers 413 and keeps nothing of the chunk", async () => {
  await using server = await setup({ maxSize: 10 });
  const location = await create(server.endpoint, { "Upload-Defer-Length": "1" });
  await send(location, { method: "PATCH", headers: patchHeaders(0), body: "12345" });
  const over = await send(location, {
    method: "PATCH",
    headers: patchHeaders(5),
    body: new Blob(["678", "9ab"]).stream(),
  });
  assert.equal(over.status, 413);
  assert.equal(
    (await send(location, { method: "HEAD", headers: tus() })).headers.get("Upload-Offset"),
    "5",
  );
});

Deno.test("an unfinished upload expires: Upload-Expires is sent, then 410, then cleanupExpired() removes it", async () => {
  const clock = new ManualClock(Date.parse("2030-01-01T00:00:00Z"));
  await using server = await setup({ expiresIn: 60_000, clock });
  const location = await create(server.endpoint, { "Upload-Length": "10" });
  const patched = await send(location, { method: "PATCH", headers: patchHeaders(0), body: "abc" });
  assert.equal(patched.headers.get("Upload-Expires"), "Tue, 01 Jan 2030 00:01:00 GMT");
  clock.advance(30_000);
  assert.equal((await server.files.cleanupExpired()).removed, 0);
  clock.advance(30_000);
  assert.equal((await send(location, { method: "HEAD", headers: tus() })).status, 410);
  assert.equal(
    (await send(location, { method: "PATCH", headers: patchHeaders(3), body: "d" })).status,
    410,
  );
  assert.deepEqual(await server.files.cleanupExpired(), { removed: 1, forgotten: 0 });
  assert.equal((await send(location, { method: "HEAD", headers: tus() })).status, 404);
  assert.deepEqual(server.store.paths(), []);
});

Deno.test("cleanupExpired() forgets finished uploads' records after keepCompletedFor but keeps their files", async () => {
  const clock = new ManualClock(1_000_000);
  await using server = await setup({ expiresIn: 1_000, keepCompletedFor: 5_000, clock });
  const location = await create(server.endpoint, { "Upload-Length": "2" });
  await send(location, { method: "PATCH", headers: patchHeaders(0), body: "ok" });
  clock.advance(2_000);
  assert.equal(
    (await send(location, { method: "HEAD", headers: tus() })).status,
    200,
    "finished uploads do not expire",
  );
  clock.advance(4_000);
  assert.deepEqual(await server.files.cleanupExpired(), { removed: 0, forgotten: 1 });
  const id = location.split("/").pop()!;
  assert.deepEqual(await server.store.stat(id), { path: id, size: 2 });
});

Deno.test("DELETE terminates an upload: 204, then 404 everywhere and its bytes are gone", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, { "Upload-Length": "10" });
  await send(location, { method: "PATCH", headers: patchHeaders(0), body: "abc" });
  assert.equal((await send(location, { method: "DELETE", headers: tus() })).status, 204);
  assert.equal((await send(location, { method: "HEAD", headers: tus() })).status, 404);
  assert.equal(
    (await send(location, { method: "PATCH", headers: patchHeaders(3), body: "d" })).status,
    404,
  );
  assert.deepEqual(server.store.paths(), []);
});

Deno.test("X-HTTP-Method-Override turns a POST into PATCH, HEAD or DELETE", async () => {
  await using server = await setup();
  const location = await create(server.endpoint, { "Upload-Length": "3" });
  const patched = await send(location, {
    method: "POST",
    headers: patchHeaders(0, { "X-HTTP-Method-Override": "PATCH" }),
    body: "abc",
  });
  assert.equal(patched.status, 204);
  assert.equal(patched.headers.get("Upload-Offset"), "3");
  const head = await send(location, {
    method: "POST",
    headers: tus({ "X-HTTP-Method-Override": "HEAD" }),
  });
  assert.equal(head.headers.get("Upload-Offset"), "3");
  assert.equal(head.text, "");
  const deleted = await send(location, {
    method: "POST",
    headers: tus({ "X-HTTP-Method-Override": "DELETE" }),
  });
  assert.equal(deleted.status, 204);
});

Deno.test("two concurrent PATCH requests never interleave: the second stops the first, which keeps its bytes, and gets 409", async () => {
  let firstChunkStored!: () => void;
  const stored = new Promise<void>((resolve) => (firstChunkStored = resolve));
  await using server = await setup({ progressInterval: 0, onProgress: () => firstChunkStored() });
  const location = await create(server.endpoint, { "Upload-Length": "8" });
  let feed!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (controller) => void (feed = controller) });
  feed.enqueue(new TextEncoder().encode("aaaa"));
  const first = fetch(location, { method: "PATCH", headers: patchHeaders(0), body });
  await stored;
  const second = await send(location, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: "bbbbbbbb",
  });
  assert.equal(second.status, 409);
  assert.equal(second.headers.get("Upload-Offset"), "4");
  feed.close();
  const response = await first;
  await response.body?.cancel();
  assert.equal(response.status, 400);
  assert.equal(response.headers.get("Upload-Offset"), "4");
  const rest = await send(location, { method: "PATCH", headers: patchHeaders(4), body: "cccc" });
  assert.equal(rest.status, 204);
  const id = location.split("/").pop()!;
  assert.equal(new TextDecoder().decode(await collect(await server.store.read(id))), "aaaacccc");
});

Deno.test("onCreate can refuse an upload with a status and nothing is created", async () => {
  await using server = await setup({
    onCreate: (upload, request) =>
      request.headers.get("Authorization") === "Bearer ok" && upload.metadata.filename !== "bad.exe"
        ? undefined
        : { status: 403, message: "Not allowed" },
  });
  const refused = await send(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "1" }),
  });
  assert.equal(refused.status, 403);
  assert.equal(refused.text, "Not allowed");
  const bad = await send(server.endpoint, {
    method: "POST",
    headers: tus({
      "Upload-Length": "1",
      Authorization: "Bearer ok",
      "Upload-Metadata": `filename ${b64("bad.exe")}`,
    }),
  });
  assert.equal(bad.status, 403);
  assert.deepEqual(server.store.paths(), []);
  await create(server.endpoint, { "Upload-Length": "1", Authorization: "Bearer ok" });
  assert.equal(server.store.paths().length, 1);
});

Deno.test("onComplete runs once after the last byte; its failure is reported and the upload stays complete", async () => {
  const calls: string[] = [];
  const errors: unknown[] = [];
  await using server = await setup({
    onComplete: (upload) => {
      calls.push(`${upload.id}:${upload.offset}`);
      throw new Error("queue down");
    },
    onError: (error) => errors.push(error),
  });
  const location = await create(server.endpoint, { "Upload-Length": "4" });
  await send(location, { method: "PATCH", headers: patchHeaders(0), body: "ab" });
  assert.deepEqual(calls, []);
  const last = await send(location, { method: "PATCH", headers: patchHeaders(2), body: "cd" });
  assert.equal(last.status, 204);
  const repeat = await send(location, { method: "PATCH", headers: patchHeaders(4), body: "" });
  assert.equal(repeat.status, 204);
  const id = location.split("/").pop()!;
  assert.deepEqual(calls, [`${id}:4`]);
  assert.equal((errors[0] as Error).message, "queue down");
  assert.equal(
    (await send(location, { method: "HEAD", headers: tus() })).headers.get("Upload-Offset"),
    "4",
  );
  assert.deepEqual(await server.store.stat(id), { path: id, size: 4 });
});

Deno.test("onProgress is throttled by progressInterval and always reports the end of a request", async () => {
  for (const [interval, expectMany] of [[1_000, false], [0, true]] as const) {
    const seen: number[] = [];
    // A frozen clock: with an interval no time passes, so only the end-of-request report is due.
    await using server = await setup({
      progressInterval: interval,
      clock: new ManualClock(0),
      onProgress: ({ offset }) => void seen.push(offset),
    });
    const location = await create(server.endpoint, { "Upload-Length": "600000" });
    const response = await send(location, {
      method: "PATCH",
      headers: patchHeaders(0),
      body: bytes(600_000),
    });
    assert.equal(response.status, 204);
    assert.equal(seen.at(-1), 600_000);
    if (expectMany) assert.ok(seen.length > 2, `reports every chunk, got ${seen.length}`);
    else assert.deepEqual(seen, [600_000]);
  }
});

Deno.test("the router validates its options", () => {
  const store = new MemoryStore();
  assert.throws(() => uploads({ store, maxSize: 0 }), RangeError);
  assert.throws(() => uploads({ store: {} as MemoryStore, maxSize: 1 }), TypeError);
  assert.throws(() => uploads({ store, maxSize: 1, allowedTypes: ["png"] }), TypeError);
  assert.throws(() => uploads({ store, maxSize: 1, expiresIn: -5 }), RangeError);
  assert.ok(uploads({ store, maxSize: 1, state: new MemoryUploadState() }));
});

Deno.test("CORS headers are sent for allowed origins only", async () => {
  await using server = await setup({ cors: { origin: ["https://app.example.com"] } });
  const allowed = await send(server.endpoint, {
    method: "OPTIONS",
    headers: { Origin: "https://app.example.com" },
  });
  assert.equal(allowed.headers.get("Access-Control-Allow-Origin"), "https://app.example.com");
  assert.match(allowed.headers.get("Access-Control-Allow-Headers")!, /Upload-Offset/);
  assert.match(allowed.headers.get("Access-Control-Expose-Headers")!, /Location/);
  const other = await send(server.endpoint, {
    method: "OPTIONS",
    headers: { Origin: "https://evil.example" },
  });
  assert.equal(other.headers.get("Access-Control-Allow-Origin"), null);
});
