/**
 * The router's one error boundary: real failures (Redis stopped, a store that
 * throws, bytes or records that vanish mid-request, a corrupt record) reach
 * the client as tus answers with `Tus-Resumable` and the CORS headers, over a
 * real socket, and tus clients retry what is worth retrying.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Hono } from "hono";
import * as tus from "tus-js-client";
import {
  MemoryStore,
  RedisUploadState,
  type UploadErrorSource,
  uploads,
  type UploadsOptions,
} from "../../src/upload/mod.ts";
import type { ChunkedUpload, UploadState, UploadStore } from "../../src/upload/store_mod.ts";
import { FileStore } from "../../src/upload/file_store.ts";
import { KilnError } from "../../src/errors.ts";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { bytes, patchHeaders, serve, tus as tusHeaders } from "./_serve.ts";
import { RawRequest } from "./_hostile.ts";

const ORIGIN = "https://app.example.com";

/** A served router with CORS on, recording what `onError` is told. */
async function setup(options: Partial<UploadsOptions> & { store?: UploadStore } = {}) {
  const told: { error: unknown; id: string; source: UploadErrorSource }[] = [];
  const store = options.store ?? new MemoryStore();
  const files = uploads({
    maxSize: 1 << 20,
    cors: { origin: ORIGIN },
    onError: (error, upload, source) => void told.push({ error, id: upload.id, source }),
    ...options,
    store,
  });
  const served = await serve(new Hono().route("/files", files));
  const endpoint = `${served.url}/files`;
  return {
    told,
    store,
    endpoint,
    async create(length = 10): Promise<string> {
      const response = await send(endpoint, "POST", { "Upload-Length": String(length) });
      assert.equal(response.status, 201, `creation answered ${response.status}`);
      return response.headers.get("Location")!;
    },
    [Symbol.asyncDispose]: () => served[Symbol.asyncDispose](),
  };
}

