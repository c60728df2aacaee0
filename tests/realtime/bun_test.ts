import assert from "node:assert/strict";
import { CloseCode } from "../../src/realtime/close_codes.ts";
import { startFixture } from "./_support/runtime_fixture.ts";
import { sign } from "./_support/server.ts";
import {
  maskedFrameHeader,
  openRaw,
  readUntilClosed,
  within,
  writeAll,
} from "./_support/ws_client.ts";

Deno.test("on Bun, binary frames count against the rate limit: a flood of them closes with RateLimited", async () => {
  await using server = await startFixture("bun", {
    frozenClock: true,
    realtime: { rateLimit: { messagesPerSecond: 5, burst: 5, maxViolations: 3 } },
  });
  const conn = await openRaw(server.url, await sign("alice"));
  try {
    const frame = new Uint8Array([0x82, 0x84, 0, 0, 0, 0, 1, 2, 3, 4]);
    const flood = new Uint8Array(frame.length * 4_000);
    for (let i = 0; i < 4_000; i++) flood.set(frame, i * frame.length);
    await writeAll(conn, flood).catch(() => {}); // the server may close while we write
    assert.equal(await within(server.nextClose(), 5_000, "the hub's close"), CloseCode.RateLimited);
  } finally {
    conn.close();
  }
});

Deno.test("on Bun, limitBunFrames() refuses an oversized frame on its header, before its payload arrives", async () => {
  await using server = await startFixture("bun", {
    realtime: { maxMessageBytes: 16_384 },
    frameLimit: 16_384,
  });
  const conn = await openRaw(server.url, await sign("alice"));
  try {
    // Announce 8 MiB (under Bun's own 16 MiB cap) and send 1 KiB of it: a
    // server that buffers first would wait for the rest.
    await writeAll(conn, maskedFrameHeader(0x1, 8 * 1024 * 1024));
    await writeAll(conn, new Uint8Array(1024));
    assert.equal(await readUntilClosed(conn), 1009); // Bun's "Message Too Big"
    await within(server.nextClose(), 5_000, "the hub's close");
  } finally {
    conn.close();
  }
});

Deno.test("on Bun without limitBunFrames(), the runtime's own cap of 16 MiB applies", async () => {
  await using server = await startFixture("bun", { realtime: { maxMessageBytes: 16_384 } });
  const conn = await openRaw(server.url, await sign("alice"));
  try {
    await writeAll(conn, maskedFrameHeader(0x1, 16 * 1024 * 1024 + 1));
    await writeAll(conn, new Uint8Array(1024));
    assert.equal(await readUntilClosed(conn), 1009);
  } finally {
    conn.close();
  }
});
