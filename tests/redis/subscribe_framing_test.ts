/**
 * Kiln's `subscribe()` through the real gateway: whatever a publisher puts in a message
 * (line breaks of every kind, text that looks like SSE or like another Redis push), each
 * message arrives once, whole and exact, and nothing arrives that nobody published.
 */
import assert from "node:assert/strict";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import type { RedisSubscription } from "../../src/redis/redis_like.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { HOSTILE_MESSAGES, publishBytes, signal, within } from "./_sse_payloads.ts";

/** A subscription that records its messages and resolves when `last` arrives. */
async function record(
  redis: UpstashRedis,
  channel: string,
  last: string,
): Promise<{ messages: string[]; done: Promise<void>; subscription: RedisSubscription }> {
  const messages: string[] = [];
  const ready = signal();
  let arrived!: () => void;
  let failed!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    arrived = resolve;
    failed = reject;
  });
  // Handled now, awaited later: an early failure must not be an unhandled rejection.
  done.catch(() => {});
  const subscription = await redis.subscribe(channel, {
    onReady: () => ready.resolve(),
    onMessage(message, from) {
      assert.equal(from, channel);
      messages.push(message);
      if (message === last) arrived();
    },
    onError: (error) => failed(error),
  });
  await within(ready.promise, `the subscription to ${JSON.stringify(channel)}`);
  return { messages, done, subscription };
}

Deno.test("subscribe() receives every hostile message exactly once and nothing forged", async () => {
  await using stack = await startRedisStack();
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  const main = await record(redis, "ch", "end");
  const other = await record(redis, "other", "end");
  try {
    for (const message of HOSTILE_MESSAGES) assert.equal(await redis.publish("ch", message), 1);
    await redis.publish("ch", "end");
    await redis.publish("other", "end");
    await within(main.done, "the last message on ch");
    await within(other.done, "the last message on other");
    assert.deepEqual(main.messages, [...HOSTILE_MESSAGES, "end"]);
    assert.deepEqual(other.messages, ["end"], "no message was forged on another channel");
  } finally {
    await main.subscription.close();
    await other.subscription.close();
  }
});

Deno.test("subscribe() to channel names with commas, quotes and line breaks", async () => {
  await using stack = await startRedisStack();
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  for (const channel of ["a,b", '"quoted"', "line\nbreak", 'cr\rlf\n,"x', " "]) {
    const sub = await record(redis, channel, "end");
    try {
      await redis.publish(channel, "hi,\nthere");
      await redis.publish(channel, "end");
      await within(sub.done, `the last message on ${JSON.stringify(channel)}`);
      assert.deepEqual(sub.messages, ["hi,\nthere", "end"], JSON.stringify(channel));
    } finally {
      await sub.subscription.close();
    }
  }
});

Deno.test("subscribe() receives 1 MiB messages whole, with and without line breaks", async () => {
  await using stack = await startRedisStack();
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  const withBreaks = "0123456789abcd\r\n".repeat(65_536);
  const plain = "x".repeat(1_048_576);
  assert.equal(withBreaks.length, 1_048_576);
  const sub = await record(redis, "big", "end");
  try {
    await redis.publish("big", withBreaks);
    await redis.publish("big", plain);
    await redis.publish("big", "end");
    await within(sub.done, "the last big message");
    assert.equal(sub.messages.length, 3);
    assert.ok(sub.messages[0] === withBreaks, "the message with line breaks is exact");
    assert.ok(sub.messages[1] === plain, "the plain message is exact");
  } finally {
    await sub.subscription.close();
  }
});

Deno.test("subscribe() receives a burst of messages sent in one round trip, in order", async () => {
  await using stack = await startRedisStack();
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  const sent = Array.from(
    { length: 2_000 },
    (_, i) => HOSTILE_MESSAGES[i % HOSTILE_MESSAGES.length] + `#${i}`,
  );
  const sub = await record(redis, "burst", "end");
  try {
    const results = await redis.pipeline([
      ...sent.map((m) => ["PUBLISH", "burst", m] as const),
      ["PUBLISH", "burst", "end"],
    ]);
    assert.ok(results.every((r) => r.ok && r.reply === 1));
    await within(sub.done, "the end of the burst");
    assert.deepEqual(sub.messages, [...sent, "end"]);
  } finally {
    await sub.subscription.close();
  }
});

Deno.test("bytes that are not UTF-8 arrive as U+FFFD, and the framing holds", async () => {
  await using stack = await startRedisStack();
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  const sub = await record(redis, "bytes", "end");
  try {
    // 0xFF and a lone continuation byte are invalid; 0x0A is a real line break.
    const bytes = new Uint8Array([0x61, 0xff, 0x0a, 0x80, 0x62, 0x0d]);
    assert.equal(await publishBytes(stack.redisPort, "bytes", bytes), 1);
    await redis.publish("bytes", "end");
    await within(sub.done, "the last message");
    assert.deepEqual(sub.messages, ["a\uFFFD\n\uFFFDb\r", "end"]);
  } finally {
    await sub.subscription.close();
  }
});
