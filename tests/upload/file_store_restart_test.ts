/**
 * A `FileStore` keeps each upload's record beside its bytes, so a server
 * restarted on the same directory answers HEAD and resumes with no Redis.
 * Every server here is real, on a real socket, and "restart" means a new
 * store object and a new server on the same directory.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Hono } from "hono";
import * as tusClient from "tus-js-client";
import {
  MemoryUploadState,
  type UploadErrorSource,
  uploads,
  type UploadsOptions,
} from "../../src/upload/mod.ts";
import { FileStore } from "../../src/upload/file_store.ts";
import { bytes, patchHeaders, serve, tus } from "./_serve.ts";
import { conformance } from "./_state_conformance.ts";
import { ManualClock } from "../support/manual_clock.ts";

/** A temporary directory, removed by `await using`. */
async function tempDirectory() {
  const path = await Deno.makeTempDir({ prefix: "kiln-restart-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Starts a tus server on a fresh FileStore over `directory`, with no `state` option. */
async function start(directory: string, options: Partial<UploadsOptions> = {}) {
  const store = new FileStore({ directory });
  const files = uploads({ store, maxSize: 1 << 20, ...options });
  const served = await serve(new Hono().route("/files", files));
  return {
    store,
    files,
    endpoint: `${served.url}/files`,
    stop: () => served[Symbol.asyncDispose](),
    [Symbol.asyncDispose]: () => served[Symbol.asyncDispose](),
  };
}

async function send(url: string, init: RequestInit) {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

async function createUpload(endpoint: string, length: number) {
  const response = await send(endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": String(length) }),
  });
  assert.equal(response.status, 201, response.text);
  return response.headers.get("Location")!.split("/").pop()!;
}

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<string> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data)).toHex();
}

/** Runs tus-js-client until it finishes, or until `stopAfter` bytes, and resolves its URL. */
function tusJsClient(
  data: Uint8Array,
  options: { endpoint?: string; uploadUrl?: string; stopAfter?: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const client: tusClient.Upload = new tusClient.Upload(Buffer.from(data), {
      endpoint: options.endpoint,
      uploadUrl: options.uploadUrl,
      chunkSize: 1000,
      retryDelays: [],
      storeFingerprintForResuming: false,
      metadata: { filename: "../../escape.bin" },
      onError: reject,
      onSuccess: () => resolve(client.url!),
      onChunkComplete: (_size, accepted) => {
        if (options.stopAfter !== undefined && accepted >= options.stopAfter) {
          client.abort().then(() => resolve(client.url!), reject);
        }
      },
    });
    client.start();
  });
}

Deno.test("a FileStore upload survives a restart: HEAD reports its offset and tus-js-client finishes it", async () => {
  await using directory = await tempDirectory();
  const data = bytes(4500);
  const first = await start(directory.path);
  const url = await tusJsClient(data, { endpoint: first.endpoint, stopAfter: 2000 });
  const id = url.split("/").pop()!;
  await first.stop();

  await using second = await start(directory.path);
  const head = await send(`${second.endpoint}/${id}`, { method: "HEAD", headers: tus() });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("Upload-Offset"), "2000");
  assert.equal(head.headers.get("Upload-Length"), "4500");
  const resumed = await tusJsClient(data, { uploadUrl: `${second.endpoint}/${id}` });
  assert.equal(resumed, `${second.endpoint}/${id}`);
  const stored = await Deno.readFile(`${directory.path}/${id}`);
  assert.equal(await sha256(stored), await sha256(data));
  // Metadata named a file outside the directory; the upload is still only at its id.
  await assert.rejects(Deno.stat(`${directory.path}/../escape.bin`), Deno.errors.NotFound);
});

Deno.test("a finished upload's record survives a restart, so HEAD still answers until it is forgotten", async () => {
  await using directory = await tempDirectory();
  const clock = new ManualClock(1_000_000);
  const options = { clock, keepCompletedFor: 60_000 };
  const first = await start(directory.path, options);
  const id = await createUpload(first.endpoint, 3);
  const patched = await send(`${first.endpoint}/${id}`, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: "abc",
  });
  assert.equal(patched.status, 204);
  await first.stop();

  await using second = await start(directory.path, options);
  const head = await send(`${second.endpoint}/${id}`, { method: "HEAD", headers: tus() });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("Upload-Offset"), "3");
  clock.advance(60_000);
  assert.deepEqual(await second.files.cleanupExpired(), { removed: 0, forgotten: 1 });
  assert.equal(
    (await send(`${second.endpoint}/${id}`, { method: "HEAD", headers: tus() })).status,
    404,
  );
  assert.equal(await Deno.readTextFile(`${directory.path}/${id}`), "abc", "the file stays");
  assert.deepEqual(await recordFiles(directory.path), []);
});

