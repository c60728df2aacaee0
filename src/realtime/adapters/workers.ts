/**
 * Cloudflare Workers' quirks, in one place: `hono/cloudflare-workers` never
 * calls `onOpen`, leaves the subprotocol out of the 101, and a Worker does not
 * answer a client's close frame by itself. Elsewhere these do nothing.
 *
 * @module
 */
import { WSContext, type WSEvents } from "hono/ws";
import { PROTOCOL } from "../protocol.ts";

/**
 * Completes the closing handshake. Workers do not answer a client's close frame
 * by themselves, so without this the client waits for a close that never comes;
 * elsewhere the socket is already closed and this does nothing.
 */
export function answerClose(ws: WSContext, code: number): void {
  if (ws.readyState === 3) return;
  // 1005 and 1006 describe a close without a frame and cannot be sent back.
  const sendable = code === 1000 || (code >= 3000 && code <= 4999);
  try {
    ws.close(sendable ? code : 1000);
  } catch {
    // Closed in the meantime.
  }
}

/** Workers' adapter leaves the subprotocol out of the 101; browsers then drop the connection. */
export function withProtocol(response: Response, offered: string | undefined): Response {
  if (response.status !== 101 || response.headers.has("sec-websocket-protocol")) return response;
  if (!offered || offered.split(",")[0].trim() !== PROTOCOL) return response;
  try {
    response.headers.set("Sec-WebSocket-Protocol", PROTOCOL);
    return response;
  } catch {
    // Immutable headers: rebuild the response around the same socket.
    const headers = new Headers(response.headers);
    headers.set("Sec-WebSocket-Protocol", PROTOCOL);
    return new Response(null, {
      status: 101,
      headers,
      webSocket: (response as { webSocket?: unknown }).webSocket,
    } as ResponseInit);
  }
}

/** The server end of a Workers `WebSocketPair`, as far as this uses it. */
interface WorkersSocket {
  readonly readyState: number;
  accept(): void;
  send(data: string | ArrayBuffer | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: never) => void): void;
}

/**
 * Upgrades on Workers with `onOpen` called once the socket is accepted, for a
 * protocol whose server speaks first (Pusher's `connection_established`):
 * `hono/cloudflare-workers` builds the same pair and context but never calls
 * `onOpen`. Answers `null` elsewhere (no `WebSocketPair`), where the runtime's
 * own helper opens the socket.
 */
export function upgradeOnWorkers(events: WSEvents): Response | null {
  const Pair = (globalThis as { WebSocketPair?: new () => Record<0 | 1, WorkersSocket> })
    .WebSocketPair;
  if (typeof Pair !== "function") return null;
  const pair = new Pair();
  const server = pair[1];
  const ws = new WSContext({
    send: (data) => server.send(data),
    close: (code, reason) => server.close(code, reason),
    raw: server,
    get readyState() {
      return server.readyState as 0 | 1 | 2 | 3;
    },
    url: null,
    protocol: null,
  });
  server.addEventListener("message", (event: MessageEvent) => events.onMessage?.(event, ws));
  server.addEventListener("close", (event: CloseEvent) => events.onClose?.(event, ws));
  server.addEventListener("error", (event: Event) => events.onError?.(event, ws));
  server.accept();
  events.onOpen?.(new Event("open"), ws);
  return new Response(null, { status: 101, webSocket: pair[0] } as ResponseInit);
}
