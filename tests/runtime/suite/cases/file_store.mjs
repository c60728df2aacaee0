/**
 * Cases for `@kiln/core/upload/file-store`, the one Kiln module that touches a
 * file system: its own API, and the tus server writing into it over real HTTP
 * across a server restart. Node and Bun only, declared as such: a Worker has
 * no file system, and the store imports `node:fs/promises`, which workerd
 * refuses without `nodejs_compat` (the suite runs without it on purpose).
 *
 * @module
 */
import { RedisUploadState } from "@kiln/core/upload";
import { MemoryUrlStore, uploadFile } from "@kiln/core/upload/client";
import * as assert from "./_assert.mjs";
import { patterned, sameBytes, serveUploads, storedBytes } from "./_served_uploads.mjs";

/** The suite's name, printed by every runner. */
export const name = "upload/file-store";

const NO_FILE_SYSTEM = "workerd has no file system: FileStore imports node:fs/promises, " +
  "which a Worker without nodejs_compat cannot load";

const encode = (text) => new TextEncoder().encode(text);

/**
 * Imported when a case runs, never at load: the workerd bundle keeps this import
 * external (esbuild cannot bundle `node:fs` for a Worker), and a static import
 * would stop the whole worker from loading.
 *
 * @returns {Promise<typeof import("@kiln/core/upload/file-store").FileStore>}
 */
async function loadFileStore() {
  return (await import("@kiln/core/upload/file-store")).FileStore;
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "FileStore keeps chunks out of sight until finalize renames them into place, and " +
      "refuses paths that could leave its directory",
    runtimes: ["node", "bun"],
    because: NO_FILE_SYSTEM,
    async run(ctx) {
      const FileStore = await loadFileStore();
      const directory = await ctx.tempDirectory();
      try {
        const store = new FileStore({ directory: directory.path });
        const partial = await store.startChunkedUpload("reports/q1.csv");
        await partial.append(encode("a,b\n"));
        await partial.append(encode("1,2\n3,4\n"));
        assert.equal(
          await store.stat("reports/q1.csv"),
          null,
          "no half file is visible",
        );
        await assert.rejects(store.startChunkedUpload("reports/q1.csv"), {
          name: "UploadError",
          code: "UPLOAD_EXISTS",
        });
        assert.deepEqual(await partial.finalize(), {
          path: "reports/q1.csv",
          size: 12,
        });
        const text = await new Response(await store.read("reports/q1.csv"))
          .text();
        assert.equal(text, "a,b\n1,2\n3,4\n");

        // A second instance on the same directory (another process, or after a restart)
        // resumes an unfinished upload at its offset and drops what came after it.
        const again = await store.startChunkedUpload("notes.txt");
        await again.append(encode("kept|lost"));
        await again.release();
        const resumed = await new FileStore({ directory: directory.path })
          .resumeChunkedUpload("notes.txt", 5);
        await resumed.append(encode("more"));
        await resumed.finalize();
        assert.equal(
          await new Response(await store.read("notes.txt")).text(),
          "kept|more",
        );

        for (
          const path of [
            "../escape.txt",
            "/etc/passwd",
            "a/../../b",
            ".partial/x",
            "a//b",
            "a/",
            "",
          ]
        ) {
          await assert.rejects(store.startChunkedUpload(path), TypeError);
          await assert.rejects(store.read(path), TypeError);
        }
      } finally {
        await directory.remove();
      }
    },
  },
  {
    name: "an upload into FileStore with RedisUploadState survives a server restart: a new " +
      "server on the same directory and Redis takes the resume over HTTP",
    runtimes: ["node", "bun"],
    because: NO_FILE_SYSTEM,
    async run(ctx) {
      const FileStore = await loadFileStore();
      const directory = await ctx.tempDirectory();
      const stateName = `${ctx.namespace}-restart`;
      const serveOnce = () =>
        serveUploads(ctx, {
          store: new FileStore({ directory: directory.path }),
          state: new RedisUploadState({
            redis: new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken }),
            prefix: stateName,
          }),
        });
      let current = await serveOnce();
      // The stable address clients keep (a load balancer's): the restarted server
      // listens on another port, so requests are sent to whichever one is up.
      const front = (input, init) =>
        fetch(
          String(input).replace(
            /^http:\/\/127\.0\.0\.1:\d+/,
            new URL(current.endpoint).origin,
          ),
          init,
        );
      const bytes = patterned(200 * 1024);
      const options = {
        endpoint: current.endpoint,
        chunkSize: 64 * 1024,
        urlStore: new MemoryUrlStore(),
        fingerprint: "restart",
        fetch: front,
      };
      let id;
      try {
        const stop = new AbortController();
        await assert.rejects(
          uploadFile(new Blob([bytes]), {
            ...options,
            signal: stop.signal,
            onProgress: () => stop.abort(), // the process dies after the first chunk
          }),
          { name: "AbortError" },
        );
        await current.idle();
        await current.close();

        current = await serveOnce();
        const sent = [];
        const result = await uploadFile(new Blob([bytes]), {
          ...options,
          fetch: (input, init) => {
            sent.push([
              init.method,
              new Headers(init.headers).get("Upload-Offset"),
            ]);
            return front(input, init);
          },
        });
        id = result.url.split("/").pop();
        assert.deepEqual(sent.slice(0, 2), [["HEAD", null], [
          "PATCH",
          String(64 * 1024),
        ]]);
        assert.equal(result.size, bytes.byteLength);
        // Read back through a third instance: nothing lives in any server's memory.
        const onDisk = new FileStore({ directory: directory.path });
        assert.ok(sameBytes(await storedBytes(onDisk, id), bytes));
      } finally {
        await current.close();
        if (id !== undefined) {
          await new RedisUploadState({
            redis: new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken }),
            prefix: stateName,
          }).delete(id);
        }
        await directory.remove();
      }
    },
  },
];
