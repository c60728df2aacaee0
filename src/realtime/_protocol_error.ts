/**
 * What happens to a peer that breaks the WebSocket protocol (a frame over the
 * runtime's cap, invalid UTF-8, a bad opcode), where the runtime leaves it open.
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