Deno.test("after a restart, cleanupExpired() removes an expired upload's bytes and record", async () => {
  await using directory = await tempDirectory();
  const clock = new ManualClock(1_000_000);
  const options = { clock, expiresIn: 10_000 };
  const first = await start(directory.path, options);
  const expired = await createUpload(first.endpoint, 10);
  const alive = await createUpload(first.endpoint, 10);
  for (const id of [expired, alive]) {
    const patched = await send(`${first.endpoint}/${id}`, {
      method: "PATCH",
      headers: patchHeaders(0),
      body: "12345",
    });
    assert.equal(patched.status, 204);
  }
  await first.stop();

  clock.advance(5_000);
  await using second = await start(directory.path, options);
  const moved = await send(`${second.endpoint}/${alive}`, {
    method: "PATCH",
    headers: patchHeaders(5),
    body: "6",
  });
  assert.equal(moved.status, 204, "a PATCH after the restart slides the expiry");
  clock.advance(6_000);
  assert.deepEqual(await second.files.cleanupExpired(), { removed: 1, forgotten: 0 });
  await assert.rejects(Deno.stat(`${directory.path}/.partial/${expired}`), Deno.errors.NotFound);
  assert.deepEqual(await recordFiles(directory.path), [`${alive}.json`]);
  assert.equal((await Deno.stat(`${directory.path}/.partial/${alive}`)).size, 6);
  const head = await send(`${second.endpoint}/${expired}`, { method: "HEAD", headers: tus() });
  assert.equal(head.status, 404);
});

Deno.test("a corrupt or truncated record answers 500 with tus headers, tells onError and keeps the bytes", async () => {
  await using directory = await tempDirectory();
  const then = 1_000_000;
  const first = await start(directory.path, { clock: new ManualClock(then), expiresIn: 1_000 });
  const ids = [await createUpload(first.endpoint, 10), await createUpload(first.endpoint, 10)];
  const healthy = await createUpload(first.endpoint, 10);
  for (const id of [...ids, healthy]) {
    const patched = await send(`${first.endpoint}/${id}`, {
      method: "PATCH",
      headers: patchHeaders(0),
      body: "12345",
    });
    assert.equal(patched.status, 204);
  }
  await first.stop();
  const json = await Deno.readTextFile(`${directory.path}/.info/${ids[0]}.json`);
  await Deno.writeTextFile(`${directory.path}/.info/${ids[0]}.json`, json.slice(0, 20));
  // Well-formed JSON that names another upload's path is refused just the same.
  const forged = { ...JSON.parse(json), id: healthy };
  await Deno.writeTextFile(`${directory.path}/.info/${ids[1]}.json`, JSON.stringify(forged));

  const told: [unknown, string, UploadErrorSource][] = [];
  await using second = await start(directory.path, {
    expiresIn: 1_000,
    clock: new ManualClock(then + 10_000),
    onError: (error, upload, source) => void told.push([error, upload.id, source]),
  });
  for (const id of ids) {
    const url = `${second.endpoint}/${id}`;
    for (
      const init of [
        { method: "HEAD", headers: tus() },
        { method: "PATCH", headers: patchHeaders(5), body: "678" },
        { method: "DELETE", headers: tus() },
      ] as RequestInit[]
    ) {
      const response = await send(url, init);
      assert.equal(response.status, 500, `${init.method} ${id}`);
      assert.equal(response.headers.get("Tus-Resumable"), "1.0.0");
      if (init.method !== "HEAD") assert.match(response.text, /record .* unreadable/);
    }
    assert.equal(await Deno.readTextFile(`${directory.path}/.partial/${id}`), "12345");
  }
  assert.equal(told.length, 6);
  for (const [error, id, source] of told) {
    assert.equal((error as { code?: string }).code, "UPLOAD_RECORD_CORRUPT");
    assert.ok(ids.includes(id));
    assert.equal(source, "record");
  }
  // The sweep removes the expired healthy upload and leaves the unreadable ones for an operator.
  assert.deepEqual(await second.files.cleanupExpired(), { removed: 1, forgotten: 0 });
  assert.deepEqual(await recordFiles(directory.path), ids.map((id) => `${id}.json`).sort());
  assert.equal(await Deno.readTextFile(`${directory.path}/.partial/${ids[0]}`), "12345");
});

