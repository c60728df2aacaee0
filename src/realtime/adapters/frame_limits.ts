/**
 * Passes the realtime frame limit down to runtimes that can refuse a frame on
 * its header, before its payload is buffered. Kiln's own check
 * (`maxMessageBytes`, close code 4009) only sees a frame once the runtime has
 * read all of it into memory; where the runtime offers a cap, these helpers set
 * it, so an oversized frame costs a few bytes instead of its announced length.
 *
 * | runtime | cap | without these helpers |
 * | --- | --- | --- |
 * | Node (`ws` via `@hono/node-ws`) | {@linkcode limitNodeFrames} | 100 MiB (`ws`'s default `maxPayload`) |
 * | Bun | {@linkcode limitBunFrames} | 16 MiB (Bun's default `maxPayloadLength`) |
 * | Cloudflare Workers | fixed by the runtime | 1 MiB |
 * | Deno | none offered | 64 MiB (fixed by the runtime) |
 *
 * @module
 */

/** The default of `maxMessageBytes` in {@linkcode import("../realtime.ts").RealtimeOptions}. */
const DEFAULT_MAX_BYTES = 16_384;

/** The part of `createNodeWebSocket()`'s result that {@linkcode limitNodeFrames} needs. */
export interface NodeWebSocketLike {
  /** The `ws` server that `@hono/node-ws` creates and hands every upgrade to. */
  readonly wss: { options: { maxPayload?: number } };
}

/** The part of `hono/bun`'s `websocket` handler that {@linkcode limitBunFrames} keeps. */
export type BunWebSocketHandlerLike = object;

/**
 * Makes Node's `ws` refuse frames larger than `maxBytes` on their header: the
 * connection closes with 1009 (Message Too Big) before the payload is read.
 * `@hono/node-ws` creates the `WebSocketServer` itself, with `ws`'s default
 * `maxPayload` of 100 MiB; this sets it on that server for every later upgrade.
 *
 * @param node What `createNodeWebSocket({ app })` returned.
 * @param maxBytes The largest frame accepted, in bytes: pass `maxMessageBytes`.
 * @default maxBytes 16_384 (the default of `maxMessageBytes`)
 * @returns `node`, for chaining.
 * @throws {TypeError} When `node` has no `ws` server.
 * @throws {RangeError} When `maxBytes` is not a positive integer.
 *
 * @example Capping frames on Node
 * ```ts
 * import { Hono } from "hono";
 * import { createNodeWebSocket } from "@hono/node-ws";
 * import { limitNodeFrames } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * const node = limitNodeFrames(createNodeWebSocket({ app }), 16_384);
 * assert.equal(node.wss.options.maxPayload, 16_384);
 * // app.get("/ws", realtime(hub, { upgradeWebSocket: node.upgradeWebSocket, auth, maxMessageBytes: 16_384 }));
 * // node.injectWebSocket(serve({ fetch: app.fetch, port: 3000 }));
 * ```
 */
export function limitNodeFrames<T extends NodeWebSocketLike>(
  node: T,
  maxBytes: number = DEFAULT_MAX_BYTES,
): T {
  const options = node?.wss?.options;
  if (typeof options !== "object" || options === null) {
    throw new TypeError("limitNodeFrames needs the result of createNodeWebSocket()");
  }
  options.maxPayload = checkedBytes(maxBytes);
  return node;
}

/**
 * Returns `hono/bun`'s `websocket` handler with Bun's `maxPayloadLength` set,
 * so Bun refuses larger frames on their header (closing with 1009) instead of
 * buffering up to its default of 16 MiB. Pass the result to `Bun.serve`.
 *
 * @param websocket The `websocket` export of `hono/bun`.
 * @param maxBytes The largest frame accepted, in bytes: pass `maxMessageBytes`.
 * @default maxBytes 16_384 (the default of `maxMessageBytes`)
 * @returns A copy of the handler with `maxPayloadLength`.
 * @throws {TypeError} When `websocket` is not an object.
 * @throws {RangeError} When `maxBytes` is not a positive integer.
 *
 * @example Capping frames on Bun
 * ```ts
 * import { limitBunFrames } from "@kiln/core/realtime";
 * import assert from "node:assert/strict";
 *
 * const websocket = { open() {}, message() {}, close() {} }; // hono/bun's `websocket`
 * const limited = limitBunFrames(websocket, 16_384);
 * assert.equal(limited.maxPayloadLength, 16_384);
 * // export default { fetch: app.fetch, websocket: limited };
 * ```
 */
export function limitBunFrames<T extends BunWebSocketHandlerLike>(
  websocket: T,
  maxBytes: number = DEFAULT_MAX_BYTES,
): T & { maxPayloadLength: number } {
  if (typeof websocket !== "object" || websocket === null) {
    throw new TypeError("limitBunFrames needs the websocket handler of hono/bun");
  }
  return { ...websocket, maxPayloadLength: checkedBytes(maxBytes) };
}

function checkedBytes(maxBytes: number): number {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  }
  return maxBytes;
}
