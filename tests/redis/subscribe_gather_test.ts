/**
 * `SubscribeHandlers.gatherMs` through `UpstashRedis` to the real gateway: a subscriber
 * that asks for a window hears the messages right behind a delivery together when it is
 * over; out-of-range values are refused before any request; and a queue's live view
 * (`RedisBackend.watch`) asks for its window while nothing else does.
 */
import assert from "node:assert/strict";
import { UpstashRedis } from "../../src/redis/mod.ts";
import { RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";

/** An UpstashRedis on the stack whose requests' gathering headers are recorded per path. */
function recordingRedis(url: string, token: string) {
  const asked = new Map<string, string | null>();
  const redis = new UpstashRedis({
    url,
    token,
    fetch: (input, init) => {
      const path = new URL(String(input)).pathname;
      if (path.startsWith("/subscribe/")) {
        asked.set(path, new Headers(init?.headers).get("kiln-gather-ms"));
      }
      return fetch(input, init);
    },
  });
  return { redis, asked };
}

Deno.test("subscribe() with gatherMs hears the first message at once and the ones right behind it together after the window", async () => {
  await using stack = await startRedisStack();
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  const heard: { message: string; at: number }[] = [];
  let arrived = () => {};
  const subscription = await redis.subscribe("feed", {
    gatherMs: 1_000,
    onMessage(message) {
      heard.push({ message, at: performance.now() });
      arrived();
    },
  });
  const until = (count: number) =>
    new Promise<void>((resolve) => {
      arrived = () => heard.length >= count && resolve();
      arrived();
    });
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // a quiet spell
    const sent = performance.now();
    await redis.publish("feed", "first");
    await until(1);
    assert.ok(heard[0].at - sent < 500, `the first took ${heard[0].at - sent} ms`);
    await redis.publish("feed", "second");
    await redis.publish("feed", "third");
    await until(3);
    assert.deepEqual(heard.map((h) => h.message), ["first", "second", "third"]);
    assert.ok(heard[1].at - heard[0].at >= 500, `held ${heard[1].at - heard[0].at} ms`);
  } finally {
    await subscription.close();
  }
});

Deno.test("subscribe() refuses a gatherMs that is not a whole number from 0 to 1000, before any request", async () => {
  const { redis, asked } = recordingRedis("http://127.0.0.1:9", "t");
  for (const gatherMs of [-1, 1_001, 1.5, Number.NaN, Infinity]) {
    await assert.rejects(
      redis.subscribe("c", { gatherMs, onMessage() {} }),
      (error) =>
        error instanceof RangeError && /gatherMs must be a whole number/.test(error.message),
    );
  }
  assert.equal(asked.size, 0);
});

Deno.test("a queue's live view asks the gateway for a gathering window; a plain subscription does not", async () => {
  await using stack = await startRedisStack();
  const { redis, asked } = recordingRedis(stack.gatewayUrl, stack.token);
  const backend = new RedisBackend({ redis, prefix: "gather" });
  const unwatch = await backend.watch("default", () => {});
  const plain = await redis.subscribe("plain", { onMessage() {} });
  try {
    const [queuePath] = [...asked.keys()].filter((path) => path !== "/subscribe/plain");
    assert.equal(asked.get(queuePath), "10");
    assert.equal(asked.get("/subscribe/plain"), null);
  } finally {
    await unwatch();
    await plain.close();
  }
});
