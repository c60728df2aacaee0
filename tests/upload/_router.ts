/** Shared helpers of the router tests: a served tus router on a MemoryStore and raw requests. */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { MemoryStore, uploads, type UploadsOptions } from "../../src/upload/mod.ts";
import { collect, serve, tus } from "./_serve.ts";

/** Serves `uploads()` on a MemoryStore at `/files` over a real socket. */
export async function setup(options: Partial<UploadsOptions> = {}) {
  const store = new MemoryStore();
  const files = uploads({ store, maxSize: 1024 * 1024, ...options });
  const served = await serve(new Hono().route("/files", files));
  return {
    store,
    origin: served.url,
    endpoint: `${served.url}/files`,
    [Symbol.asyncDispose]: () => served[Symbol.asyncDispose](),
  };
}

/** Sends a request and reads the whole answer. */
export async function send(url: string, init: RequestInit) {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

/** Creates an upload of 3 bytes, asserting 201, and returns its `Location`. */
export async function create(endpoint: string, headers: Record<string, string> = {}) {
  const response = await send(endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "3", ...headers }),
  });
  assert.equal(response.status, 201, `creation answered ${response.status}: ${response.text}`);
  return response.headers.get("Location")!;
}

/** Sends one raw HTTP/1.1 request (fetch() refuses a forged Host and CR/LF) and reads the answer's head. */
export async function raw(
  origin: string,
  lines: string[],
): Promise<{ status: number; head: string }> {
  const { port } = new URL(origin);
  const connection = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  const request = [...lines, "Connection: close", "Content-Length: 0", "", ""].join("\r\n");
  await connection.write(new TextEncoder().encode(request));
  const answer = new TextDecoder().decode(await collect(connection.readable));
  const head = answer.slice(0, answer.indexOf("\r\n\r\n"));
  return { status: Number(head.split(" ")[1]), head };
}
