import assert from "node:assert/strict";
import { RedisError } from "../../src/errors.ts";
import type { RedisArg, RedisLike, RedisReply } from "../../src/redis/redis_like.ts";
import { defineScript, ScriptRunner } from "../../src/redis/script.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { startRedisStack } from "../support/redis_stack.ts";

const counter = defineScript({
  name: "testCounter",
  numberOfKeys: 1,
  source: "return redis.call('INCRBY', KEYS[1], ARGV[1])",
});

/** Records which of eval/evalsha the runner used, passing everything through. */
function recording(redis: RedisLike, calls: string[]): RedisLike {
  return {
    ...redis,
    get: (key) => redis.get(key),
    set: (key, value, options) => redis.set(key, value, options),
    del: (...keys) => redis.del(...keys),
    publish: (channel, message) => redis.publish(channel, message),
    subscribe: (channel, handlers) => redis.subscribe(channel, handlers),
    pipeline(commands) {
      calls.push(`pipeline ${commands.map((command) => command.slice(0, 2).join(" ")).join(",")}`);
      return redis.pipeline(commands);
    },
    eval(script: string, keys: readonly string[], args: readonly RedisArg[]): Promise<RedisReply> {
      calls.push("eval");
      return redis.eval(script, keys, args);
    },
    evalsha(sha: string, keys: readonly string[], args: readonly RedisArg[]): Promise<RedisReply> {
      calls.push("evalsha");
      return redis.evalsha(sha, keys, args);
    },
  };
}

Deno.test("ScriptRunner sends the text once, then only the SHA-1, and again after a flush", async () => {
  await using stack = await startRedisStack();
  const calls: string[] = [];
  const runner = new ScriptRunner(recording(UpstashRedis.fromClient(stack.redis), calls));
  assert.equal(await runner.run(counter, ["c"], [2]), 2);
  assert.deepEqual(calls, ["evalsha", "eval"]);
  calls.length = 0;
  assert.equal(await runner.run(counter, ["c"], [3]), 5);
  assert.deepEqual(calls, ["evalsha"]);
  // A restarted Redis has forgotten every script: the runner must recover by itself.
  await stack.redis.scriptFlush();
  calls.length = 0;
  assert.equal(await runner.run(counter, ["c"], [1]), 6);
  assert.deepEqual(calls, ["evalsha", "eval"]);
});

Deno.test("ScriptRunner loads a script on its own when its text and arguments together are over the endpoint's body limit", async () => {
  await using stack = await startRedisStack({ maxBodyBytes: 64 * 1024 });
  const calls: string[] = [];
  const runner = new ScriptRunner(recording(UpstashRedis.fromClient(stack.redis), calls));
  // 40 KB of text and 30 KB of argument: each fits in 64 KiB, together they do not.
  const long = defineScript({
    name: "testLongLength",
    numberOfKeys: 1,
    source: `-- ${"x".repeat(40_000)}\nreturn redis.call('APPEND', KEYS[1], ARGV[1])`,
  });
  const value = "v".repeat(30_000);
  assert.equal(await runner.run(long, ["s"], [value]), 30_000);
  assert.deepEqual(calls, ["evalsha", "eval", "pipeline SCRIPT LOAD", "evalsha"]);
  assert.equal(await stack.redis.get("s"), value, "the refused EVAL ran nothing");
  calls.length = 0;
  assert.equal(await runner.run(long, ["s"], ["w"]), 30_001);
  assert.deepEqual(calls, ["evalsha"]);
  // Arguments over the limit on their own are still refused, typed.
  await assert.rejects(
    runner.run(long, ["s"], ["z".repeat(70_000)]),
    (error) => error instanceof RedisError && error.code === "REDIS_REQUEST_TOO_LARGE",
  );
  assert.equal(await stack.redis.strlen("s"), 30_001);
});

Deno.test("ScriptRunner returns a script's negative reply as data, not as an error", async () => {
  await using stack = await startRedisStack();
  const runner = new ScriptRunner(UpstashRedis.fromClient(stack.redis));
  // Each caller reads its script's reply itself; the runner has no status table.
  assert.equal(await runner.run(counter, ["c"], [-5]), -5);
  assert.equal(await runner.run(counter, ["c"], [-2]), -7);
});

Deno.test("ScriptRunner refuses the wrong number of keys before calling Redis", async () => {
  let called = false;
  const redis = { evalsha: () => (called = true) } as unknown as RedisLike;
  await assert.rejects(new ScriptRunner(redis).run(counter, [], [1]), RangeError);
  assert.equal(called, false);
});

Deno.test("allowKeyLocking adds Upstash's shebang, which a plain redis-server rejects", async () => {
  await using stack = await startRedisStack();
  const runner = new ScriptRunner(UpstashRedis.fromClient(stack.redis), { allowKeyLocking: true });
  // This is why the flag is off by default: redis-server does not know it.
  await assert.rejects(
    runner.run(counter, ["c"], [1]),
    (error: unknown) => error instanceof RedisError && /allow-key-locking/.test(error.message),
  );
});

Deno.test("defineScript() refuses a source without a name or with a bad key count", () => {
  const source = { name: "x", numberOfKeys: 0, source: "return 1" };
  assert.deepEqual(defineScript(source), source);
  assert.ok(Object.isFrozen(defineScript(source)));
  assert.throws(() => defineScript({ ...source, name: "" }), TypeError);
  assert.throws(() => defineScript({ ...source, source: undefined as never }), TypeError);
  for (const numberOfKeys of [-1, 1.5, NaN]) {
    assert.throws(() => defineScript({ ...source, numberOfKeys }), RangeError);
  }
});
