/**
 * How the gateway routes Upstash REST requests over a 3-master cluster, seen from
 * `@upstash/redis` and checked against each master with node-redis: keys land on the
 * master of their slot, a multi-key command across slots gets Redis's own CROSSSLOT error,
 * a pipeline spanning every master is answered in order, and transactions and scripts run
 * within one slot.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createClient } from "redis";
import { startClusterStack } from "./_cluster_stack.ts";
import type { RedisCluster } from "../support/redis_cluster.ts";

/** The slots of the hash tags used here; each lives on a different master. */
const SLOTS = { a: 15_495, b: 3_300, c: 7_365 } as const;

/** Reads `key` straight from the master that serves `slot`, bypassing the gateway. */
async function readFromOwner(cluster: RedisCluster, slot: number, key: string): Promise<unknown> {
  const owner = await cluster.nodeForSlot(slot);
  const client = createClient({ url: owner.url });
  await client.connect();
  try {
    return await client.get(key);
  } finally {
    client.destroy();
  }
}

Deno.test("the clustered gateway routes by slot, refuses CROSSSLOT, orders pipelines and keeps transactions per slot", async (t) => {
  await using stack = await startClusterStack();
  const { cluster, redis } = stack;

  await t.step("each key is written to the master serving its slot", async () => {
    for (const [tag, slot] of Object.entries(SLOTS)) {
      await redis.set(`kiln:{${tag}}:routed`, tag);
      assert.equal(await readFromOwner(cluster, slot, `kiln:{${tag}}:routed`), tag);
    }
  });

  await t.step(
    "a multi-key command across slots fails with Redis's own CROSSSLOT error",
    async () => {
      await assert.rejects(redis.mget("kiln:{a}:routed", "kiln:{b}:routed"), /CROSSSLOT/);
      await assert.rejects(redis.eval("return 1", ["kiln:{a}:x", "kiln:{b}:x"], []), /CROSSSLOT/);
      assert.deepEqual(await redis.mget("kiln:{a}:routed", "kiln:{a}:none"), ["a", null]);
    },
  );

  await t.step("a pipeline over every master is answered in order", async () => {
    const p = redis.pipeline();
    for (let i = 0; i < 30; i++) {
      const tag = "abc"[i % 3];
      p.set(`kiln:{${tag}}:p${i}`, i).get(`kiln:{${tag}}:p${i}`);
    }
    const replies = await p.exec();
    assert.deepEqual(replies, Array.from({ length: 30 }, (_, i) => ["OK", i]).flat());
    assert.equal(await readFromOwner(cluster, SLOTS.b, "kiln:{b}:p1"), "1");
  });

  await t.step("a CROSSSLOT command inside a pipeline fails alone, in its place", async () => {
    const replies = await redis.pipeline()
      .set("kiln:{a}:q", "a")
      .mget("kiln:{a}:q", "kiln:{b}:q")
      .set("kiln:{b}:q", "b")
      .exec({ keepErrors: true });
    assert.equal(replies[0].result, "OK");
    assert.match(String(replies[1].error), /CROSSSLOT/);
    assert.equal(replies[2].result, "OK");
    assert.equal(await readFromOwner(cluster, SLOTS.b, "kiln:{b}:q"), "b");
  });

  await t.step("MULTI/EXEC and scripts run on the master of their one slot", async () => {
    const replies = await redis.multi().incr("kiln:{c}:n").incrby("kiln:{c}:n", 41)
      .get("kiln:{c}:n").exec();
    assert.deepEqual(replies, [1, 42, 42]);
    assert.equal(await readFromOwner(cluster, SLOTS.c, "kiln:{c}:n"), "42");
    const script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[2])";
    assert.equal(await redis.eval(script, ["kiln:{a}:s1", "kiln:{a}:routed"], ["v"]), "a");
    assert.equal(await readFromOwner(cluster, SLOTS.a, "kiln:{a}:s1"), "v");
    await assert.rejects(
      redis.multi().set("kiln:{a}:t", 1).set("kiln:{b}:t", 1).exec(),
      /CROSSSLOT/,
    );
  });
});
