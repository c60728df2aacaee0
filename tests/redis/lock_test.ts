import assert from "node:assert/strict";
import { acquireLock, extendLock, releaseLock } from "../../src/redis/lock.ts";
import { ScriptRunner } from "../../src/redis/script.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { startRedisStack } from "../support/redis_stack.ts";

Deno.test("locks are held by one token at a time and only its holder releases them", async (t) => {
  await using stack = await startRedisStack();
  const runner = new ScriptRunner(UpstashRedis.fromClient(stack.redis));
  const key = "kiln:{locks}:report";

  await t.step("the first token takes the lock, a second is refused", async () => {
    assert.equal(await acquireLock(runner, key, "a", 5_000), true);
    assert.equal(await acquireLock(runner, key, "b", 5_000), false);
  });

  await t.step("a replayed acquire by the holder succeeds and renews the lock", async () => {
    assert.equal(await acquireLock(runner, key, "a", 5_000), true);
    assert.ok((await stack.redis.pttl(key)) > 4_000);
  });

  await t.step("only the holder can extend or release", async () => {
    assert.equal(await extendLock(runner, key, "b", 9_000), false);
    assert.equal(await releaseLock(runner, key, "b"), false);
    assert.equal(await extendLock(runner, key, "a", 9_000), true);
    assert.ok((await stack.redis.pttl(key)) > 8_000);
    assert.equal(await releaseLock(runner, key, "a"), true);
    assert.equal(await releaseLock(runner, key, "a"), false);
    assert.equal(await acquireLock(runner, key, "b", 5_000), true);
  });

  await t.step("an expired lock can be taken, and its old holder cannot release it", async () => {
    assert.equal(await acquireLock(runner, "kiln:{locks}:short", "old", 30), true);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await acquireLock(runner, "kiln:{locks}:short", "new", 5_000), true);
    assert.equal(await releaseLock(runner, "kiln:{locks}:short", "old"), false);
    assert.equal(await stack.redis.get("kiln:{locks}:short"), "new");
  });

  await t.step("a time to live that is not a positive integer is refused", async () => {
    await assert.rejects(acquireLock(runner, key, "a", 0), RangeError);
    await assert.rejects(extendLock(runner, key, "a", 1.5), RangeError);
  });
});
