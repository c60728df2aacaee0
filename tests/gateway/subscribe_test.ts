/**
 * `/subscribe` and `/psubscribe` stream Redis pub/sub as Server-Sent Events that
 * `@upstash/redis`'s `subscribe()`/`psubscribe()` understand, and release the Redis
 * subscription when the HTTP client leaves.
 */

import assert from "node:assert/strict";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

async function waitFor(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function subscriberCount(stack: RedisStack, channel: string): Promise<number> {
  const { body } = await post(stack, "/", ["PUBSUB", "NUMSUB", channel]);
  return (body as { result: [string, number] }).result[1];
}

Deno.test("redis.subscribe() receives published messages and the subscription ends on unsubscribe", async () => {
  await using stack = await startRedisStack();
  const subscriber = stack.redis.subscribe<unknown>(["news"]);
  const messages: unknown[] = [];
  let subscribed = 0;
  subscriber.on("subscribe", (count) => subscribed = count);
  subscriber.on("message", ({ message }) => messages.push(message));
  await waitFor(() => subscribed === 1, "the subscribe confirmation");
  assert.equal(await subscriberCount(stack, "news"), 1);

  assert.equal(await stack.redis.publish("news", { title: "héllo 😀" }), 1);
  assert.equal(await stack.redis.publish("news", "plain, with commas"), 1);
  await waitFor(() => messages.length === 2, "two messages");
  assert.deepEqual(messages, [{ title: "héllo 😀" }, "plain, with commas"]);

  await subscriber.unsubscribe();
  await waitFor(async () => (await subscriberCount(stack, "news")) === 0, "the release");
});

Deno.test("redis.psubscribe() receives pattern messages with their channel", async () => {
  await using stack = await startRedisStack();
  const subscriber = stack.redis.psubscribe<unknown>(["orders.*"]);
  const messages: Array<{ pattern: string; channel: string; message: unknown }> = [];
  subscriber.on("pmessage", (m) => messages.push(m));
  await waitFor(async () => {
    const { body } = await post(stack, "/", ["PUBSUB", "NUMPAT"]);
    return (body as { result: number }).result === 1;
  }, "the pattern subscription");
  await stack.redis.publish("orders.eu", { id: 1 });
  await waitFor(() => messages.length === 1, "a pattern message");
  assert.deepEqual(messages[0], { pattern: "orders.*", channel: "orders.eu", message: { id: 1 } });
  await subscriber.unsubscribe();
  await waitFor(async () => {
    const { body } = await post(stack, "/", ["PUBSUB", "NUMPAT"]);
    return (body as { result: number }).result === 0;
  }, "the pattern release");
});

Deno.test("the raw event stream uses data: lines and disconnecting releases the Redis subscription", async () => {
  await using stack = await startRedisStack();
  const controller = new AbortController();
  const response = await fetch(`${stack.gatewayUrl}/subscribe/room%201`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}`, accept: "text/event-stream" },
    body: "[]",
    signal: controller.signal,
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const readUntil = async (needle: string) => {
    while (!text.includes(needle)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Stream ended before ${needle}`);
      text += value;
    }
  };
  await readUntil("data: subscribe,room 1,1\n\n");
  assert.equal(await subscriberCount(stack, "room 1"), 1);
  await post(stack, "/", ["PUBLISH", "room 1", "hi"]);
  await readUntil("data: message,room 1,hi\n\n");
  controller.abort();
  await reader.cancel().catch(() => {});
  await waitFor(async () => (await subscriberCount(stack, "room 1")) === 0, "the release");
});

Deno.test("subscribing without a channel name is a 400", async () => {
  await using stack = await startRedisStack();
  for (const path of ["/subscribe", "/subscribe/", "/psubscribe/"]) {
    const reply = await post(stack, path, "[]");
    assert.deepEqual(reply, { status: 400, body: { error: "Channel name is empty" } }, path);
  }
  assert.equal((await post(stack, "/subscribers/x", "[]")).status, 404);
});
