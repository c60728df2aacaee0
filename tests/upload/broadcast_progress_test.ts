import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  MemoryStore,
  MemoryUploadState,
  type ProgressHub,
  type UploadErrorSource,
  uploads,
  type UploadsOptions,
} from "../../src/upload/mod.ts";
import { MemoryUrlStore, uploadFile } from "../../src/upload/client.ts";
import { sign, startServer } from "../realtime/_support/server.ts";
import { TestClient } from "../realtime/_support/ws_client.ts";
import { bytes, collect, patchHeaders, serve, tus } from "./_serve.ts";
import { ManualClock } from "../support/manual_clock.ts";

/** The channel of the user the test request claims to be (a stand-in for real authentication). */
const userChannel = (_upload: unknown, request: Request) => {
  const user = request.headers.get("X-User");
  return user ? `private-user.${user}` : undefined;
};

async function setup(options: Partial<UploadsOptions> = {}) {
  const store = new MemoryStore();
  const files = uploads({ store, maxSize: 1 << 20, ...options });
  const served = await serve(new Hono().route("/files", files));
  return {
    store,
    endpoint: `${served.url}/files`,
    [Symbol.asyncDispose]: () => served[Symbol.asyncDispose](),
  };
}

async function create(endpoint: string, headers: Record<string, string>): Promise<string> {
  const response = await fetch(endpoint, { method: "POST", headers: tus(headers) });
  await response.body?.cancel();
  assert.equal(response.status, 201, `creation answered ${response.status}`);
  return response.headers.get("Location")!;
}

async function patch(location: string, offset: number, body: Uint8Array<ArrayBuffer>) {
  const response = await fetch(location, { method: "PATCH", headers: patchHeaders(offset), body });
  await response.body?.cancel();
  return response.status;
}

/** A hub that records what it is asked to broadcast. */
function recordingHub() {
  const calls: { channel: string; event: string; data: unknown }[] = [];
  const hub: ProgressHub = {
    broadcast(channel, event, data) {
      calls.push({ channel, event, data });
      changed();
    },
  };
  return { hub, calls };
}

Deno.test("a subscriber on a real WebSocket receives throttled progress and completion of a tus upload", async () => {
  await using realtime = startServer();
  await using alice = await TestClient.connect(realtime.url, await sign("alice"));
  await alice.subscribe("private-user.alice");
  await using server = await setup({
    // A frozen clock with a long interval: only the end of each request is due.
    clock: new ManualClock(0),
    progressInterval: 60_000,
    broadcastProgress: { hub: realtime.hub, channel: userChannel },
  });
  const data = bytes(250_000);
  const result = await uploadFile(new Blob([data]), {
    endpoint: server.endpoint,
    chunkSize: 100_000,
    headers: { "X-User": "alice" },
    urlStore: new MemoryUrlStore(),
  });
  const id = result.url.split("/").pop()!;
  const complete = await alice.next("message", (message) => message.event === "upload.complete");
  assert.deepEqual(complete, {
    type: "message",
    channel: "private-user.alice",
    event: "upload.complete",
    data: { id, offset: 250_000, length: 250_000 },
  });
  const progress = alice.received.filter((message) => message.type === "message");
  // Sent in order; a newer offset may replace one still waiting, never more than one per request.
  const offsets = progress.map((message) => {
    assert.equal(message.type === "message" && message.event, "upload.progress");
    return (message as { data: { offset: number } }).data.offset;
  });
  assert.ok(offsets.length >= 1 && offsets.length <= 3, `got ${JSON.stringify(offsets)}`);
  assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
  assert.equal(offsets.at(-1), 250_000);
  assert.ok(offsets.every((offset) => [100_000, 200_000, 250_000].includes(offset)));
  assert.deepEqual(await collect(await server.store.read(id)), data);
});