Deno.test("the file state refuses ids that are not server ids, so nothing can steer its paths", async () => {
  await using directory = await tempDirectory();
  const { state } = new FileStore({ directory: directory.path });
  assert.ok(state);
  for (const id of ["../x", "a/b", "", ".info", "a.json", "x".repeat(129)]) {
    await assert.rejects(state.get(id), TypeError, id);
    await assert.rejects(state.delete(id), TypeError, id);
    await assert.rejects(state.lock(id), TypeError, id);
  }
  // A file that is not `<id>.json` is never listed, whatever its content says.
  await Deno.mkdir(`${directory.path}/.info`, { recursive: true });
  const stray = { id: "stray", sweepAt: 0 };
  await Deno.writeTextFile(`${directory.path}/.info/notes.txt`, JSON.stringify(stray));
  await Deno.writeTextFile(`${directory.path}/.info/a.b.json`, JSON.stringify(stray));
  assert.deepEqual(await state.due(Date.now(), 10), []);
});

Deno.test("records that are oversized, not objects or the wrong shape are refused as corrupt, never trusted", async () => {
  await using directory = await tempDirectory();
  const { state } = new FileStore({ directory: directory.path });
  await Deno.mkdir(`${directory.path}/.info`, { recursive: true });
  const valid = {
    id: "x",
    length: 10,
    offset: 0,
    metadata: {},
    rawMetadata: null,
    createdAt: 1,
    expiresAt: null,
    completedAt: null,
    type: null,
    head: null,
    sweepAt: null,
  };
  const cases: Record<string, string> = {
    huge: JSON.stringify({ ...valid, id: "huge", head: "a".repeat(1 << 20) }),
    nothing: "",
    scalar: "null",
    list: "[]",
    negative: JSON.stringify({ ...valid, id: "negative", offset: -1 }),
    fraction: JSON.stringify({ ...valid, id: "fraction", length: 1.5 }),
    missing: JSON.stringify({ id: "missing", offset: 0 }),
    path: JSON.stringify({ ...valid, id: "../../etc/passwd" }),
  };
  for (const [id, text] of Object.entries(cases)) {
    await Deno.writeTextFile(`${directory.path}/.info/${id}.json`, text);
    await assert.rejects(
      state.get(id),
      (error) => (error as { code?: string }).code === "UPLOAD_RECORD_CORRUPT",
      id,
    );
  }
  // A field added to records later is kept, not dropped on the way through.
  await state.create({ ...valid, id: "newer", future: 1 } as typeof valid);
  assert.equal(((await state.get("newer")) as unknown as { future: number }).future, 1);
});

Deno.test("two FileStores on one directory in one process share their upload locks", async () => {
  await using directory = await tempDirectory();
  const a = new FileStore({ directory: directory.path }).state!;
  const b = new FileStore({ directory: `${directory.path}/` }).state!;
  const lock = await a.lock("same");
  assert.ok(lock);
  assert.equal(await b.lock("same"), null);
  await lock.release();
  const other = await b.lock("same");
  assert.ok(other);
  await other.release();
});

Deno.test("an explicit state option still wins over the FileStore's own records", async () => {
  await using directory = await tempDirectory();
  await using server = await start(directory.path, { state: new MemoryUploadState() });
  await createUpload(server.endpoint, 3);
  assert.deepEqual(await recordFiles(directory.path), []);
});

Deno.test("FileStore state keeps records, sweep order and locks like the other states", async (t) => {
  await using directory = await tempDirectory();
  await conformance(new FileStore({ directory: directory.path }).state!, t);
});

/** The names in `<directory>/.info/`, sorted; `[]` when it does not exist. */
async function recordFiles(directory: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${directory}/.info`)) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}
