/**
 * A chunk that is rolled back or refused leaves no trace in the upload's
 * record: not its sniffed type, first bytes, offset, declared length, expiry
 * or progress. Each case runs over a real socket, on the store and state
 * kind it is given: `patch_rollback_test.ts` runs memory, Redis and file
 * state, `s3_hostile.storage.ts` an S3Store on the R2 simulator.
 */
import assert from "node:assert/strict";
import { bytes, patchHeaders, png } from "./_serve.ts";
import { hostileServer, html, RawRequest, sha256, type StateKind } from "./_hostile.ts";
import { ManualClock } from "../support/manual_clock.ts";

type Server = Awaited<ReturnType<typeof hostileServer>>;

/**
 * Sends `sent` as the start of a PATCH body of `contentLength` bytes, waits
 * until the server has stored all of it, then drops the connection and waits
 * until the server lets go of the upload.
 */
async function dropMidBody(
  server: Server,
  upload: { location: string; id: string },
  offset: number,
  sent: Uint8Array,
  headers: Record<string, string>,
): Promise<void> {
  await using request = await RawRequest.open(
    "PATCH",
    upload.location,
    patchHeaders(offset, headers),
  );
  await request.send(sent);
  await server.progress.reached(upload.id, offset + sent.byteLength);
  const released = server.state.released(upload.id);
  request.drop();
  await released;
}

