/**
 * Node's quirks, in one place: the `ws` socket that `@hono/node-ws` hands over
 * (its private `_socket` TCP stream, its behaviour after a protocol error) and
 * `process.nextTick`. The realtime core only knows Hono's `WSContext`; these
 * helpers look under `ws.raw` and do nothing on other runtimes.
 *
 * @module
 */
import type { WSContext } from "hono/ws";

/** The part of Node's `ws` socket this needs; `_socket` is its TCP stream. */
interface NodeWsSocket {
  once(event: "error", listener: () => void): void;
  terminate(): void;
  _socket?: { end?(callback: () => void): void };
}

/**
 * On Node's `ws`, drops the connection at the first protocol error, once the
 * close frame is out. `ws` answers the error with a close frame (1009 for a
 * frame over `maxPayload`) and then keeps reading, and discarding, whatever
 * the peer sends until the closing handshake ends, up to 30 s later: a peer
 * that goes on streaming would cost memory and bandwidth all that time.
 * (`@hono/node-ws` cannot report the error itself on Node 20, which has no
 * `ErrorEvent`.) Deno, Bun and Workers close the connection themselves;
 * there this does nothing.
 */
export function dropOnProtocolError(ws: WSContext): void {
  const raw = ws.raw as Partial<NodeWsSocket> | undefined;
  if (typeof raw?.once !== "function" || typeof raw.terminate !== "function") return;
  const socket = raw as NodeWsSocket;
  socket.once("error", () => {
    // Ending the stream flushes the close frame (held writes included), then drops the socket.
    const stream = socket._socket;
    if (typeof stream?.end === "function") stream.end(() => socket.terminate());
    else socket.terminate();
  });
}

/** A Node stream that can hold writes back and send them in one system call. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Node's `process.nextTick`, read from the global (src/ imports nothing
 * runtime-specific), or `undefined` elsewhere: it runs once the current burst
 * of promise jobs is done, so writes made by many broadcasts in a row go out together.
 */
export const nextTick: ((task: () => void) => void) | undefined =
  (globalThis as { process?: { nextTick?: (task: () => void) => void } }).process?.nextTick;

/** The TCP stream under a Node `ws` socket (its `_socket`), if that is what `raw` is. */
export function corkableStream(raw: unknown): Corkable | null {
  if (typeof raw !== "object" || raw === null) return null;
  const stream = (raw as { _socket?: Partial<Corkable> })._socket;
  return typeof stream?.cork === "function" && typeof stream.uncork === "function"
    ? stream as Corkable
    : null;
}
