import type { Hono } from "hono";

/** A real HTTP server on a free loopback port, closed by `await using`. */
export interface Served extends AsyncDisposable {
  /** The base URL, such as `http://127.0.0.1:41234`. */
  readonly url: string;
}

/** Serves `app` with `Deno.serve` on port 0. */
export function serve(app: Hono): Promise<Served> {
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        resolve({
          url: `http://127.0.0.1:${port}`,
          [Symbol.asyncDispose]: () => server.shutdown(),
        });
      },
    }, app.fetch);
  });
}

/** tus request headers. */
export function tus(headers: Record<string, string> = {}): Record<string, string> {
  return { "Tus-Resumable": "1.0.0", ...headers };
}

/** Headers for a PATCH at `offset`. */
export function patchHeaders(offset: number, headers: Record<string, string> = {}) {
  return tus({
    "Content-Type": "application/offset+octet-stream",
    "Upload-Offset": String(offset),
    ...headers,
  });
}

/** base64 of a UTF-8 string, for Upload-Metadata. */
export function b64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

/** A minimal valid PNG header followed by `size - 33` zero bytes. */
export function png(size = 64): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  bytes.set([0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0], 16);
  return bytes;
}

/** Deterministic bytes that no magic-byte check recognises. */
export function bytes(size: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = 0x20 + (x % 90);
  }
  return out;
}

/** Collects a stream into one array. */
export async function collect(stream: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
