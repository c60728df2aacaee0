/**
 * Cases for `@kiln/core/upload`: the tus server with MemoryStore answering
 * through `fetch` (no sockets, so workerd runs it too), checksums, magic-byte
 * checks and Kiln's client.
 *
 * @module
 */
import { MemoryStore, uploads } from "@kiln/core/upload";
import { uploadFile } from "@kiln/core/upload/client";
import * as assert from "./_assert.mjs";

/** The suite's name, printed by every runner. */
export const name = "upload";

const tus = (headers = {}) => ({ "Tus-Resumable": "1.0.0", ...headers });
const patch = (offset, headers = {}) =>
  tus({
    "Content-Type": "application/offset+octet-stream",
    "Upload-Offset": String(offset),
    ...headers,
  });

function server(options = {}) {
  const store = new MemoryStore();
  const files = uploads({ store, maxSize: 1 << 20, ...options });
  const call = (path, init) => files.fetch(new Request(`http://uploads.test${path}`, init));
  return { store, files, call };
}

async function text(stream) {
  return await new Response(stream).text();
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "a tus upload in two chunks is stored and HEAD reports its offset",
    async run() {
      const { store, call } = server();
      const created = await call("/", { method: "POST", headers: tus({ "Upload-Length": "11" }) });
      assert.equal(created.status, 201);
      const id = created.headers.get("Location").split("/").pop();
      assert.equal(
        (await call(`/${id}`, { method: "PATCH", headers: patch(0), body: "hello " })).status,
        204,
      );
      const last = await call(`/${id}`, { method: "PATCH", headers: patch(6), body: "world" });
      assert.equal(last.headers.get("Upload-Offset"), "11");
      const head = await call(`/${id}`, { method: "HEAD", headers: tus() });
      assert.equal(head.headers.get("Upload-Offset"), "11");
      assert.equal(await text(await store.read(id)), "hello world");
    },
  },
  {
    name: "a sha256 checksum mismatch answers 460 and a matching one is kept",
    async run() {
      const { call } = server();
      const created = await call("/", { method: "POST", headers: tus({ "Upload-Length": "4" }) });
      const id = created.headers.get("Location").split("/").pop();
      const digest = new Uint8Array(
        await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abcd")),
      );
      const good = `sha256 ${btoa(String.fromCharCode(...digest))}`;
      const bad = await call(`/${id}`, {
        method: "PATCH",
        headers: patch(0, { "Upload-Checksum": good }),
        body: "abce",
      });
      assert.equal(bad.status, 460);
      const ok = await call(`/${id}`, {
        method: "PATCH",
        headers: patch(0, { "Upload-Checksum": good }),
        body: "abcd",
      });
      assert.equal(ok.status, 204);
    },
  },
  {
    name: "allowedTypes refuses a file by its magic bytes with 415 and leaves nothing behind",
    async run() {
      const { store, call } = server({ allowedTypes: ["image/*"] });
      const response = await call("/", {
        method: "POST",
        headers: tus({ "Upload-Length": "5", "Content-Type": "application/offset+octet-stream" }),
        body: "hello",
      });
      assert.equal(response.status, 415);
      assert.deepEqual(store.paths(), []);
    },
  },
  {
    name: "broadcastProgress publishes progress and completion to the channel chosen at creation",
    async run() {
      const calls = [];
      const hub = {
        broadcast: (channel, event, data) => void calls.push([channel, event, data]),
      };
      const { call } = server({
        broadcastProgress: {
          hub,
          channel: (_upload, request) => `private-user.${request.headers.get("X-User")}`,
        },
      });
      const created = await call("/", {
        method: "POST",
        headers: tus({ "Upload-Length": "4", "X-User": "7" }),
      });
      const id = created.headers.get("Location").split("/").pop();
      await call(`/${id}`, { method: "PATCH", headers: patch(0), body: "ab" });
      await call(`/${id}`, { method: "PATCH", headers: patch(2), body: "cd" });
      // Broadcasts leave the byte path; give them a turn of the event loop.
      for (let i = 0; i < 20 && calls.length < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      assert.deepEqual(calls, [
        ["private-user.7", "upload.progress", { id, offset: 2, length: 4 }],
        ["private-user.7", "upload.progress", { id, offset: 4, length: 4 }],
        ["private-user.7", "upload.complete", { id, offset: 4, length: 4 }],
      ]);
    },
  },
  {
    name: "uploadFile() sends a Blob in chunks to the server through a given fetch",
    async run() {
      const { store, files } = server();
      const progress = [];
      const result = await uploadFile(new Blob(["0123456789"]), {
        endpoint: "http://uploads.test/",
        chunkSize: 4,
        resume: false,
        fetch: (input, init) => files.fetch(new Request(input, init)),
        onProgress: (sent) => progress.push(sent),
      });
      assert.deepEqual(progress, [4, 8, 10]);
      assert.equal(await text(await store.read(result.url.split("/").pop())), "0123456789");
    },
  },
];
