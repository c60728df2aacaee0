/**
 * uploadFile() resumes after each status a retry can fix (408, 409, 423, 503
 * with Retry-After), each caused for real on a real server over a real
 * socket: it asks the server for its offset (HEAD) and goes on from there,
 * waiting as the shared back-off says, up to `retry.limit`.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  MemoryStore,
  MemoryUploadState,
  RedisUploadState,
  uploads,
  type UploadsOptions,
} from "../../src/upload/mod.ts";
import { MemoryUrlStore, uploadFile, UploadRejectedError } from "../../src/upload/client.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { ProgressLog } from "./_hostile.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { bytes, collect, patchHeaders, serve } from "./_serve.ts";

/** A served router that logs each request as `METHOD [offset] -> status`. */
async function setup(options: Partial<UploadsOptions> = {}) {
  const store = new MemoryStore();
  const state = options.state ?? new MemoryUploadState();
  const progress = new ProgressLog();
  const log: string[] = [];
  const app = new Hono();
  app.use("*", async (c, next) => {
    await next();
    const offset = c.req.method === "PATCH" ? ` ${c.req.header("Upload-Offset")}` : "";
    log.push(`${c.req.method}${offset} ${c.res.status}`);
  });
  app.route(
    "/files",
    uploads({
      store,
      state,
      maxSize: 1 << 20,
      progressInterval: 0,
      onProgress: (event) => progress.push(event),
      onError: () => {},
      ...options,
    }),
  );
  const served = await serve(app);
  return {
    store,
    state,
    progress,
    log,
    endpoint: `${served.url}/files`,
    async stored(url: string) {
      return await collect(await store.read(url.split("/").pop()!));
    },
    [Symbol.asyncDispose]: () => served[Symbol.asyncDispose](),
  };
}

/** A fetch that runs `second` in place of the second PATCH. */
function onSecondPatch(
  second: (input: RequestInfo | URL, init: RequestInit) => Promise<Response>,
): typeof fetch {
  let patches = 0;
  return (input, init) => {
    if (init?.method === "PATCH" && ++patches === 2) return second(input, init);
    return fetch(input, init);
  };
}

const idOf = (url: RequestInfo | URL) => String(url).split("/").pop()!;

Deno.test("uploadFile() resumes after a 408: the server kept what arrived, the client goes on from there", async () => {
  const serverClock = new ManualClock();
  await using server = await setup({ clock: serverClock, bodyIdleTimeout: 1_000 });
  const data = bytes(3000);
  const stalling = onSecondPatch(async (input, init) => {
    const whole = new Uint8Array(await (init.body as Blob).arrayBuffer());
    let feed!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (feed = c) });
    feed.enqueue(whole.slice(0, 300));
    const answer = fetch(input, { ...init, body, duplex: "half" } as RequestInit);
    // The 300 bytes are stored; the next read waits for bytes that never come.
    await server.progress.reached(idOf(input), 1300);
    await serverClock.armed(1_000);
    serverClock.advance(1_000);
    const response = await answer;
    feed.close();
    return response;
  });
  const result = await uploadFile(new Blob([data]), {
    endpoint: server.endpoint,
    chunkSize: 1000,
    retry: { initial: 0 },
    urlStore: new MemoryUrlStore(),
    fetch: stalling,
  });
  assert.deepEqual(server.log, [
    "POST 201",
    "PATCH 0 204",
    "PATCH 1000 408",
    "HEAD 200",
    "PATCH 1300 204",
    "PATCH 2300 204",
  ]);
  assert.deepEqual(await server.stored(result.url), data);
});

Deno.test("uploadFile() resumes after a 409: another request moved the offset, the client reads it and goes on", async () => {
  await using server = await setup();
  const data = bytes(3000);
  const racing = onSecondPatch(async (input, init) => {
    // Another tab of the same page sends the next 200 bytes first.
    const other = await fetch(input, {
      method: "PATCH",
      headers: patchHeaders(1000),
      body: data.slice(1000, 1200),
    });
    await other.body?.cancel();
    assert.equal(other.status, 204);
    return await fetch(input, init);
  });
  const result = await uploadFile(new Blob([data]), {
    endpoint: server.endpoint,
    chunkSize: 1000,
    retry: { initial: 0 },
    urlStore: new MemoryUrlStore(),
    fetch: racing,
  });
  assert.deepEqual(server.log, [
    "POST 201",
    "PATCH 0 204",
    "PATCH 1000 204",
    "PATCH 1000 409",
    "HEAD 200",
    "PATCH 1200 204",
    "PATCH 2200 204",
  ]);
  assert.deepEqual(await server.stored(result.url), data);
});

