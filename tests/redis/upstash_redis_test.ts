import assert from "node:assert/strict";
import { RedisError } from "../../src/errors.ts";
import { toRedisLike } from "../../src/redis/connect.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { findFreePort, startRedisStack } from "../support/redis_stack.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { redisLikeConformance } from "./_conformance.ts";

Deno.test("UpstashRedis passes the RedisLike conformance suite through the gateway", async (t) => {
  await using stack = await startRedisStack();
  const redis = UpstashRedis.fromClient(stack.redis);
  await redisLikeConformance(t, redis, `conformance-${crypto.randomUUID()}`);
});

Deno.test("toRedisLike() accepts an @upstash/redis client whatever its deserialization", async () => {
  await using stack = await startRedisStack();
  const { Redis } = await import("@upstash/redis");
  // The SDK would turn "1.0" into the number 1; Kiln must read the bytes Redis holds.
  const decoding = new Redis({ url: stack.gatewayUrl, token: stack.token, enableTelemetry: false });
  const redis = toRedisLike(decoding);
  await redis.set("deserialization", "1.0");
  assert.equal(await redis.get("deserialization"), "1.0");
  assert.equal(toRedisLike(redis), redis);
  assert.throws(() => toRedisLike({}), TypeError);
});

Deno.test("a wrong token is refused with REDIS_UNAUTHORIZED", async () => {
  await using stack = await startRedisStack();
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: "wrong" });
  await assert.rejects(
    redis.get("k"),
    (error: unknown) => error instanceof RedisError && error.code === "REDIS_UNAUTHORIZED",
  );
  await assert.rejects(
    redis.subscribe("c", { onMessage() {} }),
    (error: unknown) => error instanceof RedisError && error.code === "REDIS_UNAUTHORIZED",
  );
});

Deno.test("an endpoint nobody listens on is REDIS_UNAVAILABLE after the retries, waited on the clock with back-off", async () => {
  let calls = 0;
  const counting: typeof fetch = (input, init) => {
    calls++;
    return fetch(input, init);
  };
  const clock = new ManualClock();
  const redis = new UpstashRedis({
    url: `http://127.0.0.1:${findFreePort()}`,
    token: "t",
    retries: 2,
    fetch: counting,
    clock,
    random: () => 0, // "equal" jitter at its low end: half of each wait
  });
  const failing = assert.rejects(
    redis.get("k"),
    (error: unknown) => error instanceof RedisError && error.code === "REDIS_UNAVAILABLE",
  );
  // 50 ms then 150 ms (×3), halved by the jitter; nothing retries until the clock moves.
  assert.equal(await clock.timer(), 25);
  assert.equal(calls, 1);
  clock.advance(25);
  assert.equal(await clock.timer(), 75);
  assert.equal(calls, 2);
  clock.advance(75);
  await failing;
  assert.equal(calls, 3);
});

Deno.test("Redis stopped behind the gateway is REDIS_UNAVAILABLE, and work resumes after", async () => {
  await using stack = await startRedisStack();
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  await redis.set("before", "1");
  await stack.stopRedis();
  await assert.rejects(
    redis.get("before"),
    (error: unknown) => error instanceof RedisError && error.code === "REDIS_UNAVAILABLE",
  );
  await stack.startRedis();
  let value: string | null | undefined;
  for (let attempt = 0; attempt < 50 && value === undefined; attempt++) {
    value = await redis.set("after", "2").then(() => redis.get("after"), () => undefined);
    if (value === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(value, "2");
});

Deno.test("a subscription lost with its gateway reports the loss once", async () => {
  await using stack = await startRedisStack();
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  const errors: Error[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const subscription = await redis.subscribe("lost", {
    onReady: ready,
    onMessage() {},
    onError: (error) => errors.push(error),
  });
  await isReady;
  stack.gatewayProcess.kill("SIGTERM");
  await subscription.closed;
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof RedisError && errors[0].code === "REDIS_UNAVAILABLE");
  await subscription.close();
});

Deno.test("UpstashRedis validates its options", () => {
  assert.throws(() => new UpstashRedis({ url: "redis://x", token: "t" }), TypeError);
  assert.throws(() => new UpstashRedis({ url: "http://x", token: "" }), TypeError);
  assert.throws(() => new UpstashRedis({ url: "http://x", token: "t", retries: -1 }), RangeError);
  assert.throws(() => UpstashRedis.fromClient({}), TypeError);
});
