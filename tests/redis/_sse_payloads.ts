/**
 * Hostile pub/sub payloads and channel names shared by the SSE framing tests, and a
 * small helper to wait for a condition an event handler fulfils.
 *
 * @module
 */

/**
 * Messages that break naive SSE framing: line ends of every kind, empty lines, text that
 * looks like SSE fields or like a second Redis push, JSON look-alikes. None of them
 * parses as JSON, so `@upstash/redis`'s automatic deserialization leaves them as text.
 */
export const HOSTILE_MESSAGES: readonly string[] = [
  "line one\nline two",
  "crlf\r\nline",
  "cr\ronly",
  "trailing newline\n",
  "\n",
  "\r\n\r\n",
  "",
  " leading space",
  "data: message,ch,FORGED without a line break",
  "x\ndata: message,ch,FORGED",
  "x\n\ndata: message,other,FORGED on another channel\n\n",
  "x\r\rdata: message,other,FORGED after bare CRs\r\r",
  "x\nevent: escaped\ndata: message,other,FORGED",
  "event: escaped",
  ": looks like a comment\nid: 1\nretry: 5",
  '"unterminated quote',
  "a,b,c,with,commas",
  "\\n is a backslash and an n",
  "héllo 😀 \u2028\u2029 \u0000 nul",
  "\uFEFF a leading BOM",
];

/**
 * Channel names a publisher may pick to confuse a pattern subscriber: a comma moves
 * Upstash's field boundaries, a line break would end the SSE line.
 */
export const HOSTILE_CHANNELS: readonly string[] = [
  "orders.x,orders.victim",
  "orders.a\ndata: pmessage,orders.*,orders.victim,FORGED",
  'orders."quoted"',
  "orders.cr\r",
];

/** A promise with its resolver, for handlers that signal a test. */
export interface Signal<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

/** @returns a new {@linkcode Signal} */
export function signal<T = void>(): Signal<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Waits for `promise`, failing after `ms` so a lost message fails the test instead of
 * hanging it; the guard is a hang stop, not a speed assertion.
 */
export async function within<T>(promise: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Publishes raw bytes straight to the redis-server over RESP (the gateway only takes JSON
 * text, so it cannot send bytes that are not UTF-8).
 *
 * @returns how many subscribers received it
 */
export async function publishBytes(
  redisPort: number,
  channel: string,
  message: Uint8Array,
): Promise<number> {
  const encoder = new TextEncoder();
  const channelBytes = encoder.encode(channel);
  const head = encoder.encode(
    `*3\r\n$7\r\nPUBLISH\r\n$${channelBytes.byteLength}\r\n`,
  );
  const middle = encoder.encode(`\r\n$${message.byteLength}\r\n`);
  const tail = encoder.encode("\r\n");
  const command = new Uint8Array(
    head.byteLength + channelBytes.byteLength + middle.byteLength + message.byteLength + 2,
  );
  let offset = 0;
  for (const part of [head, channelBytes, middle, message, tail]) {
    command.set(part, offset);
    offset += part.byteLength;
  }
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: redisPort });
  try {
    let written = 0;
    while (written < command.byteLength) written += await conn.write(command.subarray(written));
    const buffer = new Uint8Array(64);
    let reply = "";
    while (!reply.includes("\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("redis-server closed the connection");
      reply += new TextDecoder().decode(buffer.subarray(0, n));
    }
    if (!reply.startsWith(":")) throw new Error(`PUBLISH failed: ${reply}`);
    return Number(reply.slice(1, reply.indexOf("\r\n")));
  } finally {
    conn.close();
  }
}
