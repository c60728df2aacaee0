/**
 * Cases for `@kiln/core/redis` against the real HTTP gateway in front of a real
 * `redis-server`: the `@upstash/redis` adapter, the script runner's EVALSHA
 * with NOSCRIPT fallback, pipelines, the lock scripts, error codes, and a
 * subscription carried by the gateway's Server-Sent Events.
 *
 * @module
 */
import {
  acquireLock,
  defineScript,
  extendLock,
  Keyspace,
  releaseLock,
  ScriptRunner,
  toRedisLike,
  UpstashRedis,
} from "@kiln/core/redis";
import { KilnError, RedisError } from "@kiln/core/errors";
import * as assert from "./_assert.mjs";
import { Signal } from "./_signal.mjs";

/** The suite's name, printed by every runner. */
export const name = "redis";

/**
 * The adapter under test, built the way users build it: from an `@upstash/redis`
 * instance of the runtime's own entry (`@upstash/redis/cloudflare` on workerd).
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 */
function connect(ctx) {
  return UpstashRedis.fromClient(new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken }));
}

/**
 * Wraps a port so a case can see which commands the runner sent.
 *
 * @param {import("@kiln/core/redis").RedisLike} redis
 * @param {string[]} calls
 * @returns {import("@kiln/core/redis").RedisLike}
 */