Deno.test("with a zero interval every chunk read is broadcast, offsets rising to the length", async () => {
  const { hub, calls } = recordingHub();
  await using server = await setup({
    progressInterval: 0,
    broadcastProgress: { hub, channel: () => "uploads", event: "progress", completeEvent: "done" },
  });
  const location = await create(server.endpoint, { "Upload-Length": "600000" });
  assert.equal(await patch(location, 0, bytes(600_000)), 204);
  const id = location.split("/").pop()!;
  await waitFor(() => calls.at(-1)?.event === "done");
  const offsets = calls.filter((call) => call.event === "progress").map((call) =>
    (call.data as { offset: number }).offset
  );
  assert.ok(offsets.length > 2, `reports every chunk, got ${offsets.length}`);
  assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
  assert.deepEqual(calls.at(-1), {
    channel: "uploads",
    event: "done",
    data: { id, offset: 600_000, length: 600_000 },
  });
});

Deno.test("a hub whose broadcast throws or rejects neither breaks the upload nor stops reporting", async () => {
  for (const failure of ["throws", "rejects"] as const) {
    const errors: { message: string; source: UploadErrorSource; offset: number }[] = [];
    let attempts = 0;
    await using server = await setup({
      progressInterval: 0,
      broadcastProgress: {
        hub: {
          broadcast() {
            attempts++;
            if (failure === "throws") throw new Error("fanout down");
            return Promise.reject(new Error("fanout down"));
          },
        },
        channel: () => "private-user.alice",
      },
      onError: (error, upload, source) => {
        errors.push({ message: (error as Error).message, source, offset: upload.offset });
        changed();
      },
    });
    const location = await create(server.endpoint, { "Upload-Length": "300000" });
    assert.equal(await patch(location, 0, bytes(100_000)), 204);
    assert.equal(await patch(location, 100_000, bytes(200_000, 2)), 204);
    const id = location.split("/").pop()!;
    assert.deepEqual(await server.store.stat(id), { path: id, size: 300_000 });
    await waitFor(() => errors.at(-1)?.offset === 300_000 && errors.length === attempts);
    assert.ok(attempts >= 3, `${failure}: the hub was still asked after failing`);
    assert.ok(errors.every((error) => error.message === "fanout down"));
    assert.ok(errors.every((error) => error.source === "broadcastProgress"));
  }
});

Deno.test("a slow hub does not hold up the upload and receives only the newest progress, in order", async () => {
  const calls: { event: string; offset: number }[] = [];
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => release = resolve);
  await using server = await setup({
    progressInterval: 0,
    broadcastProgress: {
      hub: {
        async broadcast(_channel, event, data) {
          calls.push({ event, offset: (data as { offset: number }).offset });
          changed();
          await blocked;
        },
      },
      channel: () => "uploads",
    },
  });
  const location = await create(server.endpoint, { "Upload-Length": "400000" });
  // Both requests finish while the first broadcast is still in flight.
  assert.equal(await patch(location, 0, bytes(200_000)), 204);
  assert.equal(await patch(location, 200_000, bytes(200_000, 3)), 204);
  assert.equal(calls.length, 1);
  release();
  await waitFor(() => calls.at(-1)?.event === "upload.complete");
  // The first, then the last progress (the ones in between were replaced), then completion.
  assert.deepEqual(calls.slice(1), [
    { event: "upload.progress", offset: 400_000 },
    { event: "upload.complete", offset: 400_000 },
  ]);
});

Deno.test("a channel function returning undefined sends nothing for that upload", async () => {
  const { hub, calls } = recordingHub();
  const asked: string[] = [];
  await using server = await setup({
    progressInterval: 0,
    broadcastProgress: {
      hub,
      channel: (upload, request) => {
        asked.push(`${upload.id}:${upload.metadata.name ?? ""}`);
        return userChannel(upload, request);
      },
    },
  });
  const location = await create(server.endpoint, { "Upload-Length": "200000" });
  assert.equal(await patch(location, 0, bytes(200_000)), 204);
  const id = location.split("/").pop()!;
  assert.deepEqual(await server.store.stat(id), { path: id, size: 200_000 });
  // An upload that does broadcast, started after, proves the sender had time to act.
  const other = await create(server.endpoint, { "Upload-Length": "1", "X-User": "bob" });
  assert.equal(await patch(other, 0, bytes(1)), 204);
  await waitFor(() => calls.some((call) => call.event === "upload.complete"));
  assert.ok(calls.every((call) => call.channel === "private-user.bob"));
  assert.ok(calls.every((call) => (call.data as { id: string }).id !== id));
  // Asked once per upload, at creation.
  assert.equal(asked.length, 2);
  assert.equal(asked[0], `${id}:`);
});

