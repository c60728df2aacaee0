/**
 * A lock held by a request whose client went quiet is not a wall: a new PATCH
 * or DELETE for the same upload asks the holder to stop (keeping or rolling
 * back its bytes), then proceeds; over a real socket.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { MemoryStore, RedisUploadState, uploads } from "../../src/upload/mod.ts";
import type { UploadStore } from "../../src/upload/store_mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { bytes, patchHeaders, serve, tus } from "./_serve.ts";
import { hostileServer, RawRequest, sha256, STATE_KINDS, WatchedState } from "./_hostile.ts";
import { ManualClock } from "../support/manual_clock.ts";

for (const kind of STATE_KINDS) {
  Deno.test(`a PATCH at the right offset stops a silent holder and completes the upload byte for byte (${kind} state)`, async () => {
    await using server = await hostileServer(kind, { clock: new ManualClock() });
    const upload = await server.create({ "Upload-Length": "10000" });
    const data = bytes(10_000);
    await using silent = await RawRequest.open(
      "PATCH",
      upload.location,
      patchHeaders(0, { "Content-Length": "10000" }),
    );
    await silent.send(data.subarray(0, 3000));
    await server.progress.reached(upload.id, 3000);

    const takeover = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(3000),
      body: data.slice(3000),
    });
    await takeover.body?.cancel();
    assert.equal(takeover.status, 204);
    assert.equal(takeover.headers.get("Upload-Offset"), "10000");
    assert.deepEqual(await server.file(upload.id), data);
    const stopped = await silent.response();
    assert.equal(stopped.status, 400);
    assert.equal(stopped.headers.get("Upload-Offset"), "3000");
  });
}

Deno.test("a PATCH at the offset HEAD showed learns from 409 where the stopped holder left off", async () => {
  await using server = await hostileServer("memory", { clock: new ManualClock() });
  const upload = await server.create({ "Upload-Length": "10000" });
  const data = bytes(10_000);
  await using silent = await RawRequest.open(
    "PATCH",
    upload.location,
    patchHeaders(0, { "Content-Length": "10000" }),
  );
  await silent.send(data.subarray(0, 3000));
  await server.progress.reached(upload.id, 3000);
  const head = await server.head(upload.location);
  assert.equal(head.headers.get("Upload-Offset"), "0", "HEAD never cuts off a request");
  const stale = await fetch(upload.location, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: data,
  });
  await stale.body?.cancel();
  assert.equal(stale.status, 409);
  assert.equal(stale.headers.get("Upload-Offset"), "3000");
  const resumed = await fetch(upload.location, {
    method: "PATCH",
    headers: patchHeaders(3000),
    body: data.slice(3000),
  });
  await resumed.body?.cancel();
  assert.equal(resumed.status, 204);
  assert.deepEqual(await server.file(upload.id), data);
});

Deno.test("a silent checksummed holder that is stopped discards its chunk, and the new PATCH starts from its offset", async () => {
  await using server = await hostileServer("memory", { clock: new ManualClock() });
  const upload = await server.create({ "Upload-Length": "10000" });
  const data = bytes(10_000);
  await using silent = await RawRequest.open(
    "PATCH",
    upload.location,
    patchHeaders(0, { "Content-Length": "10000", "Upload-Checksum": await sha256(data) }),
  );
  await silent.send(data.subarray(0, 3000));
  await server.progress.reached(upload.id, 3000);
  const takeover = await fetch(upload.location, {
    method: "PATCH",
    headers: patchHeaders(0, { "Upload-Checksum": await sha256(data) }),
    body: data,
  });
  await takeover.body?.cancel();
  assert.equal(takeover.status, 204);
  assert.deepEqual(await server.file(upload.id), data);
  assert.equal((await silent.response()).headers.get("Upload-Offset"), "0");
});

Deno.test("DELETE stops a silent holder and removes the upload", async () => {
  await using server = await hostileServer("memory", { clock: new ManualClock() });
  const upload = await server.create({ "Upload-Length": "10000" });
  await using silent = await RawRequest.open(
    "PATCH",
    upload.location,
    patchHeaders(0, { "Content-Length": "10000" }),
  );
  await silent.send(bytes(3000));
  await server.progress.reached(upload.id, 3000);
  const deleted = await fetch(upload.location, { method: "DELETE", headers: tus() });
  await deleted.body?.cancel();
  assert.equal(deleted.status, 204);
  assert.equal((await server.head(upload.location)).status, 404);
  assert.deepEqual(await server.paths(), []);
  assert.equal((await silent.response()).status, 400);
});

/** A MemoryStore whose appends wait at a gate once it is shut. */
class GatedStore extends MemoryStore {
  shut = false;
  #opened: (() => void) | null = null;
  #waiting: (() => void) | null = null;
  open(): void {
    this.shut = false;
    this.#opened?.();
  }
  /** Resolves once an append is waiting at the shut gate. */
  blocked(): Promise<void> {
    return new Promise((resolve) => (this.#waiting = resolve));
  }
  override async resumeChunkedUpload(path: string, offset: number) {
    const upload = await super.resumeChunkedUpload(path, offset);
    const append = upload.append.bind(upload);
    upload.append = async (chunk) => {
      if (this.shut) {
        const opened = new Promise<void>((resolve) => (this.#opened = resolve));
        this.#waiting?.();
        await opened;
      }
      await append(chunk);
    };
    return upload;
  }
}

Deno.test("a holder that cannot stop within lockDrainTimeout leaves the new PATCH a 423", async () => {
  const clock = new ManualClock();
  const store = new GatedStore();
  await using server = await hostileServer("memory", {
    clock,
    store: store as UploadStore,
    lockDrainTimeout: 3_000,
  });
  const upload = await server.create({ "Upload-Length": "10000" });
  const data = bytes(10_000);
  await using holder = await RawRequest.open(
    "PATCH",
    upload.location,
    patchHeaders(0, { "Content-Length": "10000" }),
  );
  await holder.send(data.subarray(0, 1000));
  await server.progress.reached(upload.id, 1000);
  store.shut = true;
  const blocked = store.blocked();
  await holder.send(data.subarray(1000, 2000));
  await blocked;

  const waiting = fetch(upload.location, {
    method: "PATCH",
    headers: patchHeaders(2000),
    body: data.slice(2000),
  });
  await clock.armed(3_000);
  clock.advance(3_000);
  const refused = await waiting;
  await refused.body?.cancel();
  assert.equal(refused.status, 423);

  const released = server.state.released(upload.id);
  store.open();
  assert.equal((await holder.response()).status, 400);
  await released;
  assert.equal((await server.state.get(upload.id))?.offset, 2000);
});

Deno.test("with RedisUploadState a holder on another instance is not stopped: 423 until its idle timeout frees the upload", async () => {
  await using stack = await startRedisStack();
  const clock = new ManualClock();
  const store = new MemoryStore();
  const name = crypto.randomUUID();
  const stateA = new WatchedState(new RedisUploadState({ redis: stack.newRedis(), prefix: name }));
  let progressed: (() => void) | null = null;
  const instance = (state: RedisUploadState | WatchedState) =>
    serve(
      new Hono().route(
        "/files",
        uploads({
          store,
          state,
          clock,
          maxSize: 1 << 20,
          progressInterval: 0,
          onProgress: () => progressed?.(),
        }),
      ),
    );
  await using a = await instance(stateA);
  await using b = await instance(new RedisUploadState({ redis: stack.newRedis(), prefix: name }));
  const created = await fetch(`${a.url}/files`, {
    method: "POST",
    headers: tus({ "Upload-Length": "10000" }),
  });
  await created.body?.cancel();
  const location = created.headers.get("Location")!;
  const id = location.split("/").pop()!;
  const data = bytes(10_000);
  await using silent = await RawRequest.open(
    "PATCH",
    location,
    patchHeaders(0, { "Content-Length": "10000" }),
  );
  const stored = new Promise<void>((resolve) => (progressed = resolve));
  await silent.send(data.subarray(0, 3000));
  await stored;

  const elsewhere = await fetch(`${b.url}/files/${id}`, {
    method: "PATCH",
    headers: patchHeaders(3000),
    body: data.slice(3000),
  });
  await elsewhere.body?.cancel();
  assert.equal(elsewhere.status, 423);

  const released = stateA.released(id);
  await clock.armed(30_000);
  clock.advance(30_000);
  assert.equal((await silent.response()).status, 408);
  await released;
  const retried = await fetch(`${b.url}/files/${id}`, {
    method: "PATCH",
    headers: patchHeaders(3000),
    body: data.slice(3000),
  });
  await retried.body?.cancel();
  assert.equal(retried.status, 204);
  assert.deepEqual(new Uint8Array(await new Response(await store.read(id)).arrayBuffer()), data);
});

Deno.test("two takeovers racing for a silent holder's upload never interleave their bytes", async () => {
  await using server = await hostileServer("memory", { clock: new ManualClock() });
  const upload = await server.create({ "Upload-Length": "10000" });
  const mine = bytes(10_000, 1);
  const theirs = bytes(10_000, 2);
  await using silent = await RawRequest.open(
    "PATCH",
    upload.location,
    patchHeaders(0, { "Content-Length": "10000" }),
  );
  await silent.send(mine.subarray(0, 3000));
  await server.progress.reached(upload.id, 3000);
  const statuses = await Promise.all([mine, theirs].map(async (data) => {
    const response = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(3000),
      body: data.slice(3000),
    });
    await response.body?.cancel();
    return response.status;
  }));
  for (const status of statuses) assert.ok([204, 400, 409, 423].includes(status), `${status}`);
  const offset = Number((await server.head(upload.location)).headers.get("Upload-Offset"));
  if (offset < 10_000) {
    const rest = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(offset),
      body: mine.slice(offset),
    });
    await rest.body?.cancel();
    assert.equal(rest.status, 204);
  }
  const file = await server.file(upload.id);
  assert.deepEqual(file.subarray(0, 3000), mine.subarray(0, 3000));
  const middle = file.subarray(3000, offset);
  assert.ok(
    [mine, theirs].some((data) => middle.every((byte, i) => byte === data[3000 + i])),
    "the bytes after the stopped holder's come from one takeover alone",
  );
  assert.deepEqual(file.subarray(offset), mine.subarray(offset));
});