Deno.test("uploadFile() resumes after a 423: the upload was locked elsewhere, then freed", async () => {
  await using server = await setup();
  const data = bytes(3000);
  const locked = onSecondPatch(async (input, init) => {
    // Another instance holds the lock (not a request of this process, which would be asked to stop).
    const held = await server.state.lock(idOf(input));
    assert.ok(held);
    const response = await fetch(input, init);
    await held.release();
    return response;
  });
  const result = await uploadFile(new Blob([data]), {
    endpoint: server.endpoint,
    chunkSize: 1000,
    retry: { initial: 0 },
    urlStore: new MemoryUrlStore(),
    fetch: locked,
  });
  assert.deepEqual(server.log, [
    "POST 201",
    "PATCH 0 204",
    "PATCH 1000 423",
    "HEAD 200",
    "PATCH 1000 204",
    "PATCH 2000 204",
  ]);
  assert.deepEqual(await server.stored(result.url), data);
});

Deno.test("uploadFile() waits out a 503's Retry-After while Redis is unreachable, then resumes", async () => {
  await using stack = await startRedisStack();
  await using server = await setup({
    state: new RedisUploadState({ redis: stack.newRedis(), prefix: crypto.randomUUID() }),
  });
  const clock = new ManualClock();
  const data = bytes(3000);
  const outage = onSecondPatch(async (input, init) => {
    await stack.stopGateway();
    return await fetch(input, init);
  });
  const done = uploadFile(new Blob([data]), {
    endpoint: server.endpoint,
    chunkSize: 1000,
    // No back-off of its own: any wait is the server's Retry-After (5 s).
    retry: { initial: 0 },
    urlStore: new MemoryUrlStore(),
    fetch: outage,
    clock,
  });
  await clock.armed(5_000);
  assert.deepEqual(server.log, ["POST 201", "PATCH 0 204", "PATCH 1000 503"]);
  await stack.startGateway();
  clock.advance(5_000);
  const result = await done;
  assert.deepEqual(server.log.slice(3), ["HEAD 200", "PATCH 1000 204", "PATCH 2000 204"]);
  assert.deepEqual(await server.stored(result.url), data);
});

Deno.test("uploadFile() waits as the back-off says between retries and gives up after retry.limit", async () => {
  await using server = await setup();
  const clock = new ManualClock();
  let held: { release(): Promise<void> } | null = null;
  const lockAfterCreation: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (init?.method === "POST") {
      held = await server.state.lock(idOf(response.headers.get("Location")!));
    }
    return response;
  };
  const done = uploadFile(new Blob([bytes(100)]), {
    endpoint: server.endpoint,
    retry: { limit: 3, initial: 100, factor: 2, jitter: "none" },
    urlStore: new MemoryUrlStore(),
    fetch: lockAfterCreation,
    clock,
  });
  const rejected = assert.rejects(
    done,
    (error) => error instanceof UploadRejectedError && error.status === 423,
  );
  for (const wait of [100, 200, 400]) {
    await clock.armed(wait);
    clock.advance(wait);
  }
  await rejected;
  assert.deepEqual(server.log, [
    "POST 201",
    "PATCH 0 423",
    "HEAD 200",
    "PATCH 0 423",
    "HEAD 200",
    "PATCH 0 423",
    "HEAD 200",
    "PATCH 0 423",
  ]);
  await held!.release();
});

Deno.test("uploadFile() checks its retry option", async () => {
  const blob = new Blob(["x"]);
  const start = (retry: unknown) =>
    uploadFile(blob, { endpoint: "http://x.test/files", retry } as never);
  await assert.rejects(start({ limit: -1 }), RangeError);
  await assert.rejects(start({ factor: 0.5 }), RangeError);
  await assert.rejects(start({ max: Infinity }), RangeError);
  await assert.rejects(start({ jitter: "some" }), TypeError);
  await assert.rejects(start(3), TypeError);
});