/** Registers every rollback case for one kind of store and state. */
export function rollbackCases(kind: StateKind): void {
  Deno.test(`a checksummed PATCH dropped after its PNG head was sniffed leaves no type, so HTML at offset 0 gets 415 (${kind} state)`, async () => {
    await using server = await hostileServer(kind, { allowedTypes: ["image/png"] });
    const upload = await server.create({ "Upload-Length": "10000" });
    const image = png(5000);
    await dropMidBody(server, upload, 0, image.subarray(0, 4500), {
      "Content-Length": "5000",
      "Upload-Checksum": await sha256(image),
    });

    const record = await server.state.get(upload.id);
    assert.equal(record?.offset, 0);
    assert.equal(record?.type, null, "the sniffed type went with the rolled-back bytes");
    assert.equal(record?.head, null);
    assert.equal((await server.head(upload.location)).headers.get("Upload-Offset"), "0");

    const page = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(0),
      body: html(10_000),
    });
    await page.body?.cancel();
    assert.equal(page.status, 415);
    assert.deepEqual(server.completed, []);
    assert.deepEqual(await server.paths(), []);
  });

  Deno.test(`a dropped checksummed PATCH that completed the sniffed head keeps only the earlier first bytes (${kind} state)`, async () => {
    await using server = await hostileServer(kind, { allowedTypes: ["image/png"] });
    const upload = await server.create({ "Upload-Length": "10000" });
    const image = png(10_000);
    const first = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(0),
      body: image.slice(0, 1000),
    });
    await first.body?.cancel();
    assert.equal(first.status, 204);
    const before = await server.state.get(upload.id);
    assert.equal(before?.type, null, "1000 bytes are too few to decide");

    await dropMidBody(server, upload, 1000, image.subarray(1000, 4500), {
      "Content-Length": "4000",
      "Upload-Checksum": await sha256(image.slice(1000, 5000)),
    });
    assert.deepEqual(await server.state.get(upload.id), before);

    const rest = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(1000),
      body: image.slice(1000),
    });
    await rest.body?.cancel();
    assert.equal(rest.status, 204, "the resent chunk is sniffed afresh from the kept first bytes");
    assert.equal(server.completed[0].type, "image/png");
    assert.deepEqual(await server.file(upload.id), image);
  });

  Deno.test(`an Upload-Length declared by a dropped checksummed PATCH is not kept (${kind} state)`, async () => {
    await using server = await hostileServer(kind);
    const upload = await server.create({ "Upload-Defer-Length": "1" });
    const data = bytes(5000);
    await dropMidBody(server, upload, 0, data.subarray(0, 3000), {
      "Content-Length": "5000",
      "Upload-Length": "8000",
      "Upload-Checksum": await sha256(data),
    });
    assert.equal((await server.state.get(upload.id))?.length, null);
    const head = await server.head(upload.location);
    assert.equal(head.headers.get("Upload-Defer-Length"), "1");
    assert.equal(head.headers.get("Upload-Length"), null);
  });

  Deno.test(`a dropped checksummed PATCH does not push back the upload's expiry (${kind} state)`, async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    await using server = await hostileServer(kind, { expiresIn: 60_000, clock });
    const upload = await server.create({ "Upload-Length": "10000" });
    const created = await server.state.get(upload.id);
    clock.advance(30_000);
    const data = bytes(5000);
    await dropMidBody(server, upload, 0, data.subarray(0, 3000), {
      "Content-Length": "5000",
      "Upload-Checksum": await sha256(data),
    });
    const after = await server.state.get(upload.id);
    assert.equal(after?.expiresAt, created?.expiresAt);
    assert.equal(after?.sweepAt, created?.sweepAt);
    assert.deepEqual(after, created);
  });

  Deno.test(`progress ends at the kept offset after a checksum mismatch and after a dropped checksummed PATCH (${kind} state)`, async () => {
    await using server = await hostileServer(kind);
    const upload = await server.create({ "Upload-Length": "10000" });
    const data = bytes(10_000);
    const kept = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(0),
      body: data.slice(0, 2000),
    });
    await kept.body?.cancel();
    const wrong = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(2000, { "Upload-Checksum": await sha256(data.slice(0, 3000)) }),
      body: data.slice(2000, 5000),
    });
    await wrong.body?.cancel();
    assert.equal(wrong.status, 460);
    assert.equal(server.progress.last(upload.id), 2000, "the discarded chunk is taken back");

    await dropMidBody(server, upload, 2000, data.subarray(2000, 4000), {
      "Content-Length": "3000",
      "Upload-Checksum": await sha256(data.slice(2000, 5000)),
    });
    assert.equal(server.progress.last(upload.id), 2000);
    assert.equal((await server.state.get(upload.id))?.offset, 2000);
  });

  Deno.test(`an Upload-Length declared by a PATCH refused with 460 or 413 is not kept (${kind} state)`, async () => {
    await using server = await hostileServer(kind);
    const upload = await server.create({ "Upload-Defer-Length": "1" });
    const data = bytes(100);
    const mismatch = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(0, {
        "Upload-Length": "100",
        "Upload-Checksum": await sha256(data.slice(1)),
      }),
      body: data,
    });
    await mismatch.body?.cancel();
    assert.equal(mismatch.status, 460);
    const tooLong = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(0, { "Upload-Length": "50" }),
      body: new Blob([data]).stream(),
    });
    await tooLong.body?.cancel();
    assert.equal(tooLong.status, 413);
    const record = await server.state.get(upload.id);
    assert.equal(record?.length, null);
    assert.equal(record?.offset, 0);
  });

  Deno.test(`a PATCH dropped without a checksum keeps its bytes, their sniffed type and its Upload-Length (${kind} state)`, async () => {
    await using server = await hostileServer(kind, { allowedTypes: ["image/png"] });
    const upload = await server.create({ "Upload-Defer-Length": "1" });
    const image = png(8000);
    await dropMidBody(server, upload, 0, image.subarray(0, 4500), {
      "Content-Length": "8000",
      "Upload-Length": "8000",
    });
    const record = await server.state.get(upload.id);
    assert.equal(record?.offset, 4500);
    assert.equal(record?.type, "image/png");
    assert.equal(record?.length, 8000);
    const rest = await fetch(upload.location, {
      method: "PATCH",
      headers: patchHeaders(4500),
      body: image.slice(4500),
    });
    await rest.body?.cancel();
    assert.equal(rest.status, 204);
    assert.deepEqual(await server.file(upload.id), image);
    assert.equal(server.completed[0].type, "image/png");
  });
}
