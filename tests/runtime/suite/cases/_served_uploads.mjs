/**
 * A tus server on the runtime's real HTTP server (`ctx.serve`), instrumented
 * so cases can wait for what the server did rather than sleep: the highest
 * offset it reported per upload (`onProgress` runs while bytes stream in), and
 * whether every request it received has finished.
 *
 * @module
 */
import { MemoryStore, uploads } from "@kiln/core/upload";
import { Signal } from "./_signal.mjs";

/**
 * @typedef {object} ServedUploads
 * @property {import("@kiln/core/upload/store").UploadStore} store Where the bytes went.
 * @property {string} endpoint The tus endpoint, `<server>/files`.
 * @property {{ method: string; status: number }[]} requests Every request, once answered.
 * @property {(id: string, offset: number) => Promise<void>} received Resolves once the
 *   server has stored `offset` bytes of upload `id`, mid-request included.
 * @property {() => Promise<void>} idle Resolves once no request is in flight (an aborted
 *   PATCH has been wound up and its offset saved).
 * @property {() => Promise<void>} close Stops the server.
 */

/**
 * @param {import("./mod.mjs").CaseContext} ctx
 * @param {Partial<import("@kiln/core/upload").UploadsOptions>} [options] Passed to `uploads()`.
 * @returns {Promise<ServedUploads>}
 */
export async function serveUploads(ctx, options = {}) {
  const store = options.store ?? new MemoryStore();
  const changed = new Signal();
  /** @type {Map<string, number>} */
  const offsets = new Map();
  /** @type {{ method: string; status: number }[]} */
  const requests = [];
  let inFlight = 0;
  const server = await ctx.serve(({ app }) => {
    app.use(async (c, next) => {
      inFlight++;
      try {
        await next();
      } finally {
        inFlight--;
        requests.push({ method: c.req.method, status: c.res.status });
        changed.notify();
      }
    });
    app.route(
      "/files",
      uploads({
        maxSize: 1 << 22,
        // Every append reports, so a case sees bytes land while the request streams.
        progressInterval: 0,
        ...options,
        store,
        onProgress(progress) {
          offsets.set(
            progress.id,
            Math.max(offsets.get(progress.id) ?? 0, progress.offset),
          );
          changed.notify();
          options.onProgress?.(progress);
        },
      }),
    );
  });
  return {
    store,
    endpoint: `${server.url}/files`,
    requests,
    received: (id, offset) =>
      changed.until(
        () => (offsets.get(id) ?? 0) >= offset,
        `the server held ${offset} bytes of ${id}`,
      ),
    idle: () => changed.until(() => inFlight === 0, "the server finished every request"),
    close: () => server.close(),
  };
}

/**
 * `size` bytes of a pattern no two offsets share within 251 bytes, so a chunk
 * stored at the wrong place shows.
 *
 * @param {number} size
 */
export function patterned(size) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 8)) % 251;
  return bytes;
}

/**
 * Reads a stored upload back.
 *
 * @param {import("@kiln/core/upload/store").UploadStore} store
 * @param {string} path
 */
export async function storedBytes(store, path) {
  const stream = await store.read(path);
  if (stream === null) throw new Error(`Nothing is stored at ${path}`);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Whether two byte arrays are equal (without printing a megabyte on failure).
 *
 * @param {Uint8Array} actual
 * @param {Uint8Array} expected
 */
export function sameBytes(actual, expected) {
  if (actual.byteLength !== expected.byteLength) return false;
  for (let i = 0; i < actual.byteLength; i++) {
    if (actual[i] !== expected[i]) return false;
  }
  return true;
}

/**
 * A request body that sends `first` and then stalls, as a client whose network
 * went quiet does, until `rest()` sends the remainder or the request is aborted.
 *
 * @param {Uint8Array} first
 * @returns {{ body: ReadableStream<Uint8Array>; rest(bytes: Uint8Array): void }}
 */
export function stallingBody(first) {
  /** @type {ReadableStreamDefaultController<Uint8Array>} */
  let controller;
  const body = new ReadableStream({
    start(c) {
      controller = c;
      c.enqueue(first);
    },
  });
  return {
    body,
    rest(bytes) {
      controller.enqueue(bytes);
      controller.close();
    },
  };
}

/** Headers of a tus request. */
export function tus(headers = {}) {
  return { "Tus-Resumable": "1.0.0", ...headers };
}

/**
 * Headers of a PATCH at `offset`.
 *
 * @param {number} offset
 */
export function patchHeaders(offset) {
  return tus({
    "Content-Type": "application/offset+octet-stream",
    "Upload-Offset": String(offset),
  });
}
