import assert from "node:assert/strict";
import { Hono } from "hono";
import { BufferPool, readBody } from "../../src/upload/_body.ts";
import { uploads } from "../../src/upload/mod.ts";
import { FileStore } from "../../src/upload/file_store.ts";
import { bytes, patchHeaders, serve, tus } from "./_serve.ts";

/** A pool that counts the buffers handed back to it. */
class CountingPool extends BufferPool {
  given: ArrayBuffer[] = [];
  override give(buffer: ArrayBuffer): void {
    this.given.push(buffer);
    super.give(buffer);
  }
}

function byteStream(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    type: "bytes",
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk.slice());
      controller.close();
    },
  });
}

async function drain(body: ReadableStream<Uint8Array>, pool: BufferPool) {
  const reader = readBody(body, pool);
  const views: Uint8Array[] = [];
  const bufferSizes: number[] = [];
  const copies: number[] = [];
  try {
    for (let view = await reader.read(); view !== null; view = await reader.read()) {
      views.push(view);
      bufferSizes.push(view.buffer.byteLength);
      copies.push(...view);
    }
  } finally {
    reader.release();
  }
  return { views, bufferSizes, bytes: Uint8Array.from(copies) };
}

Deno.test("readBody() refills one pooled buffer from a byte stream and gives it back on release", async () => {
  const pool = new CountingPool(16);
  const input = bytes(100);
  const { views, bufferSizes, bytes: read } = await drain(
    byteStream([input.subarray(0, 7), input.subarray(7, 60), input.subarray(60)]),
    pool,
  );
  assert.deepEqual(read, input);
  // Every view lay in a 16-byte pool buffer, never in the stream's own (larger) chunks,
  // and was taken back by the next read: one buffer served the whole body.
  assert.ok(views.length >= 100 / 16);
  assert.deepEqual(bufferSizes, views.map(() => 16));
  for (const view of views) assert.equal((view.buffer as ArrayBuffer).detached, true);
  assert.equal(pool.given.length, 1);
  assert.equal(pool.given[0].byteLength, 16);
  assert.equal(pool.given[0].detached, false);
});

Deno.test("readBody() hands out a non-byte stream's own chunks and keeps the pool untouched", async () => {
  const pool = new CountingPool(16);
  const chunks = [bytes(40, 2), new Uint8Array(0), bytes(3, 3)];
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  const { views } = await drain(body, pool);
  // Empty chunks are skipped; the others arrive as they were enqueued.
  assert.deepEqual(views, [chunks[0], chunks[2]]);
  assert.equal(views[0], chunks[0]);
  assert.equal(pool.given.length, 0);
});

Deno.test("readBody() cancel() reaches the stream's source", async () => {
  let reason: unknown = null;
  const body = new ReadableStream<Uint8Array>({
    type: "bytes",
    pull: (controller) => controller.enqueue(new Uint8Array(8)),
    cancel: (why) => void (reason = why),
  });
  const reader = readBody(body, new BufferPool(4));
  assert.equal((await reader.read())?.byteLength, 4);
  await reader.cancel("too long");
  reader.release();
  assert.equal(reason, "too long");
});

Deno.test("PATCH bodies several read buffers long are stored byte for byte and checksummed over real HTTP", async () => {
  const directory = await Deno.makeTempDir({ prefix: "kiln-upload-body-" });
  try {
    const store = new FileStore({ directory });
    await using served = await serve(
      new Hono().route("/files", uploads({ store, maxSize: 8 * 1024 * 1024 })),
    );
    // Three and a half read buffers per PATCH, so every request refills the pooled buffer.
    const part = bytes(3.5 * 1024 * 1024 + 17, 7);
    const whole = new Uint8Array(part.byteLength * 2);
    whole.set(part);
    whole.set(part.map((byte) => byte ^ 1), part.byteLength);
    const created = await fetch(`${served.url}/files`, {
      method: "POST",
      headers: tus({ "Upload-Length": String(whole.byteLength) }),
    });
    await created.body?.cancel();
    const location = created.headers.get("Location")!;
    const sha256 = async (data: Uint8Array<ArrayBuffer>) =>
      btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", data))));

    const second = whole.slice(part.byteLength);
    const wrong = await fetch(location, {
      method: "PATCH",
      headers: patchHeaders(0, { "Upload-Checksum": `sha256 ${await sha256(second)}` }),
      body: whole.slice(0, part.byteLength),
    });
    await wrong.body?.cancel();
    assert.equal(wrong.status, 460);
    let offset = 0;
    for (const chunk of [whole.slice(0, part.byteLength), second]) {
      const response = await fetch(location, {
        method: "PATCH",
        headers: patchHeaders(offset, { "Upload-Checksum": `sha256 ${await sha256(chunk)}` }),
        body: chunk,
      });
      await response.body?.cancel();
      assert.equal(response.status, 204);
      offset += chunk.byteLength;
      assert.equal(response.headers.get("Upload-Offset"), String(offset));
    }
    const id = location.split("/").pop()!;
    assert.deepEqual(await Deno.readFile(`${directory}/${id}`), whole);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
