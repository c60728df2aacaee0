/**
 * A subscription's Redis connection is node-redis's, with its reconnection turned off:
 * when the connection is lost, or closed to drop a message too large to hold, the SSE
 * stream ends (Kiln's client and `@upstash/redis` subscribe again), instead of node-redis
 * resubscribing behind the client's back after a gap it never hears of.
 */

import assert from "node:assert/strict";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

/** Opens `/subscribe/<channel>` and reads until the confirmation. */
async function subscribe(stack: RedisStack, channel: string) {
  const response = await fetch(`${stack.gatewayUrl}/subscribe/${channel}`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}` },
  });
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  /** Reads until the stream ends; throws if it is still open after 30 s. */
  const readToEnd = async () => {
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      reader.cancel();
    }, 30_000);
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
    } catch {
      // the stream errored: it ended too
    } finally {
      clearTimeout(deadline);
    }
    if (timedOut) throw new Error(`The stream was still open after 30 s: ${text.slice(0, 200)}`);
    return text;
  };
  while (!text.includes(`data: subscribe,${channel},1\n\n`)) {
    const { value, done } = await reader.read();
    assert.equal(done, false, "the stream ended before its confirmation");
    text += value;
  }
  return { readToEnd, reader };
}

Deno.test("a subscription whose Redis goes away ends its stream, and a new one works once Redis is back", async () => {
  await using stack = await startRedisStack();
  const first = await subscribe(stack, "news");
  const ended = first.readToEnd();
  await stack.stopRedis();
  const text = await ended;
  assert.ok(text.startsWith("data: subscribe,news,1\n\n"), text);
  await stack.startRedis();
  let status = 0;
  for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
    status = (await post(stack, "/", ["PING"])).status;
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const second = await subscribe(stack, "news");
  await post(stack, "/", ["PUBLISH", "news", "back"]);
  let got = "";
  while (!got.includes("data: message,news,back\n\n")) {
    const { value, done } = await second.reader.read();
    assert.equal(done, false);
    got += value;
  }
  await second.reader.cancel();
});

Deno.test("a published message past the hold limit ends its subscribers' streams and no one else's", async () => {
  // Replies and messages are held up to max(2 x 1 MiB, 8 MiB); this one is 20 MB.
  await using stack = await startRedisStack({
    maxReplyBytes: 1024 * 1024,
    sseMaxBufferedBytes: 64 * 1024 * 1024,
  });
  const big = await subscribe(stack, "big");
  const ended = big.readToEnd();
  const other = await subscribe(stack, "other");
  const publish = "redis.call('PUBLISH', 'big', string.rep('z', 20000000))";
  assert.equal((await post(stack, "/", ["EVAL", publish, 0])).status, 200);
  const text = await ended;
  assert.ok(!text.includes("data: message,big"), "the message was never relayed");
  await post(stack, "/", ["PUBLISH", "other", "fine"]);
  let got = "";
  while (!got.includes("data: message,other,fine\n\n")) {
    const { value, done } = await other.reader.read();
    assert.equal(done, false);
    got += value;
  }
  await other.reader.cancel();
});
