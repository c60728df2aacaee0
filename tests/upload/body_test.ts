import assert from "node:assert/strict";
import { Hono } from "hono";
import { type BodyBuffers, BufferPool, readBody } from "../../src/upload/_body.ts";
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

/** Pools of 16-byte and 64-byte buffers, at most `limit` large ones lent. */
function pools(limit = Infinity) {
  return { small: new CountingPool(16), large: new CountingPool(64, { limit }) };
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

/** A byte stream the test feeds by hand. */
function fedStream() {
  let feed!: ReadableByteStreamController;
  let cancelled: unknown = null;
  const stream = new ReadableStream<Uint8Array>({
    type: "bytes",
    start: (controller) => void (feed = controller as ReadableByteStreamController),
    cancel: (reason) => void (cancelled = reason),
  });
  return {
    stream,
    feed: (bytes: Uint8Array) => feed.enqueue(bytes.slice()),
    cancelled: () => cancelled,
  };
}

async function drain(body: ReadableStream<Uint8Array>, buffers: BodyBuffers) {
  const reader = readBody(body, buffers);
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

Deno.test("readBody() reads flowing bytes into a large pooled buffer and gives every buffer back on release", async () => {
  const buffers = pools();
  const input = bytes(200);
  const { views, bufferSizes, bytes: read } = await drain(
    byteStream([input.subarray(0, 7), input.subarray(7, 60), input.subarray(60)]),
    buffers,
  );
  assert.deepEqual(read, input);
  // The first read waits in a small buffer; once one comes back full, bytes flow through a
  // large one, refilled read after read: never the stream's own chunks.
  assert.equal(bufferSizes[0], 16);
  assert.deepEqual(bufferSizes.slice(1), views.slice(1).map(() => 64));
  assert.ok(views.length >= 1 + (200 - 16) / 64);
  assert.equal(buffers.small.given.length, 1);
  assert.equal(buffers.large.given.length, 1);
  assert.equal(buffers.large.given[0].detached, false);
  assert.equal(buffers.small.lent + buffers.large.lent, 0);
});

Deno.test("readBody() waits for a trickling body in a small buffer and hands a large one back when bytes stop flowing", async () => {
  const buffers = pools();
  const { stream, feed } = fedStream();
  const reader = readBody(stream, buffers);
  try {
    const waiting = reader.read();
    assert.equal(buffers.large.lent, 0, "nothing flows yet: no large buffer is lent");
    feed(bytes(3));
    assert.equal((await waiting)!.buffer.byteLength, 16);
    feed(bytes(20));
    assert.equal((await reader.read())!.buffer.byteLength, 16, "a short read keeps the next small");
    const flowing = await reader.read();
    assert.equal(flowing!.byteLength, 4);
    assert.equal(flowing!.buffer.byteLength, 64, "a full small read lets the next be large");
    const silent = reader.read();
    assert.equal(buffers.large.lent, 0, "after a short read, the large buffer went back");
    feed(bytes(5));
    assert.equal((await silent)!.buffer.byteLength, 16);
  } finally {
    reader.release();
  }
  assert.equal(buffers.small.lent + buffers.large.lent, 0);
});

Deno.test("readBody() lends at most the large pool's limit, and other flowing bodies read into small buffers", async () => {
  const buffers = pools(1);
  const first = await drain(byteStream([bytes(300, 1)]), buffers);
  assert.ok(first.bufferSizes.includes(64));
  const a = fedStream();
  const b = fedStream();
  const readerA = readBody(a.stream, buffers);
  const readerB = readBody(b.stream, buffers);
  try {
    a.feed(bytes(100, 2));
    b.feed(bytes(100, 3));
    await readerA.read();
    await readerB.read();
    assert.equal((await readerA.read())!.buffer.byteLength, 64);
    assert.equal((await readerB.read())!.buffer.byteLength, 16, "the one large buffer is taken");
    assert.equal(buffers.large.lent, 1);
  } finally {
    readerA.release();
    readerB.release();
  }
  assert.equal(buffers.small.lent + buffers.large.lent, 0);
});

Deno.test("readBody() cancel() ends a waiting read with null, reaches the source and keeps the pool's count right", async () => {
  const buffers = pools();
  const { stream, cancelled } = fedStream();
  const reader = readBody(stream, buffers);
  const waiting = reader.read();
  await reader.cancel("too long");
  assert.equal(await waiting, null);
  reader.release();
  assert.equal(cancelled(), "too long");
  assert.equal(
    buffers.small.lent + buffers.large.lent,
    0,
    "the buffer lost in the read is written off",
  );
});

Deno.test("readBody() hands out a non-byte stream's own chunks and keeps the pools untouched", async () => {
  const buffers = pools();
  const chunks = [bytes(40, 2), new Uint8Array(0), bytes(3, 3)];
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  const { views } = await drain(body, buffers);
  // Empty chunks are skipped; the others arrive as they were enqueued.
  assert.deepEqual(views, [chunks[0], chunks[2]]);
  assert.equal(views[0], chunks[0]);
  assert.equal(buffers.small.given.length + buffers.large.given.length, 0);
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