/** A tus request from the allowed origin, its body read. */
async function send(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: BodyInit,
) {
  const response = await fetch(url, {
    method,
    headers: { ...tusHeaders(headers), Origin: ORIGIN },
    body,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

/** The headers every tus answer must carry, errors included. */
function assertTusHeaders(headers: Headers, what: string): void {
  assert.equal(headers.get("Tus-Resumable"), "1.0.0", `${what}: Tus-Resumable`);
  assert.equal(headers.get("Access-Control-Allow-Origin"), ORIGIN, `${what}: CORS origin`);
  assert.match(
    headers.get("Access-Control-Expose-Headers") ?? "",
    /Upload-Offset/,
    `${what}: CORS exposed headers`,
  );
}

async function redisState(stack: RedisStack): Promise<UploadState> {
  return await Promise.resolve(
    new RedisUploadState({ redis: stack.newRedis(), prefix: crypto.randomUUID() }),
  );
}

Deno.test("with Redis stopped, HEAD, PATCH, POST and DELETE answer 503 with Retry-After and the tus and CORS headers", async () => {
  await using stack = await startRedisStack();
  await using server = await setup({ state: await redisState(stack) });
  const location = await server.create();
  const stored = (server.store as MemoryStore).paths();
  await stack.stopRedis();

  const answers = {
    HEAD: await send(location, "HEAD"),
    PATCH: await send(location, "PATCH", patchHeaders(0), "abc"),
    POST: await send(server.endpoint, "POST", { "Upload-Length": "5" }),
    DELETE: await send(location, "DELETE"),
  };
  for (const [method, answer] of Object.entries(answers)) {
    assert.equal(answer.status, 503, `${method} answered ${answer.status}: ${answer.text}`);
    assert.equal(answer.headers.get("Retry-After"), "5", `${method}: Retry-After`);
    assertTusHeaders(answer.headers, method);
  }
  // The refused POST left no orphan behind, and nothing stored before was touched.
  assert.deepEqual((server.store as MemoryStore).paths(), stored);
  assert.ok(server.told.length >= 4);
  for (const { error, source } of server.told) {
    assert.equal(source, "request");
    assert.ok(error instanceof KilnError && error.code === "REDIS_UNAVAILABLE", String(error));
  }
});

Deno.test("a store that throws mid-PATCH gives 500 with the tus headers and leaves the recorded offset as it was", async () => {
  const inner = new MemoryStore();
  let failing = false;
  const store: UploadStore = {
    startChunkedUpload: (path) => inner.startChunkedUpload(path),
    async resumeChunkedUpload(path, offset) {
      const upload = await inner.resumeChunkedUpload(path, offset);
      const broken: ChunkedUpload = {
        get path() {
          return upload.path;
        },
        get offset() {
          return upload.offset;
        },
        append: (chunk) => failing ? Promise.reject(new Error("disk full")) : upload.append(chunk),
        rollback: (to) => upload.rollback(to),
        release: () => upload.release(),
        finalize: () => upload.finalize(),
        abort: () => upload.abort(),
      };
      return broken;
    },
    uploadWithProgress: (path, stream, onProgress) =>
      inner.uploadWithProgress(path, stream, onProgress),
    stat: (path) => inner.stat(path),
    read: (path) => inner.read(path),
    delete: (path) => inner.delete(path),
  };
  await using server = await setup({ store });
  const location = await server.create(10);
  assert.equal((await send(location, "PATCH", patchHeaders(0), "abc")).status, 204);
  failing = true;
  const failed = await send(location, "PATCH", patchHeaders(3), "defg");
  assert.equal(failed.status, 500);
  assertTusHeaders(failed.headers, "PATCH");
  assert.doesNotMatch(failed.text, /disk full/, "internal messages stay on the server");
  assert.equal(server.told.length, 1);
  assert.equal(server.told[0].source, "request");
  assert.equal((server.told[0].error as Error).message, "disk full");
  failing = false;
  const head = await send(location, "HEAD");
  assert.equal(head.headers.get("Upload-Offset"), "3");
  assert.equal((await send(location, "PATCH", patchHeaders(3), "defghij")).status, 204);
});

Deno.test("an upload whose bytes vanished before a PATCH answers 404 with the tus headers", async () => {
  const directory = await Deno.makeTempDir({ prefix: "kiln-boundary-" });
  try {
    await using server = await setup({ store: new FileStore({ directory }) });
    const location = await server.create(10);
    const id = location.split("/").pop()!;
    await Deno.remove(`${directory}/.partial/${id}`);
    const answer = await send(location, "PATCH", patchHeaders(0), "abc");
    assert.equal(answer.status, 404, answer.text);
    assertTusHeaders(answer.headers, "PATCH");
    assert.deepEqual(
      server.told,
      [],
      "a missing upload is the client's news, not a server failure",
    );
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("a record deleted from Redis while its PATCH streams answers 404 with the tus headers", async () => {
  await using stack = await startRedisStack();
  const prefix = crypto.randomUUID();
  const reached = Promise.withResolvers<void>();
  await using server = await setup({
    state: new RedisUploadState({ redis: stack.newRedis(), prefix }),
    progressInterval: 0,
    onProgress: ({ offset }) => offset >= 3000 && reached.resolve(),
  });
  const location = await server.create(10_000);
  const id = location.split("/").pop()!;
  await using request = await RawRequest.open(
    "PATCH",
    location,
    { ...patchHeaders(0), Origin: ORIGIN, "Content-Length": "6000" },
  );
  await request.send(bytes(3000));
  await reached.promise;
  assert.equal(await stack.redis.del(`${prefix}:{upload}:record:${id}`), 1);
  await request.send(bytes(3000, 2));
  const answer = await request.response();
  assert.equal(answer.status, 404);
  assertTusHeaders(answer.headers, "PATCH");
});

Deno.test("a record in Redis that is not JSON answers 500 with the tus headers, tells onError and keeps it", async () => {
  await using stack = await startRedisStack();
  const prefix = crypto.randomUUID();
  await using server = await setup({
    state: new RedisUploadState({ redis: stack.newRedis(), prefix }),
  });
  const location = await server.create(10);
  const id = location.split("/").pop()!;
  const key = `${prefix}:{upload}:record:${id}`;
  await stack.redis.set(key, "{truncated");
  for (const method of ["HEAD", "PATCH", "DELETE"]) {
    const answer = method === "PATCH"
      ? await send(location, method, patchHeaders(0), "abc")
      : await send(location, method);
    assert.equal(answer.status, 500, `${method}: ${answer.text}`);
    assertTusHeaders(answer.headers, method);
  }
  assert.deepEqual(server.told.map(({ id, source }) => [id, source]), [
    [id, "record"],
    [id, "record"],
    [id, "record"],
  ]);
  assert.equal(await stack.redis.get(key), "{truncated", "nothing is removed");
});

Deno.test("onResponseError reshapes an answer and keeps the tus headers; a throwing hook leaves the original", async () => {
  await using stack = await startRedisStack();
  const seen: number[] = [];
  let mode: "reshape" | "throw" | "keep" = "reshape";
  await using server = await setup({
    state: await redisState(stack),
    onResponseError: (error, request, answer) => {
      seen.push(answer.status);
      assert.ok(error instanceof KilnError);
      assert.equal(request.method, "HEAD");
      if (mode === "throw") throw new Error("hook broke");
      if (mode === "keep") return;
      return { status: 507, headers: { "X-Reason": (error as KilnError).code }, message: "later" };
    },
  });
  const location = await server.create();
  await stack.stopRedis();
  const reshaped = await send(location, "HEAD");
  assert.equal(reshaped.status, 507);
  assert.equal(reshaped.headers.get("X-Reason"), "REDIS_UNAVAILABLE");
  assertTusHeaders(reshaped.headers, "reshaped");
  mode = "throw";
  const original = await send(location, "HEAD");
  assert.equal(original.status, 503);
  assert.equal(original.headers.get("Retry-After"), "5");
  assertTusHeaders(original.headers, "after a throwing hook");
  assert.ok(server.told.some(({ error }) => (error as Error).message === "hook broke"));
  mode = "keep";
  assert.equal((await send(location, "HEAD")).status, 503);
  assert.deepEqual(seen, [503, 503, 503]);
});

Deno.test("tus-js-client retries a creation refused with 503 while Redis is down, and finishes once it is back", async () => {
  await using stack = await startRedisStack();
  const state = await redisState(stack);
  const store = new MemoryStore();
  const failures: unknown[] = [];
  const files = uploads({
    store,
    state,
    maxSize: 1 << 20,
    onError: (error) => void failures.push(error),
  });
  const refused = Promise.withResolvers<void>();
  const restarted = Promise.withResolvers<void>();
  let posts = 0;
  let refusal: { status: number; tus: string | null } | undefined;
  const app = new Hono();
  app.use("*", async (c, next) => {
    // The second POST (the retry) waits until Redis is back: a positive signal, no sleep.
    if (c.req.method === "POST" && ++posts === 2) await restarted.promise;
    await next();
    if (c.req.method === "POST" && posts === 1) {
      refusal = { status: c.res.status, tus: c.res.headers.get("Tus-Resumable") };
      refused.resolve();
    }
  });
  app.route("/files", files);
  await using served = await serve(app);
  await stack.stopRedis();
  const data = bytes(2500);
  const finished = new Promise<string>((resolve, reject) => {
    const client: tus.Upload = new tus.Upload(Buffer.from(data), {
      endpoint: `${served.url}/files`,
      chunkSize: 1000,
      retryDelays: [0],
      storeFingerprintForResuming: false,
      onError: reject,
      onSuccess: () => resolve(client.url!),
    });
    client.start();
  });
  await refused.promise;
  assert.deepEqual(refusal, { status: 503, tus: "1.0.0" });
  await stack.startRedis();
  restarted.resolve();
  const url = await finished;
  assert.equal(posts, 2);
  assert.ok(failures.every((error) => (error as KilnError).code === "REDIS_UNAVAILABLE"));
  const id = url.split("/").pop()!;
  assert.deepEqual(new Uint8Array(await new Response(await store.read(id)).arrayBuffer()), data);
});
