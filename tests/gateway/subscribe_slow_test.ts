/**
 * A subscriber that stops reading must not make the gateway queue events for it without
 * bound: once it is `sseMaxBufferedBytes` behind, its Redis subscription is released and
 * its stream ends with an error event after what was queued, while subscribers that read
 * carry on.
 */
import assert from "node:assert/strict";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { signal, within } from "../redis/_sse_payloads.ts";
import { post } from "./_http.ts";

const MAX_BUFFERED = 1024 * 1024;
const CHUNK = "x".repeat(64 * 1024);
/** Far more than the limit plus what the kernel's socket buffers can hold on loopback. */
const MAX_PUBLISHES = 4_000;

async function subscriberCount(stack: RedisStack): Promise<number> {
  const { body } = await post(stack, "/", ["PUBSUB", "NUMSUB", "slow"]);
  return (body as { result: [string, number] }).result[1];
}

Deno.test("a subscriber that stops reading is dropped once it is sseMaxBufferedBytes behind", async () => {
  await using stack = await startRedisStack({ sseMaxBufferedBytes: MAX_BUFFERED });
  const controller = new AbortController();
  const stalled = await fetch(`${stack.gatewayUrl}/subscribe/slow`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}` },
    signal: controller.signal,
  });
  assert.equal(stalled.status, 200);
  // A second subscriber that keeps reading must not be affected.
  const reader = stack.redis.subscribe<string>(["slow"]);
  let read = 0;
  const ready = signal();
  const last = signal();
  reader.on("subscribe", () => ready.resolve());
  reader.on("message", ({ message }) => {
    read++;
    if (message === "end") last.resolve();
  });
  try {
    await within(ready.promise, "the reading subscriber");
    assert.equal(await subscriberCount(stack), 2);
    // Publish until the stalled stream is dropped: PUBLISH then reaches one subscriber.
    let publishes = 0;
    let receivers = 2;
    while (receivers === 2 && publishes < MAX_PUBLISHES) {
      const { body } = await post(stack, "/", ["PUBLISH", "slow", CHUNK]);
      receivers = (body as { result: number }).result;
      publishes++;
    }
    assert.equal(receivers, 1, `still queueing after ${publishes} publishes of 64 KiB`);
    await post(stack, "/", ["PUBLISH", "slow", "end"]);
    await within(last.promise, "the reading subscriber's last message");
    assert.equal(read, publishes + 1, "the reading subscriber got every message");
    // The dropped stream's last event says why, in a shape spec parsers (event type
    // `error`) and @upstash/redis (an `error` push, for its error listeners) both see.
    const text = await stalled.text();
    const lastEvent = text.slice(text.lastIndexOf("\n\n", text.length - 3) + 2);
    assert.equal(
      lastEvent,
      'event: error\ndata: error,slow,"The subscriber fell more than 1048576 bytes behind; ' +
        'subscription closed"\n\n',
    );
    const { status, body } = await post(stack, "/", ["PING"]);
    assert.deepEqual({ status, body }, { status: 200, body: { result: "PONG" } });
  } finally {
    controller.abort();
    await stalled.body?.cancel().catch(() => {});
    await reader.unsubscribe();
  }
});

Deno.test("a dropped subscriber that does not read again within two heartbeats loses its queue, which the gateway frees", async () => {
  await using stack = await startRedisStack({
    sseMaxBufferedBytes: MAX_BUFFERED,
    sseHeartbeatMs: 100,
  });
  const stalled = await fetch(`${stack.gatewayUrl}/subscribe/slow`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}` },
  });
  let receivers = 1;
  for (let i = 0; receivers === 1 && i < MAX_PUBLISHES; i++) {
    const { body } = await post(stack, "/", ["PUBLISH", "slow", CHUNK]);
    receivers = (body as { result: number }).result;
  }
  assert.equal(receivers, 0, "the stalled subscriber was released in Redis");
  await new Promise((resolve) => setTimeout(resolve, 500));
  // The queue was dropped: reading now ends in an error, not in the queued events.
  await assert.rejects(stalled.body!.pipeTo(new WritableStream()));
});

Deno.test("with a gathering window, the events the window holds count against the limit too", async () => {
  await using stack = await startRedisStack({ sseMaxBufferedBytes: MAX_BUFFERED });
  // The longest window: after the first event, the rest wait in the gateway, not in a socket.
  const stalled = await fetch(`${stack.gatewayUrl}/subscribe/slow`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}`, "kiln-gather-ms": "1000" },
  });
  assert.equal(stalled.status, 200);
  let receivers = 1;
  let publishes = 0;
  while (receivers === 1 && publishes < MAX_PUBLISHES) {
    const { body } = await post(stack, "/", ["PUBLISH", "slow", CHUNK]);
    receivers = (body as { result: number }).result;
    publishes++;
  }
  assert.equal(receivers, 0, "the stalled subscriber was released in Redis");
  // Dropped as soon as what it holds passes the limit: no socket buffer absorbed any of it.
  const limit = MAX_BUFFERED / CHUNK.length;
  assert.ok(
    publishes <= limit + 2,
    `dropped after ${publishes} publishes of 64 KiB, not ~${limit}`,
  );
  // What the window held is written before the error event that ends the stream.
  const text = await stalled.text();
  assert.equal(text.split(`data: message,slow,${CHUNK}\n\n`).length - 1, publishes - 1);
  assert.ok(text.endsWith('subscription closed"\n\n'));
});
