/**
 * Long replies cost the gateway linear time: node-redis's RESP decoder resumes an array
 * that arrives in many socket reads where the last read ended, never parsing it again
 * from its start (the quadratic parse of issue 11 took 1.76 s of CPU for LRANGE of 400k
 * elements against 0.08 s for 50k, 22 times the work for 8 times the elements).
 */

import assert from "node:assert/strict";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { fillList, post } from "./_http.ts";

/** The gateway process's CPU time so far (user + system), in clock ticks (Linux). */
async function cpuTicks(stack: RedisStack): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${stack.gatewayProcess.pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

/** @returns the least CPU the gateway spent answering LRANGE of `key` in three tries */
async function rangeCost(stack: RedisStack, key: string, count: number): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 3; i++) {
    const before = await cpuTicks(stack);
    const reply = await post(stack, "/", ["LRANGE", key, 0, -1]);
    const spent = (await cpuTicks(stack)) - before;
    const result = (reply.body as { result: string[] }).result;
    assert.equal(result.length, count);
    assert.equal(result[count - 1], `v${count - 1}`);
    least = Math.min(least, spent);
  }
  return least;
}

Deno.test("LRANGE of 400k elements costs the gateway about 8 times the CPU of 50k, not 64", async () => {
  await using stack = await startRedisStack();
  await fillList(stack, "short", 50_000);
  await fillList(stack, "long", 400_000);
  await rangeCost(stack, "short", 50_000); // warm up the JIT
  const short = Math.max(1, await rangeCost(stack, "short", 50_000));
  const long = await rangeCost(stack, "long", 400_000);
  // Linear work is 8x; re-parsing an unfinished array on every read (about 3,300 reads
  // of 400k elements) grows with the square: 64x. The margin absorbs clock ticks (10 ms)
  // and garbage collection.
  assert.ok(long / short < 24, `400k elements cost ${long} ticks, 50k cost ${short}`);
});
