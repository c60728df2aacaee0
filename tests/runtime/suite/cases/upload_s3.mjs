/**
 * Cases for `@kiln/core/upload/s3`: `S3Store` against Cloudflare's R2
 * simulator (miniflare 4 running workerd, started by `run.ts` and named by
 * `KILN_S3_ENDPOINT`, `KILN_S3_KEY`, `KILN_S3_SECRET`), through R2's S3 API
 * with real SigV4 checks, the 5 MiB minimum and the equal-part rule, behind
 * the runtime's own HTTP server, driven by tus-js-client.
 *
 * Node and Bun only: workerd reaches R2 through its binding (`R2Store`,
 * `deno task test:storage`), and tus-js-client has no Worker build.
 *
 * @module
 */
import { S3Store } from "@kiln/core/upload/s3";
import * as assert from "./_assert.mjs";
import {
  patchHeaders,
  patterned,
  serveUploads,
  stallingBody,
  storedBytes,
  tus,
} from "./_served_uploads.mjs";

/** The suite's name, printed by every runner. */
export const name = "upload/s3";

const NODE_AND_BUN = "workerd stores into R2 through its binding (R2Store, deno task " +
  "test:storage), and tus-js-client sends through node:http or XMLHttpRequest, which a " +
  "Worker has neither of";
const MIB = 1024 * 1024;
const PART = 5 * MIB;

/** @param {Partial<import("@kiln/core/upload/s3").S3StoreOptions>} [options] */
function s3Store(options = {}) {
  const env = globalThis.process.env;
  if (!env.KILN_S3_ENDPOINT) {
    throw new Error("KILN_S3_ENDPOINT is not set; run test:runtime");
  }
  return new S3Store({
    endpoint: env.KILN_S3_ENDPOINT,
    accessKeyId: env.KILN_S3_KEY,
    secretAccessKey: env.KILN_S3_SECRET,
    partSize: PART,
    ...options,
  });
}

/** @param {Uint8Array} bytes */
async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Runs tus-js-client to the end, or aborts once `stopAfter` bytes are accepted.
 *
 * @param {Uint8Array} bytes
 * @param {{ endpoint?: string; uploadUrl?: string; chunkSize?: number; parallelUploads?: number; stopAfter?: number }} run
 * @returns {Promise<string>} The upload's URL.
 */
