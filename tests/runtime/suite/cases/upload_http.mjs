/**
 * Cases for `@kiln/core/upload` over real sockets: the tus server on each
 * runtime's own HTTP server (`ctx.serve`: `@hono/node-server`, `Bun.serve`, the
 * worker's `fetch` handler behind Miniflare's port), driven by real clients —
 * tus-js-client where it runs (Node, Bun) and Kiln's `uploadFile()` everywhere —
 * through aborts, resumes and two servers sharing state in Redis.
 *
 * @module
 */
import { RedisUploadState } from "@kiln/core/upload";
import { MemoryUrlStore, uploadFile } from "@kiln/core/upload/client";
import * as assert from "./_assert.mjs";
import {
  patchHeaders,
  patterned,
  sameBytes,
  serveUploads,
  stallingBody,
  storedBytes,
  tus,
} from "./_served_uploads.mjs";

/** The suite's name, printed by every runner. */
export const name = "upload over HTTP";

const KIB = 1024;

/** The upload id at the end of a `Location`. */
function idOf(url) {
  return url.split("/").pop();
}

/**
 * A request whose answer is read to the end (no body left to hold the connection).
 *
 * @param {string} url
 * @param {RequestInit} init
 */
async function call(url, init) {
  try {
    const response = await fetch(url, init);
    const text = await response.text();
    return { status: response.status, headers: response.headers, text };
  } catch (error) {
    throw new Error(`${init.method} ${url} failed: ${error}`, { cause: error });
  }
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "tus-js-client uploads in chunks with metadata, is aborted after the first chunk, " +
      "and a new client resumes from the server's offset without creating a second upload",
    runtimes: ["node", "bun"],
    because: "tus-js-client sends through XMLHttpRequest (browser build) or node:http (Node " +
      "build), and a Worker has neither; workerd drives the same server with Kiln's uploadFile()",
    async run(ctx) {
      // Imported here, not at the top: the workerd bundle must not pull in its Node build.
      const tusClient = await import("tus-js-client");
      const completed = [];
      const server = await serveUploads(ctx, {
        onComplete: (info) => void completed.push(info),
      });
      try {
        const bytes = patterned(300 * KIB);
        // The Node build reads a Buffer (Node and Bun have it as a global).
        const file = globalThis.Buffer.from(bytes);
        const options = {
          endpoint: server.endpoint,
          chunkSize: 100 * KIB,
          metadata: { filename: "report.bin" },
          retryDelays: [],
        };
        /** @type {string} */
        const url = await new Promise((resolve, reject) => {
          const first = new tusClient.Upload(file, {
            ...options,
            onError: reject,
            onSuccess: () => reject(new Error("the upload finished despite the abort")),
            onChunkComplete() {
              // Between requests: tus-js-client checks the flag before the next PATCH.
              first.abort().then(() => resolve(first.url), reject);
            },
          });
          first.start();
        });
        await server.idle();
        const head = await call(url, { method: "HEAD", headers: tus() });
        assert.equal(head.headers.get("Upload-Offset"), String(100 * KIB));
        const creates = server.requests.filter((r) => r.method === "POST").length;

        const progress = [];
        await new Promise((resolve, reject) => {
          const resumed = new tusClient.Upload(file, {
            ...options,
            uploadUrl: url,
            onError: reject,
            onSuccess: resolve,
            onProgress: (sent) => progress.push(sent),
          });
          resumed.start();
        });
        assert.equal(
          server.requests.filter((r) => r.method === "POST").length,
          creates,
        );
        assert.equal(progress.at(-1), bytes.byteLength);
        assert.ok(
          progress.every((sent) => sent >= 100 * KIB),
          `progress ${progress}`,
        );
        assert.ok(sameBytes(await storedBytes(server.store, idOf(url)), bytes));
        assert.equal(completed.length, 1);
        assert.equal(completed[0].metadata.filename, "report.bin");
      } finally {
        await server.close();
      }
    },
  },
  {
    name: "uploadFile() resumes after a PATCH cut off mid-body: the server keeps the bytes that " +
      "arrived, and a later call continues from exactly there on the same upload",
    async run(ctx) {
      const server = await serveUploads(ctx);
      try {
        const bytes = patterned(256 * KIB);
        const source = new Blob([bytes]);
        const chunkSize = 128 * KIB;
        const cut = 40 * KIB; // bytes of the second PATCH that get through
        const urlStore = new MemoryUrlStore();
        let uploadUrl;
        let cutDone = false;
        /** A network that drops the second PATCH after `cut` bytes. */
        const dropping = async (input, init) => {
          const headers = new Headers(init.headers);
          const offset = Number(headers.get("Upload-Offset"));
          if (init.method !== "PATCH" || offset === 0 || cutDone) {
            const response = await fetch(input, init);
            if (init.method === "POST") {
              uploadUrl = response.headers.get("Location");
            }
            return response;
          }
          cutDone = true;
          const chunk = new Uint8Array(
            await new Response(init.body).arrayBuffer(),
          );
          const stalled = stallingBody(chunk.slice(0, cut));
          const abort = new AbortController();
          const sent = fetch(input, {
            ...init,
            body: stalled.body,
            duplex: "half",
            signal: abort.signal,
          });
          sent.catch(() => {});
          await server.received(idOf(uploadUrl), offset + cut);
          abort.abort();
          await sent.catch(() => {});
          // What fetch says when a connection drops.
          throw new TypeError("fetch failed: the connection was reset");
        };
        await assert.rejects(
          uploadFile(source, {
            endpoint: server.endpoint,
            chunkSize,
            urlStore,
            fingerprint: "report",
            retry: { limit: 0 }, // fail now, resume in the next call (a reload, say)
            fetch: dropping,
          }),
          { name: "UploadError", code: "UPLOAD_UNREACHABLE" },
        );
        await server.idle();
        const head = await call(uploadUrl, { method: "HEAD", headers: tus() });
        assert.equal(
          head.headers.get("Upload-Offset"),
          String(chunkSize + cut),
        );

        const sent = [];
        const recording = async (input, init) => {
          sent.push([
            init.method,
            new Headers(init.headers).get("Upload-Offset"),
          ]);
          return await fetch(input, init);
        };
        const result = await uploadFile(source, {
          endpoint: server.endpoint,
          chunkSize,
          urlStore,
          fingerprint: "report",
          fetch: recording,
        });
        assert.equal(result.url, uploadUrl);
        assert.deepEqual(sent, [["HEAD", null], [
          "PATCH",
          String(chunkSize + cut),
        ]]);
        assert.ok(
          sameBytes(await storedBytes(server.store, idOf(uploadUrl)), bytes),
        );
      } finally {
        await server.close();
      }
    },
  },
  {
    name: "two servers sharing RedisUploadState take alternate chunks of one upload, refuse a " +
      "replayed chunk with 409 and a PATCH racing the other server's with 423",
    async run(ctx) {
      const stateName = `${ctx.namespace}-shared`;
      const state = () =>
        new RedisUploadState({
          redis: new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken }),
          prefix: stateName,
        });
      // One store behind both, as two instances mount one bucket; only the state is Redis's.
      const a = await serveUploads(ctx, { state: state() });
      const b = await serveUploads(ctx, { state: state(), store: a.store });
      // Chunks of 1 KiB, because workerd's HTTP server resets a kept-alive connection after
      // answering without reading a body of 4 KiB or more (the 409 and 423 below), and
      // workerd's fetch then fails the next request sent on it with "Network connection
      // lost"; Node and Bun do not. Smaller bodies keep the cases independent everywhere.
      const bytes = patterned(3 * KIB);
      const part = (n) => bytes.slice(n * KIB, (n + 1) * KIB);
      let id;
      try {
        const created = await call(a.endpoint, {
          method: "POST",
          headers: tus({ "Upload-Length": String(bytes.byteLength) }),
        });
        assert.equal(created.status, 201);
        id = idOf(created.headers.get("Location"));
        const on = (server) => `${server.endpoint}/${id}`;

        const first = await call(on(a), {
          method: "PATCH",
          headers: patchHeaders(0),
          body: part(0),
        });
        assert.equal(first.status, 204);
        const seenByB = await call(on(b), { method: "HEAD", headers: tus() });
        assert.equal(seenByB.headers.get("Upload-Offset"), String(KIB));

        const second = await call(on(b), {
          method: "PATCH",
          headers: patchHeaders(KIB),
          body: part(1),
        });
        assert.equal(second.status, 204);

        // The first chunk again, replayed at its old offset on the other server.
        const replay = await call(on(a), {
          method: "PATCH",
          headers: patchHeaders(0),
          body: part(0),
        });
        assert.equal(replay.status, 409);
        assert.equal(replay.headers.get("Upload-Offset"), String(2 * KIB));

        // A's PATCH of the last chunk stalls half-way, holding the upload's lock in Redis…
        const stalled = stallingBody(part(2).slice(0, 512));
        const holding = call(on(a), {
          method: "PATCH",
          headers: patchHeaders(2 * KIB),
          body: stalled.body,
          duplex: "half",
        });
        await a.received(id, 2 * KIB + 512);
        // …so B must not write the same bytes meanwhile.
        const racing = await call(on(b), {
          method: "PATCH",
          headers: patchHeaders(2 * KIB),
          body: part(2),
        });
        assert.equal(racing.status, 423, racing.text);
        stalled.rest(part(2).slice(512));
        const finished = await holding;
        assert.equal(finished.status, 204);
        assert.equal(finished.headers.get("Upload-Offset"), String(3 * KIB));

        const done = await call(on(b), { method: "HEAD", headers: tus() });
        assert.equal(done.headers.get("Upload-Offset"), String(3 * KIB));
        assert.ok(sameBytes(await storedBytes(a.store, id), bytes));
      } finally {
        await a.close();
        await b.close();
        if (id !== undefined) await state().delete(id);
      }
    },
  },
];
