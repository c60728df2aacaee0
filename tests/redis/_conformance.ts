/**
 * The behaviour every {@linkcode RedisLike} adapter must show, written once and
 * run against each adapter (today the Upstash REST one, through the real gateway).
 */
import assert from "node:assert/strict";
import type { RedisLike } from "../../src/redis/redis_like.ts";
import { RedisError } from "../../src/errors.ts";

/** Registers the conformance steps on a test context. */
export async function redisLikeConformance(
  t: Deno.TestContext,
  redis: RedisLike,
  namespace: string,
): Promise<void> {
  const key = (name: string): string => `${namespace}:${name}`;

  await t.step("set() then get() round-trips text exactly, non-ASCII included", async () => {
    for (const value of ["plain", "1.0", "007", "null", '{"a":1}', "Grüße, 世界 🎉", "", " x "]) {
      assert.equal(await redis.set(key("text"), value), true);
      assert.equal(await redis.get(key("text")), value, `value ${JSON.stringify(value)}`);
    }
  });

  await t.step("get() of a missing key is null", async () => {
    assert.equal(await redis.get(key("missing")), null);
  });

  await t.step("set() with nx refuses to overwrite and px expires the key", async () => {
    assert.equal(await redis.set(key("nx"), "first", { nx: true }), true);
    assert.equal(await redis.set(key("nx"), "second", { nx: true }), false);
    assert.equal(await redis.get(key("nx")), "first");
    await redis.set(key("px"), "short-lived", { px: 40 });
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(await redis.get(key("px")), null);
  });

  await t.step("del() counts only the keys that existed", async () => {
    await redis.set(key("d1"), "x");
    await redis.set(key("d2"), "y");
    assert.equal(await redis.del(key("d1"), key("d2"), key("never")), 2);
    assert.equal(await redis.del(), 0);
  });

  await t.step("eval() returns nested replies with their types", async () => {
    const reply = await redis.eval(
      "return {KEYS[1], tonumber(ARGV[1]), {ARGV[2], false}}",
      [key("k")],
      [41, "ü"],
    );
    assert.deepEqual(reply, [key("k"), 41, ["ü", null]]);
  });

  await t.step("evalsha() of an unknown script fails with NOSCRIPT", async () => {
    await assert.rejects(
      redis.evalsha("0".repeat(40), [], []),
      (error: unknown) =>
        error instanceof RedisError && error.code === "REDIS_COMMAND_FAILED" &&
        error.message.startsWith("NOSCRIPT"),
    );
  });

  await t.step("a command Redis refuses rejects with its message", async () => {
    await redis.set(key("str"), "x");
    await assert.rejects(
      redis.eval("return redis.call('LPUSH', KEYS[1], 'a')", [key("str")], []),
      (error: unknown) =>
        error instanceof RedisError && error.code === "REDIS_COMMAND_FAILED" &&
        /WRONGTYPE/.test(error.message),
    );
  });

  await t.step("pipeline() keeps order and isolates a failing command", async () => {
    const results = await redis.pipeline([
      ["SET", key("p"), "1"],
      ["INCR", key("p")],
      ["HSET", key("p"), "f", "v"],
      ["INCRBY", key("p"), 5],
      ["HSET", key("h"), "a", "1", "b", "2"],
      ["HGETALL", key("h")],
    ]);
    assert.deepEqual(results[0], { ok: true, reply: "OK" });
    assert.deepEqual(results[1], { ok: true, reply: 2 });
    assert.equal(results[2].ok, false);
    assert.match((results[2] as { error: string }).error, /WRONGTYPE/);
    assert.deepEqual(results[3], { ok: true, reply: 7 });
    // HGETALL stays Redis's own flat array, never an object.
    assert.deepEqual(results[5], { ok: true, reply: ["a", "1", "b", "2"] });
    assert.deepEqual(await redis.pipeline([]), []);
  });

  await t.step("subscribe() delivers published messages in order until closed", async () => {
    const received: string[] = [];
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    let gotAll!: () => void;
    const all = new Promise<void>((resolve) => (gotAll = resolve));
    const channel = key("events");
    const subscription = await redis.subscribe(channel, {
      onReady: ready,
      onMessage(message, from) {
        assert.equal(from, channel);
        received.push(message);
        if (received.length === 3) gotAll();
      },
    });
    try {
      await isReady;
      const messages = ['{"n":1}', "two, with commas", "drei ü"];
      for (const message of messages) assert.equal(await redis.publish(channel, message), 1);
      await all;
      assert.deepEqual(received, messages);
    } finally {
      await subscription.close();
    }
    await subscription.closed;
    // The server notices the closed stream asynchronously; it must release the subscription soon.
    let receivers = -1;
    for (let attempt = 0; attempt < 40 && receivers !== 0; attempt++) {
      receivers = await redis.publish(channel, "after close");
      if (receivers !== 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(receivers, 0);
    assert.equal(received.length, 3);
  });
}
