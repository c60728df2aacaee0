import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Hono } from "hono";
import * as tus from "tus-js-client";
import {
  MemoryStore,
  type UploadInfo,
  uploads,
  type UploadsOptions,
} from "../../src/upload/mod.ts";
import { MemoryUrlStore, uploadFile, UploadRejectedError } from "../../src/upload/client.ts";
import { bytes, collect, serve } from "./_serve.ts";

/** A tus server that records each PATCH's Upload-Offset and each POST. */
async function setup(options: Partial<UploadsOptions> = {}) {
  const store = new MemoryStore();
  const completed: UploadInfo[] = [];
  const requests: string[] = [];
  const app = new Hono();
  app.use("*", async (c, next) => {
    const method = c.req.header("X-HTTP-Method-Override") ?? c.req.method;
    requests.push(method === "PATCH" ? `PATCH ${c.req.header("Upload-Offset")}` : method);
    await next();
  });
  app.route(
    "/files",
    uploads({ store, maxSize: 1 << 20, onComplete: (u) => void completed.push(u), ...options }),
  );
  const served = await serve(app);
  return {
    store,
    completed,
    requests,
    endpoint: `${served.url}/files`,
    async stored(url: string) {
      return await collect(await store.read(url.split("/").pop()!));
    },
    [Symbol.asyncDispose]: () => served[Symbol.asyncDispose](),
  };
}

/** A fetch that fails every PATCH from the `failFrom`-th on, as a dropped connection would. */
function failingFetch(failFrom: number): typeof fetch {
  let patches = 0;
  return (input, init) => {
    if (init?.method === "PATCH" && ++patches >= failFrom) {
      return Promise.reject(new TypeError("connection reset"));
    }
    return fetch(input, init);
  };
}

Deno.test("uploadFile() sends a Blob in chunks with metadata and reports progress after each", async () => {
  await using server = await setup();
  const data = bytes(3500);
  const progress: [number, number | null][] = [];
  const result = await uploadFile(new Blob([data]), {
    endpoint: server.endpoint,
    chunkSize: 1000,
    metadata: { filename: "naïve.txt" },
    urlStore: new MemoryUrlStore(),
    onProgress: (sent, total) => void progress.push([sent, total]),
  });
  assert.equal(result.size, 3500);
  assert.deepEqual(progress, [[1000, 3500], [2000, 3500], [3000, 3500], [3500, 3500]]);
  assert.deepEqual(await server.stored(result.url), data);
  assert.equal(server.completed[0].metadata.filename, "naïve.txt");
});

Deno.test("uploadFile() of a stream of unknown length declares the length with its last chunk", async () => {
  await using server = await setup();
  const data = bytes(2500);
  const parts = [data.slice(0, 700), data.slice(700, 1900), data.slice(1900)];
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const part = parts.shift();
      if (part) controller.enqueue(part);
      else controller.close();
    },
  });
  const result = await uploadFile(stream, {
    endpoint: server.endpoint,
    chunkSize: 1000,
    urlStore: new MemoryUrlStore(),
  });
  assert.equal(result.size, 2500);
  assert.deepEqual(await server.stored(result.url), data);
  assert.deepEqual(server.requests, ["POST", "PATCH 0", "PATCH 1000", "PATCH 2000"]);
});

Deno.test("a PATCH cut off mid-body is retried from the offset the server reports", async () => {
  await using server = await setup();
  const data = bytes(3000);
  let patches = 0;
  const cutting: typeof fetch = (input, init) => {
    if (init?.method === "PATCH" && ++patches === 2) {
      const whole = init.body as Blob;
      // Send the first 300 bytes, then drop the connection.
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new Uint8Array(await whole.slice(0, 300).arrayBuffer()));
          controller.error(new Error("cable pulled"));
        },
      });
      return fetch(input, { ...init, body, duplex: "half" } as RequestInit);
    }
    return fetch(input, init);
  };
  const result = await uploadFile(new Blob([data]), {
    endpoint: server.endpoint,
    chunkSize: 1000,
    retry: { initial: 0 },
    urlStore: new MemoryUrlStore(),
    fetch: cutting,
  });
  assert.deepEqual(await server.stored(result.url), data);
  assert.ok(server.requests.includes("HEAD"), "the retry asked the server for its offset");
});

