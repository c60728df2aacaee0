/**
 * Slow and silent clients: a PATCH body that stops sending ends after
 * `bodyIdleTimeout` (driven by an injected clock), and at most
 * `maxConcurrentPatches` bodies are read at once; over a real socket.
 */
import assert from "node:assert/strict";
import { MemoryStore, uploads } from "../../src/upload/mod.ts";
import { bytes, patchHeaders, tus } from "./_serve.ts";
import { hostileServer, RawRequest, sha256, STATE_KINDS } from "./_hostile.ts";
import { ManualClock } from "../support/manual_clock.ts";

const IDLE = 30_000;

for (const kind of STATE_KINDS) {
  Deno.test(`a PATCH body that goes silent ends after bodyIdleTimeout with 408, keeping what arrived (${kind} state)`, async () => {
    const clock = new ManualClock();
    await using server = await hostileServer(kind, { clock });
    const upload = await server.create({ "Upload-Length": "10000" });
    const data = bytes(10_000);
    await using silent = await RawRequest.open(
      "PATCH",
      upload.location,
      patchHeaders(0, { "Content-Length": "10000" }),
    );
    await silent.send(data.subarray(0, 3000));
    await server.progress.reached(upload.id, 3000);
    await clock.armed(IDLE);
    clock.advance(IDLE - 1);
    const released = server.state.released(upload.id);
    clock.advance(1);
    const response = await silent.response();
    await released;
    assert.equal(response.status, 408);
    assert.equal(response.headers.get("Upload-Offset"), "3000");
    assert.equal(response.headers.get("Tus-Resumable"), "1.0.0");
    assert.equal((await server.state.get(upload.id))?.offset, 3000);

    const rest = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(3000),
      body: data.slice(3000),
    });
    await rest.body?.cancel();
    assert.equal(rest.status, 204, "the lock was released");
    assert.deepEqual(await server.file(upload.id), data);
  });
}

Deno.test("a silent checksummed PATCH ends after bodyIdleTimeout and its chunk is discarded", async () => {
  const clock = new ManualClock();
  await using server = await hostileServer("memory", { clock, bodyIdleTimeout: 5_000 });
  const upload = await server.create({ "Upload-Length": "10000" });
  const data = bytes(10_000);
  await using silent = await RawRequest.open(
    "PATCH",
    upload.location,
    patchHeaders(0, { "Content-Length": "10000", "Upload-Checksum": await sha256(data) }),
  );
  await silent.send(data.subarray(0, 3000));
  await server.progress.reached(upload.id, 3000);
  await clock.armed(5_000);
  clock.advance(5_000);
  const response = await silent.response();
  assert.equal(response.status, 408);
  assert.equal(response.headers.get("Upload-Offset"), "0");
  assert.equal(server.progress.last(upload.id), 0);
  assert.equal((await server.state.get(upload.id))?.offset, 0);
});

Deno.test("the idle timer restarts with every read: a slow but steady body is not cut off", async () => {
  const clock = new ManualClock();
  await using server = await hostileServer("memory", { clock, bodyIdleTimeout: 1_000 });
  const upload = await server.create({ "Upload-Length": "4000" });
  const data = bytes(4000);
  await using slow = await RawRequest.open(
    "PATCH",
    upload.location,
    patchHeaders(0, { "Content-Length": "4000" }),
  );
  for (let offset = 0; offset < 4000; offset += 1000) {
    await slow.send(data.subarray(offset, offset + 1000));
    if (offset + 1000 === 4000) break;
    await server.progress.reached(upload.id, offset + 1000);
    await clock.armed(1_000);
    clock.advance(999);
  }
  assert.equal((await slow.response()).status, 204);
  assert.deepEqual(await server.file(upload.id), data);
});

Deno.test("past maxConcurrentPatches bodies, a PATCH gets 503 with Retry-After and tus headers, and no lock is taken", async () => {
  await using server = await hostileServer("memory", { maxConcurrentPatches: 2 });
  const trickling: RawRequest[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const upload = await server.create({ "Upload-Length": "10000" });
      const request = await RawRequest.open(
        "PATCH",
        upload.location,
        patchHeaders(0, { "Content-Length": "10000" }),
      );
      trickling.push(request);
      await request.send(bytes(10));
      await server.progress.reached(upload.id, 10);
    }
    const third = await server.create({ "Upload-Length": "100" });
    const refused = await fetch(third.location, {
      method: "PATCH",
      headers: patchHeaders(0),
      body: bytes(100),
    });
    await refused.body?.cancel();
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("Retry-After"), "1");
    assert.equal(refused.headers.get("Tus-Resumable"), "1.0.0");
    assert.equal((await server.state.get(third.id))?.offset, 0);

    const withBody = await fetch(server.endpoint, {
      method: "POST",
      headers: tus({ "Upload-Length": "100", "Content-Type": "application/offset+octet-stream" }),
      body: bytes(100),
    });
    await withBody.body?.cancel();
    assert.equal(withBody.status, 503, "creation-with-upload bodies count too");
    assert.equal(withBody.headers.get("Retry-After"), "1");

    const released = server.state.released(server.progress.events[0].id);
    trickling[0].drop();
    await released;
    const admitted = await fetch(third.location, {
      method: "PATCH",
      headers: patchHeaders(0),
      body: bytes(100),
    });
    await admitted.body?.cancel();
    assert.equal(admitted.status, 204);
  } finally {
    for (const request of trickling) request.drop();
  }
});

Deno.test("uploads() refuses malformed body limits at construction", () => {
  const store = new MemoryStore();
  for (const bodyIdleTimeout of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => uploads({ store, maxSize: 1, bodyIdleTimeout }), RangeError);
  }
  for (const maxConcurrentPatches of [0, -1, 1.5, NaN]) {
    assert.throws(() => uploads({ store, maxSize: 1, maxConcurrentPatches }), RangeError);
  }
  for (const lockDrainTimeout of [-1, 1.5, NaN, Infinity]) {
    assert.throws(() => uploads({ store, maxSize: 1, lockDrainTimeout }), RangeError);
  }
  // @ts-expect-error: not a Clock
  assert.throws(() => uploads({ store, maxSize: 1, clock: { now: () => 0 } }), TypeError);
  uploads({ store, maxSize: 1, bodyIdleTimeout: 1, maxConcurrentPatches: 1, lockDrainTimeout: 0 });
});