async function tusJsClient(bytes, run) {
  // Imported here, not at the top: the workerd bundle must not pull in its Node build.
  const tusClient = await import("tus-js-client");
  return await new Promise((resolve, reject) => {
    const client = new tusClient.Upload(globalThis.Buffer.from(bytes), {
      endpoint: run.endpoint,
      uploadUrl: run.uploadUrl,
      chunkSize: run.chunkSize ?? Infinity,
      parallelUploads: run.parallelUploads ?? 1,
      retryDelays: [],
      storeFingerprintForResuming: false,
      onError: reject,
      onSuccess: () => resolve(client.url),
      onChunkComplete: (_size, accepted) => {
        if (run.stopAfter !== undefined && accepted >= run.stopAfter) {
          client.abort().then(() => resolve(client.url), reject);
        }
      },
    });
    client.start();
  });
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "S3Store takes 7 MiB from tus-js-client in 5 MiB-and-odd chunks, aborted and " +
      "resumed on a new server and store; the SHA-256 matches",
    runtimes: ["node", "bun"],
    because: NODE_AND_BUN,
    async run(ctx) {
      // Small enough for bun test's 5 s per case; still a full part, then a tail.
      const bytes = patterned(7 * MIB + 4321);
      const chunkSize = PART + 123_457;
      const first = await serveUploads(ctx, {
        store: s3Store(),
        maxSize: 1 << 30,
      });
      let url;
      try {
        url = await tusJsClient(bytes, {
          endpoint: first.endpoint,
          chunkSize,
          stopAfter: 1,
        });
        await first.idle();
      } finally {
        await first.close();
      }
      const second = await serveUploads(ctx, {
        store: s3Store(),
        maxSize: 1 << 30,
      });
      try {
        const id = url.split("/").pop();
        const head = await fetch(`${second.endpoint}/${id}`, {
          method: "HEAD",
          headers: { "Tus-Resumable": "1.0.0" },
        });
        assert.equal(head.headers.get("Upload-Offset"), String(chunkSize));
        await tusJsClient(bytes, {
          uploadUrl: `${second.endpoint}/${id}`,
          chunkSize,
        });
        assert.equal(
          await sha256(await storedBytes(second.store, id)),
          await sha256(bytes),
        );
      } finally {
        await second.close();
      }
    },
  },
  {
    name: "S3Store joins tus-js-client's parallelUploads: 3 in the bucket, from partials " +
      "below the 5 MiB part minimum",
    runtimes: ["node", "bun"],
    because: NODE_AND_BUN,
    async run(ctx) {
      // Three partials of 1.3 MiB, gathered by ranged reads into one object (bun test gives a
      // case 5 s; Deno's tests join multipart files of copied and gathered parts).
      const bytes = patterned(4 * MIB + 77);
      const server = await serveUploads(ctx, {
        store: s3Store(),
        maxSize: 1 << 30,
      });
      try {
        const url = await tusJsClient(bytes, {
          endpoint: server.endpoint,
          parallelUploads: 3,
        });
        const id = url.split("/").pop();
        assert.equal(
          await sha256(await storedBytes(server.store, id)),
          await sha256(bytes),
        );
      } finally {
        await server.close();
      }
    },
  },
  {
    name: "S3Store streams a PATCH's whole parts with their Content-Length (the last bytes " +
      "buffered); a PATCH dropped inside a streamed part keeps the whole parts before it",
    runtimes: ["node", "bun"],
    because: NODE_AND_BUN,
    async run(ctx) {
      const bytes = patterned(3 * PART + 999);
      // How each part reached fetch: a stream carries the Content-Length set for it; bytes
      // carry none until fetch sends them.
      const sent = [];
      const original = globalThis.fetch;
      globalThis.fetch = (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        const headers = new Headers(input instanceof Request ? input.headers : init?.headers);
        if (url.searchParams.has("partNumber")) {
          const length = headers.get("content-length");
          const streamed = length !== null && input.body instanceof ReadableStream;
          if (streamed) assert.equal(length, String(PART));
          sent.push(`${streamed ? "stream" : "buffer"} ${url.searchParams.get("partNumber")}`);
        }
        return original(input, init);
      };
      const server = await serveUploads(ctx, { store: s3Store(), maxSize: 1 << 30 });
      try {
        const created = await original(server.endpoint, {
          method: "POST",
          headers: tus({ "Upload-Length": String(bytes.byteLength) }),
        });
        assert.equal(created.status, 201);
        const url = new URL(created.headers.get("Location"), server.endpoint).href;
        const id = url.split("/").pop();
        const first = await original(url, {
          method: "PATCH",
          headers: patchHeaders(0),
          body: bytes.subarray(0, PART),
        });
        assert.equal(first.status, 204);
        assert.deepEqual(sent, ["stream 1"]);
        // Part 2 streams whole, then the client goes away halfway through part 3.
        const stalled = stallingBody(bytes.slice(PART, 2 * PART + PART / 2));
        const abort = new AbortController();
        const dropped = original(url, {
          method: "PATCH",
          headers: { ...patchHeaders(PART), "Content-Length": String(bytes.byteLength - PART) },
          body: stalled.body,
          duplex: "half",
          signal: abort.signal,
        }).catch(() => null);
        await server.received(id, 2 * PART + PART / 2);
        abort.abort();
        await dropped;
        await server.idle();
        assert.deepEqual(sent, ["stream 1", "stream 2", "stream 3"]);
        // Part 2 is kept; part 3 was cut off, so nothing of it is.
        const head = await original(url, { method: "HEAD", headers: tus() });
        assert.equal(head.headers.get("Upload-Offset"), String(2 * PART));
        const resumed = await original(url, {
          method: "PATCH",
          headers: patchHeaders(2 * PART),
          body: bytes.subarray(2 * PART),
        });
        assert.equal(resumed.status, 204);
        assert.deepEqual(sent.slice(3), ["stream 3", "buffer 4"]);
        assert.equal(
          await sha256(await storedBytes(server.store, id)),
          await sha256(bytes),
        );
      } finally {
        globalThis.fetch = original;
        await server.close();
      }
    },
  },
  {
    name: "S3Store with a wrong secret fails with UPLOAD_STORE_FAILED, answered 500 with " +
      "Tus-Resumable; a part size under 5 MiB is refused at construction",
    runtimes: ["node", "bun"],
    because: NODE_AND_BUN,
    async run(ctx) {
      assert.throws(() => s3Store({ partSize: PART - 1 }), {
        name: "RangeError",
      });
      const store = s3Store({ secretAccessKey: "not-the-secret" });
      await assert.rejects(store.stat("anything"), {
        name: "UploadError",
        code: "UPLOAD_STORE_FAILED",
      });
      const errors = [];
      const server = await serveUploads(ctx, {
        store,
        onError: (error) => errors.push(error),
      });
      try {
        const created = await fetch(server.endpoint, {
          method: "POST",
          headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "5" },
        });
        assert.equal(created.status, 500);
        assert.equal(created.headers.get("Tus-Resumable"), "1.0.0");
        await created.body?.cancel();
        assert.equal(errors[0]?.code, "UPLOAD_STORE_FAILED");
      } finally {
        await server.close();
      }
    },
  },
];
