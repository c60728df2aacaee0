/**
 * A subscriber that stops reading must not make the gateway queue events for it without
 * bound: once it is `sseMaxBufferedBytes` behind, its stream is dropped (and its Redis
 * subscription released), while subscribers that read carry on.
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
    // The dropped stream ends with an error, not a clean end a client could mistake for
    // a finished subscription.
    await assert.rejects(stalled.body!.pipeTo(new WritableStream()));
    const { status, body } = await post(stack, "/", ["PING"]);
    assert.deepEqual({ status, body }, { status: 200, body: { result: "PONG" } });
  } finally {
    controller.abort();
    await stalled.body?.cancel().catch(() => {});
    await reader.unsubscribe();
  }
});
