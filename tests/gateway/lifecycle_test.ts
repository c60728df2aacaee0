/**
 * The gateway survives Redis going away (503, then recovery without a restart), carries
 * many concurrent clients correctly, and shuts down cleanly on SIGTERM.
 */

import assert from "node:assert/strict";
import { startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

Deno.test("a stopped Redis gives 503 and the gateway reconnects by itself when it returns", async () => {
  await using stack = await startRedisStack();
  assert.equal(await stack.redis.set("k", "before"), "OK");
  await stack.stopRedis();
  const down = await post(stack, "/", ["GET", "k"]);
  assert.equal(down.status, 503);
  // Which message depends on whether the gateway noticed the closed socket before this request.
  assert.match(
    (down.body as { error: string }).error,
    /^Redis (is unreachable at|connection to) 127\.0\.0\.1:\d+/,
  );
  assert.equal((await post(stack, "/pipeline", [["PING"]])).status, 503);
  assert.equal((await post(stack, "/multi-exec", [["PING"]])).status, 503);
  assert.equal((await post(stack, "/subscribe/c", "[]")).status, 503);
  await assert.rejects(() => stack.redis.get("k"), /unreachable|was lost/);

  await stack.startRedis();
  assert.deepEqual(await post(stack, "/", ["SET", "k", "after"]), {
    status: 200,
    body: { result: "OK" },
  });
  assert.equal(await stack.redis.get("k"), "after");
});

Deno.test("64 concurrent clients each doing many commands all get their own correct results", async () => {
  await using stack = await startRedisStack();
  const clients = 64;
  const rounds = 40;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const redis = stack.newRedis();
    for (let i = 0; i < rounds; i++) {
      const key = `c${c}:k${i}`;
      const value = `value ${c}/${i} ✓`;
      const { body } = await post(stack, "/", ["SET", key, value]);
      assert.deepEqual(body, { result: "OK" });
      assert.deepEqual((await post(stack, "/", ["GET", key])).body, { result: value });
      assert.equal(await redis.incr(`c${c}:counter`), i + 1);
      assert.equal(await redis.get(key), value);
    }
  }));
  const { body } = await post(stack, "/", ["DBSIZE"]);
  assert.deepEqual(body, { result: clients * rounds + clients });
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal} stops the gateway subprocess cleanly with exit code 0`, async () => {
    const stack = await startRedisStack();
    try {
      assert.equal(await stack.redis.ping(), "PONG");
      stack.gatewayProcess.kill(signal);
      const status = await stack.gatewayProcess.status;
      assert.equal(status.success, true);
      assert.equal(status.code, 0);
      await assert.rejects(() => fetch(stack.gatewayUrl, { method: "POST", body: "[]" }));
    } finally {
      await stack.close();
    }
  });
}

Deno.test("startRedisStack explains how to install redis-server when it is missing", async () => {
  const path = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", "/nonexistent");
  try {
    await assert.rejects(() => startRedisStack(), /apt-get install -y redis-server/);
  } finally {
    Deno.env.set("PATH", path);
  }
});