Deno.test("the channel chosen at creation is kept, so a resume on another instance broadcasts to it", async () => {
  const { hub, calls } = recordingHub();
  const store = new MemoryStore();
  const state = new MemoryUploadState();
  const options = {
    store,
    state,
    maxSize: 1000,
    broadcastProgress: { hub, channel: userChannel },
  };
  await using first = await serve(new Hono().route("/files", uploads(options)));
  await using second = await serve(new Hono().route("/files", uploads(options)));
  const location = await create(`${first.url}/files`, { "Upload-Length": "10", "X-User": "carol" });
  const id = location.split("/").pop()!;
  assert.equal(await patch(location, 0, bytes(4)), 204);
  // The resuming request carries no user: the channel comes from the record.
  assert.equal(await patch(`${second.url}/files/${id}`, 4, bytes(6)), 204);
  await waitFor(() => calls.some((call) => call.event === "upload.complete"));
  assert.deepEqual(
    calls.map((call) => [call.channel, call.event, (call.data as { offset: number }).offset]),
    [
      ["private-user.carol", "upload.progress", 4],
      ["private-user.carol", "upload.progress", 10],
      ["private-user.carol", "upload.complete", 10],
    ],
  );
});

Deno.test("a throwing or invalid channel function is reported and the upload goes on without broadcasts", async () => {
  const { hub, calls } = recordingHub();
  const errors: string[] = [];
  let answer: () => unknown = () => {
    throw new Error("no session");
  };
  await using server = await setup({
    broadcastProgress: { hub, channel: () => answer() as string },
    onError: (error, _upload, source) => void errors.push(`${source}: ${(error as Error).message}`),
  });
  for (const _ of [0, 1]) {
    const location = await create(server.endpoint, { "Upload-Length": "3" });
    assert.equal(await patch(location, 0, bytes(3)), 204);
    answer = () => 42;
  }
  assert.deepEqual(errors, [
    "broadcastProgress: no session",
    "broadcastProgress: broadcastProgress.channel must return a channel name or undefined, got 42",
  ]);
  assert.deepEqual(calls, []);
});

Deno.test("broadcastProgress is validated when the router is built", () => {
  const store = new MemoryStore();
  const build = (broadcastProgress: unknown) =>
    uploads({ store, maxSize: 1, broadcastProgress } as UploadsOptions);
  const { hub } = recordingHub();
  const channel = () => undefined;
  assert.throws(() => build(null), { name: "TypeError", message: /must be an object/ });
  assert.throws(() => build({ channel }), {
    name: "TypeError",
    message: /hub must have a broadcast/,
  });
  assert.throws(() => build({ hub: {}, channel }), TypeError);
  assert.throws(() => build({ hub, channel: "private-user.1" }), {
    name: "TypeError",
    message: /channel must be a function/,
  });
  assert.throws(() => build({ hub, channel, event: "" }), {
    name: "TypeError",
    message: "broadcastProgress.event must be a non-empty string",
  });
  assert.throws(() => build({ hub, channel, completeEvent: 7 }), {
    name: "TypeError",
    message: "broadcastProgress.completeEvent must be a non-empty string",
  });
  assert.ok(build({ hub, channel }));
});

/** Waiters for the next recorded broadcast or error. */
let waiters: (() => void)[] = [];

/** Called by the recording hubs and hooks after each thing they record. */
function changed(): void {
  const woken = waiters;
  waiters = [];
  for (const wake of woken) wake();
}

/**
 * Waits until `done()` holds, re-checking after each recorded broadcast or
 * error (broadcasts settle off the request path); no clock involved, so a busy
 * machine only makes it slower. The test runner's own timeout bounds a hang.
 */
async function waitFor(done: () => boolean): Promise<void> {
  while (!done()) await new Promise<void>((resolve) => waiters.push(resolve));
}