Deno.test("an interrupted upload is resumed by a later uploadFile() call from the server's offset", async () => {
  await using server = await setup();
  const urlStore = new MemoryUrlStore();
  const file = new File([bytes(5000)], "video.mp4", { lastModified: 1 });
  await assert.rejects(
    uploadFile(file, {
      endpoint: server.endpoint,
      chunkSize: 1000,
      retry: { limit: 0 },
      urlStore,
      fetch: failingFetch(3),
    }),
    { name: "UploadError", code: "UPLOAD_UNREACHABLE" },
  );
  assert.deepEqual(server.requests, ["POST", "PATCH 0", "PATCH 1000"]);
  const result = await uploadFile(file, { endpoint: server.endpoint, chunkSize: 1000, urlStore });
  assert.deepEqual(server.requests.slice(3), ["HEAD", "PATCH 2000", "PATCH 3000", "PATCH 4000"]);
  assert.deepEqual(await server.stored(result.url), new Uint8Array(await file.arrayBuffer()));
  assert.equal(
    await urlStore.get(`${server.endpoint}|video.mp4||5000|1`),
    null,
    "forgotten once done",
  );
});

Deno.test("an aborted upload rejects with the signal's reason and resumes later", async () => {
  await using server = await setup();
  const urlStore = new MemoryUrlStore();
  const data = new Blob([bytes(4000)]);
  const controller = new AbortController();
  await assert.rejects(
    uploadFile(data, {
      endpoint: server.endpoint,
      chunkSize: 1000,
      urlStore,
      fingerprint: "report",
      signal: controller.signal,
      onProgress: (sent) => sent === 2000 && controller.abort(new Error("user cancelled")),
    }),
    /user cancelled/,
  );
  const result = await uploadFile(data, {
    endpoint: server.endpoint,
    chunkSize: 1000,
    urlStore,
    fingerprint: "report",
  });
  assert.equal(server.requests.filter((r) => r === "POST").length, 1);
  assert.deepEqual(server.requests.slice(-3), ["HEAD", "PATCH 2000", "PATCH 3000"]);
  assert.equal(result.size, 4000);
});

Deno.test("an upload the server refuses rejects with UploadRejectedError and its status", async () => {
  await using server = await setup({ maxSize: 100 });
  await assert.rejects(
    uploadFile(new Blob([bytes(101)]), {
      endpoint: server.endpoint,
      urlStore: new MemoryUrlStore(),
    }),
    (error) => error instanceof UploadRejectedError && error.status === 413,
  );
});

/** Runs a tus-js-client upload to the end, or until `stopAfter` bytes, and resolves its URL. */
function tusJsClient(
  data: Uint8Array,
  options: { endpoint?: string; uploadUrl?: string; stopAfter?: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const client: tus.Upload = new tus.Upload(Buffer.from(data), {
      endpoint: options.endpoint,
      uploadUrl: options.uploadUrl,
      chunkSize: 1000,
      retryDelays: [],
      storeFingerprintForResuming: false,
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

Deno.test("tus-js-client uploads to the server and resumes its own interrupted upload", async () => {
  await using server = await setup();
  const data = bytes(4500);
  const url = await tusJsClient(data, { endpoint: server.endpoint, stopAfter: 2000 });
  assert.deepEqual(server.requests, ["POST", "PATCH 0", "PATCH 1000"]);
  const resumed = await tusJsClient(data, { uploadUrl: url });
  assert.equal(resumed, url);
  assert.deepEqual(server.requests.slice(3), ["HEAD", "PATCH 2000", "PATCH 3000", "PATCH 4000"]);
  assert.deepEqual(await server.stored(url), data);
  assert.equal(server.completed.length, 1);
});

Deno.test("tus-js-client resumes an upload Kiln's client started, and Kiln's client resumes tus-js-client's", async () => {
  await using server = await setup();
  const data = bytes(3000);
  const urlStore = new MemoryUrlStore();
  await assert.rejects(
    uploadFile(new Blob([data]), {
      endpoint: server.endpoint,
      chunkSize: 1000,
      retry: { limit: 0 },
      urlStore,
      fingerprint: "f",
      fetch: failingFetch(2),
    }),
  );
  const kilnUrl = (await urlStore.get(`${server.endpoint}|f`))!;
  await tusJsClient(data, { uploadUrl: kilnUrl });
  assert.deepEqual(await server.stored(kilnUrl), data);

  const tusUrl = await tusJsClient(data, { endpoint: server.endpoint, stopAfter: 1000 });
  await urlStore.set(`${server.endpoint}|g`, tusUrl);
  const result = await uploadFile(new Blob([data]), {
    endpoint: server.endpoint,
    chunkSize: 1000,
    urlStore,
    fingerprint: "g",
  });
  assert.equal(result.url, tusUrl);
  assert.deepEqual(await server.stored(tusUrl), data);
  assert.deepEqual(server.requests.slice(-3), ["HEAD", "PATCH 1000", "PATCH 2000"]);
});