function recording(redis, calls) {
  return {
    eval: (...args) => (calls.push("eval"), redis.eval(...args)),
    evalsha: (...args) => (calls.push("evalsha"), redis.evalsha(...args)),
    get: (key) => redis.get(key),
    set: (...args) => redis.set(...args),
    del: (...keys) => redis.del(...keys),
    publish: (...args) => redis.publish(...args),
    subscribe: (...args) => redis.subscribe(...args),
    pipeline: (commands) => redis.pipeline(commands),
  };
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "the adapter built from an @upstash/redis client sets, reads and deletes a key",
    async run(ctx) {
      const redis = connect(ctx);
      assert.ok(
        toRedisLike(new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken })) instanceof
          UpstashRedis,
      );
      const key = new Keyspace(ctx.namespace).key("greeting");
      assert.equal(await redis.set(key, "hello", { px: 60_000 }), true);
      assert.equal(await redis.set(key, "again", { nx: true }), false, "NX keeps the first value");
      assert.equal(await redis.get(key), "hello");
      assert.equal(await redis.del(key), 1);
      assert.equal(await redis.get(key), null);
    },
  },
  {
    name: "the script runner sends EVALSHA, falls back to EVAL on NOSCRIPT, then uses the cache",
    async run(ctx) {
      const calls = [];
      const runner = new ScriptRunner(recording(connect(ctx), calls));
      // A source no Redis has seen, so the first EVALSHA must miss.
      const nonce = `${ctx.runtime}-${Date.now()}-${Math.random()}`;
      const script = defineScript({
        name: "incrementBy",
        numberOfKeys: 1,
        source: `-- ${nonce}\nreturn redis.call("INCRBY", KEYS[1], ARGV[1])`,
      });
      const key = new Keyspace(ctx.namespace).key("counter");
      try {
        assert.equal(await runner.run(script, [key], [5]), 5);
        assert.deepEqual(calls, ["evalsha", "eval"]);
        assert.equal(await runner.run(script, [key], [2]), 7);
        assert.deepEqual(calls, ["evalsha", "eval", "evalsha"]);
      } finally {
        await runner.redis.del(key);
      }
    },
  },
  {
    name: "the script runner returns a negative reply as data and refuses a wrong key count",
    async run(ctx) {
      const runner = new ScriptRunner(connect(ctx));
      const script = defineScript({ name: "refuse", numberOfKeys: 0, source: "return -3" });
      assert.equal(await runner.run(script, [], []), -3);
      await assert.rejects(() => runner.run(script, ["one-key-too-many"], []), RangeError);
    },
  },
  {
    name: "the lock scripts let only the holder's token extend and release the lock",
    async run(ctx) {
      const runner = new ScriptRunner(connect(ctx));
      const key = new Keyspace(ctx.namespace).key("lock", "report");
      try {
        assert.equal(await acquireLock(runner, key, "holder", 30_000), true);
        assert.equal(await acquireLock(runner, key, "other", 30_000), false);
        assert.equal(await acquireLock(runner, key, "holder", 30_000), true, "replay is safe");
        assert.equal(await extendLock(runner, key, "other", 30_000), false);
        assert.equal(await extendLock(runner, key, "holder", 60_000), true);
        assert.equal(await releaseLock(runner, key, "other"), false);
        assert.equal(await releaseLock(runner, key, "holder"), true);
        assert.equal(await runner.redis.get(key), null);
      } finally {
        await runner.redis.del(key);
      }
    },
  },
  {
    name: "a pipeline answers every command in order, with a failing command's error in its slot",
    async run(ctx) {
      const redis = connect(ctx);
      const keys = new Keyspace(ctx.namespace);
      const [text, counter] = [keys.key("text"), keys.key("pipeline-counter")];
      try {
        const results = await redis.pipeline([
          ["SET", text, "not a number"],
          ["INCR", text],
          ["INCRBY", counter, 3],
          ["GET", counter],
        ]);
        assert.equal(results.length, 4);
        assert.deepEqual(results[0], { ok: true, reply: "OK" });
        assert.equal(results[1].ok, false);
        assert.ok(/not an integer/i.test(results[1].error), results[1].error);
        assert.deepEqual(results[2], { ok: true, reply: 3 });
        assert.deepEqual(results[3], { ok: true, reply: "3" });
      } finally {
        await redis.del(text, counter);
      }
    },
  },
  {
    name: "a command Redis refuses rejects with a RedisError coded REDIS_COMMAND_FAILED",
    async run(ctx) {
      const redis = connect(ctx);
      const key = new Keyspace(ctx.namespace).key("wrong-type");
      try {
        await redis.pipeline([["HSET", key, "field", "value"]]);
        const error = await redis.get(key).then(() => undefined, (e) => e);
        assert.ok(error instanceof RedisError, `expected a RedisError, got ${error}`);
        assert.ok(error instanceof KilnError);
        assert.equal(error.code, "REDIS_COMMAND_FAILED");
        assert.ok(/WRONGTYPE/.test(error.message), error.message);
      } finally {
        await redis.del(key);
      }
    },
  },
  {
    name: "an unreachable endpoint rejects with REDIS_UNAVAILABLE",
    async run() {
      // Port 1 on loopback: nothing listens there, so the connection is refused at once.
      const redis = new UpstashRedis({ url: "http://127.0.0.1:1", token: "t", retries: 0 });
      await assert.rejects(() => redis.get("any"), {
        name: "RedisError",
        code: "REDIS_UNAVAILABLE",
      });
    },
  },
  {
    name: "keys share the namespace's hash tag, and braces in a namespace are refused",
    run() {
      const keys = new Keyspace("mail");
      assert.equal(keys.key("ready"), "kiln:{mail}:ready");
      assert.throws(() => new Keyspace("a{b}"), TypeError);
    },
  },
  {
    name: "a subscription over the gateway's Server-Sent Events receives messages in order, " +
      "commas, Unicode and 64 KiB intact, and close() releases it on the server",
    async run(ctx) {
      const redis = connect(ctx);
      // Braces and colons in the channel name travel in the URL path.
      const channel = new Keyspace(ctx.namespace).key("events", "sse");
      const changed = new Signal();
      const received = [];
      const errors = [];
      let ready = false;
      const subscription = await redis.subscribe(channel, {
        onMessage(message, from) {
          received.push([from, message]);
          changed.notify();
        },
        onReady() {
          ready = true;
          changed.notify();
        },
        onError: (error) => errors.push(error),
      });
      try {
        await changed.until(
          () => ready,
          "the gateway confirmed the subscription",
        );
        const messages = [
          "first",
          "message,forged-channel,with commas",
          "ünïcødé ✓ 🚀",
          JSON.stringify({ nested: { list: [1, "two"] } }),
          "x".repeat(64 * 1024),
        ];
        for (const message of messages) {
          assert.equal(await redis.publish(channel, message), 1);
        }
        await changed.until(
          () => received.length >= messages.length,
          "every message arrived",
        );
        assert.equal(received.length, messages.length);
        assert.ok(received.every(([from]) => from === channel));
        assert.deepEqual(received.map(([, message]) => message), messages);
      } finally {
        await subscription.close();
      }
      await subscription.closed;
      assert.deepEqual(
        errors,
        [],
        "closing is not reported as a lost subscription",
      );
      // The gateway drops its Redis connection once the stream is gone; poll for that.
      const deadline = Date.now() + 5_000;
      while (await redis.publish(channel, "after close") !== 0) {
        assert.ok(
          Date.now() < deadline,
          "the subscription was still held 5 s after close()",
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  },
];
