/**
 * Slow and cut-off request bodies: a client that sends its headers and then trickles or
 * stalls its body (slowloris) gets 408 once `bodyTimeout` passes, and one that hangs up
 * mid-body is an expected end, not an "unexpected error" with a stack trace in the log.
 */

import assert from "node:assert/strict";
import { startRedisStack } from "../support/redis_stack.ts";
import { gatewayBeside } from "./_gateway_beside.ts";

const BODY_TIMEOUT = 300;

/** Sends `head` and `body` on a raw socket, then reads what comes back within `waitMs`. */
async function rawExchange(port: number, text: string, waitMs: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(text));
  const timer = setTimeout(() => conn.close(), waitMs);
  const buffer = new Uint8Array(4096);
  let out = "";
  try {
    const n = await conn.read(buffer);
    if (n !== null) out = new TextDecoder().decode(buffer.subarray(0, n));
    clearTimeout(timer);
    conn.close();
  } catch {
    // closed by the timer: nothing came back in time
  }
  return out;
}

Deno.test("a stalled or trickling request body is answered 408 after bodyTimeout", async () => {
  await using stack = await startRedisStack();
  await using gateway = await gatewayBeside(stack, { bodyTimeout: BODY_TIMEOUT });
  const head = (path: string, framing: string) =>
    `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${stack.token}\r\n${framing}\r\n\r\n`;
  const cases = [
    ["/", head("/", "content-length: 100") + '["SET","slow"'],
    ["/pipeline", head("/pipeline", "content-length: 100000") + "[".repeat(70_000)],
    ["/", head("/", "transfer-encoding: chunked") + '5\r\n["SET\r\n'],
    ["/set/slow", head("/set/slow", "content-length: 10") + "v"],
  ];
  for (const [path, request] of cases) {
    const started = performance.now();
    const reply = await rawExchange(gateway.port, request, 10 * BODY_TIMEOUT);
    assert.match(reply, /^HTTP\/1\.1 408/, path);
    assert.match(reply, /Request body did not arrive within 300 ms/, path);
    assert.ok(performance.now() - started >= BODY_TIMEOUT, path);
  }
  assert.equal(await stack.redis.exists("slow"), 0);
});

Deno.test("a client hanging up mid-body is not logged as an unexpected error", async () => {
  await using stack = await startRedisStack();
  await using gateway = await gatewayBeside(stack);
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    for (const framing of ["content-length: 100000", "transfer-encoding: chunked"]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
      const body = framing.startsWith("content") ? "[".repeat(70_000) : '5\r\n[["SE\r\n';
      await conn.write(new TextEncoder().encode(
        `POST /pipeline HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${stack.token}\r\n` +
          `${framing}\r\n\r\n${body}`,
      ));
      await new Promise((resolve) => setTimeout(resolve, 100));
      conn.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    console.error = original;
  }
  assert.deepEqual(logged, []);
  assert.equal(await stack.redis.ping(), "PONG");
});
