import type { ServerMessage } from "../../../src/realtime/protocol.ts";

/** A real WebSocket client that records what it receives, for assertions. */
export class TestClient implements AsyncDisposable {
  readonly socket: WebSocket;
  readonly received: ServerMessage[] = [];
  readonly closed: Promise<CloseEvent>;
  readonly opened: Promise<void>;
  #waiters: Array<() => void> = [];

  constructor(url: string, token: string | null, init: { headers?: HeadersInit } = {}) {
    const protocols = token === null ? ["kiln.v1"] : ["kiln.v1", `bearer.${token}`];
    // Deno's WebSocket takes extra handshake headers (Origin, Cookie) beside the protocols.
    this.socket = new WebSocket(url, { protocols, headers: init.headers } as never);
    this.opened = new Promise((resolve, reject) => {
      this.socket.onopen = () => resolve();
      this.socket.onerror = () => reject(new Error("WebSocket failed to open"));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.socket.onclose = (event) => {
        resolve(event);
        this.#wake();
      };
    });
    this.socket.onmessage = (event) => {
      this.received.push(JSON.parse(event.data));
      this.#wake();
    };
  }

  /** Opens a client and waits for its `welcome`. */
  static async connect(
    url: string,
    token: string,
    init: { headers?: HeadersInit } = {},
  ): Promise<TestClient> {
    const client = new TestClient(url, token, {
      headers: { origin: "https://app.test", ...init.headers },
    });
    await client.next("welcome");
    return client;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /**
   * Resolves the first not-yet-taken message of `type` (matching `where`), waiting for it.
   * Messages taken are removed, so successive calls see successive messages.
   */
  async next<T extends ServerMessage["type"]>(
    type: T,
    where: (message: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 3000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex((message) =>
        message.type === type && where(message as Extract<ServerMessage, { type: T }>)
      );
      if (index >= 0) {
        return this.received.splice(index, 1)[0] as Extract<ServerMessage, { type: T }>;
      }
      if (this.socket.readyState === WebSocket.CLOSED) {
        throw new Error(
          `Socket closed while waiting for ${type}: ${JSON.stringify(this.received)}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`Timed out waiting for ${type}; got ${JSON.stringify(this.received)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends a ping and waits for its pong: everything sent before has been handled. */
  async roundTrip(): Promise<void> {
    this.send({ type: "ping" });
    await this.next("pong");
  }

  async subscribe(channel: string, data?: unknown) {
    this.send({ type: "subscribe", channel, ...(data !== undefined ? { data } : {}) });
    return await this.next("subscribed", (message) => message.channel === channel);
  }

  /**
   * Resolves the close event, or fails after `timeoutMs` with what arrived: a
   * server that never closes fails the test instead of hanging it.
   */
  closedWithin(timeoutMs = 5_000): Promise<CloseEvent> {
    return within(this.closed, timeoutMs, () => {
      const got = this.received.map((m) => m.type === "error" ? m.code : m.type);
      return `the close; got ${got.length}: ${JSON.stringify(got.slice(0, 12))}…`;
    });
  }

  has(type: ServerMessage["type"]): boolean {
    return this.received.some((message) => message.type === type);
  }

  async close(): Promise<void> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close(1000);
    await this.opened.catch(() => {});
    await this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * Resolves `promise`, or fails after `timeoutMs` naming what it waited for: a
 * guard against a hanging test, never a measure of speed.
 */
export async function within<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string | (() => string),
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const name = typeof what === "function" ? what() : what;
      reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${name}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends a WebSocket upgrade request over a raw TCP socket and returns the status and headers. */
export async function rawUpgrade(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Headers; body: string }> {
  const target = new URL(url);
  const conn = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
  try {
    const lines = [
      `GET ${target.pathname}${target.search} HTTP/1.1`,
      `Host: ${target.host}`,
      "Connection: Upgrade",
      "Upgrade: websocket",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      "",
      "",
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n")));
    let text = "";
    const buffer = new Uint8Array(4096);
    while (!text.includes("\r\n\r\n")) {
      const read = await conn.read(buffer);
      if (read === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, read));
    }
    const [head, body = ""] = text.split("\r\n\r\n");
    const [statusLine, ...headerLines] = head.split("\r\n");
    const result = new Headers();
    for (const line of headerLines) {
      const index = line.indexOf(":");
      result.append(line.slice(0, index).trim(), line.slice(index + 1).trim());
    }
    return { status: Number(statusLine.split(" ")[1]), headers: result, body };
  } finally {
    conn.close();
  }
}

/**
 * Opens an authenticated WebSocket over a raw TCP socket and returns it once
 * the 101 arrived, for tests that write frames by hand (or stop reading).
 */
export async function openRaw(url: string, token: string): Promise<Deno.TcpConn> {
  const target = new URL(url);
  const conn = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
  await conn.write(new TextEncoder().encode(
    [
      `GET ${target.pathname} HTTP/1.1`,
      `Host: ${target.host}`,
      "Connection: Upgrade",
      "Upgrade: websocket",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Origin: https://app.test",
      `Sec-WebSocket-Protocol: kiln.v1, bearer.${token}`,
      "",
      "",
    ].join("\r\n"),
  ));
  const buffer = new Uint8Array(4096);
  const read = await conn.read(buffer); // the 101 and perhaps the welcome
  const head = new TextDecoder().decode(buffer.subarray(0, read ?? 0));
  if (!head.startsWith("HTTP/1.1 101")) {
    conn.close();
    throw new Error(`Upgrade refused: ${head.split("\r\n")[0]}`);
  }
  return conn;
}

/** Writes all of `bytes` (`Deno.Conn.write` may write only part of them). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}

/**
 * Writes up to `total` bytes in 1 MiB chunks until the server refuses them
 * (reset or broken pipe); resolves how many bytes went out before that.
 */
export async function writeUntilRefused(conn: Deno.Conn, total: number): Promise<number> {
  const chunk = new Uint8Array(1024 * 1024);
  let sent = 0;
  try {
    while (sent < total) {
      const bytes = chunk.subarray(0, Math.min(chunk.length, total - sent));
      await writeAll(conn, bytes);
      sent += bytes.length;
    }
  } catch {
    // Refused: the server dropped the connection.
  }
  return sent;
}

/**
 * The header of a masked client frame announcing `length` payload bytes (the
 * payload itself is not included), for tests of what a server does before
 * the payload arrives.
 */
export function maskedFrameHeader(opcode: number, length: number): Uint8Array {
  const header = new Uint8Array(2 + 8 + 4);
  const view = new DataView(header.buffer);
  header[0] = 0x80 | opcode;
  header[1] = 0x80 | 127;
  view.setBigUint64(2, BigInt(length));
  header.set(crypto.getRandomValues(new Uint8Array(4)), 10);
  return header;
}

/**
 * Reads server frames from a raw socket until a close frame or the end of the
 * connection; resolves the close code (`null` when the connection ended
 * without one). Fails after `timeoutMs`, a guard against a hanging test.
 */
export async function readUntilClosed(
  conn: Deno.Conn,
  timeoutMs = 5_000,
): Promise<number | null> {
  let pending = new Uint8Array(0);
  const reading = (async (): Promise<number | null> => {
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      let read: number | null;
      try {
        read = await conn.read(buffer);
      } catch {
        return null; // reset by the server
      }
      if (read === null) return null;
      const joined = new Uint8Array(pending.length + read);
      joined.set(pending);
      joined.set(buffer.subarray(0, read), pending.length);
      pending = joined;
      // Walk the complete (unmasked) server frames received so far.
      for (;;) {
        if (pending.length < 2) break;
        const opcode = pending[0] & 0x0f;
        let length = pending[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (pending.length < 4) break;
          length = (pending[2] << 8) | pending[3];
          offset = 4;
        } else if (length === 127) {
          if (pending.length < 10) break;
          length = Number(new DataView(pending.buffer, pending.byteOffset + 2, 8).getBigUint64(0));
          offset = 10;
        }
        if (pending.length < offset + length) break;
        if (opcode === 0x8) {
          return length >= 2 ? (pending[offset] << 8) | pending[offset + 1] : 1005;
        }
        pending = pending.slice(offset + length);
      }
    }
  })();
  return await within(reading, timeoutMs, "the server to close the connection");
}

/** A client-to-server (masked) text frame, for raw-socket tests. */
export function maskedTextFrame(text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  if (payload.length > 125) throw new RangeError("Only short frames");
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const frame = new Uint8Array(2 + 4 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  frame.set(mask, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i] ^ mask[i % 4];
  return frame;
}
