/**
 * `/pipeline` runs every command in order and reports each result or error on its own;
 * `/multi-exec` runs them atomically.
 */

import assert from "node:assert/strict";
import { startRedisStack } from "../support/redis_stack.ts";
import { base64Of, post } from "./_http.ts";

Deno.test("a pipeline with a failing command in the middle still runs the others in order", async () => {
  await using stack = await startRedisStack();
  const reply = await post(stack, "/pipeline", [
    ["SET", "p", "1"],
    ["LPUSH", "p", "x"],
    ["INCR", "p"],
    ["NOPE"],
    ["GET", "p"],
  ]);
  assert.equal(reply.status, 200);
  const results = reply.body as Array<{ result?: unknown; error?: string }>;
  assert.deepEqual(results[0], { result: "OK" });
  assert.match(results[1].error!, /^WRONGTYPE/);
  assert.deepEqual(results[2], { result: 2 });
  assert.match(results[3].error!, /^ERR unknown command/);
  assert.deepEqual(results[4], { result: "2" });
});

Deno.test("pipeline replies are base64-encoded per command when asked", async () => {
  await using stack = await startRedisStack();
  const reply = await post(
    stack,
    "/pipeline",
    [["SET", "k", "ü"], ["GET", "k"], ["HGETALL", "k"]],
    {
      "upstash-encoding": "base64",
    },
  );
  const results = reply.body as Array<{ result?: unknown; error?: string }>;
  assert.deepEqual(results[0], { result: "OK" });
  assert.deepEqual(results[1], { result: base64Of("ü") });
  assert.match(results[2].error!, /^WRONGTYPE/);
});

Deno.test("@upstash/redis pipelines and auto-pipelined calls get their own results", async () => {
  await using stack = await startRedisStack();
  const p = stack.redis.pipeline();
  p.set("a", "1").incr("a").hset("h", { f: "é" }).hgetall("h").get("missing");
  assert.deepEqual(await p.exec(), ["OK", 2, 1, { f: "é" }, null]);
  const many = await Promise.all(
    Array.from(
      { length: 50 },
      (_, i) => stack.redis.set(`k${i}`, i).then(() => stack.redis.get(`k${i}`)),
    ),
  );
  assert.deepEqual(many, Array.from({ length: 50 }, (_, i) => i));
  const failing = stack.redis.pipeline();
  failing.set("s", "v").lpush("s", "x").get("s");
  await assert.rejects(() => failing.exec(), /WRONGTYPE/);
  const kept = stack.redis.pipeline();
  kept.set("s", "v").lpush("s", "x").get("s");
  const results = await kept.exec({ keepErrors: true });
  assert.equal(results[0].result, "OK");
  assert.match(String(results[1].error), /WRONGTYPE/);
  assert.equal(results[2].result, "v");
});

Deno.test("multi-exec applies every command atomically and reports runtime errors per command", async () => {
  await using stack = await startRedisStack();
  const reply = await post(stack, "/multi-exec", [
    ["SET", "m", "1"],
    ["LPUSH", "m", "x"],
    ["INCR", "m"],
  ]);
  assert.equal(reply.status, 200);
  const results = reply.body as Array<{ result?: unknown; error?: string }>;
  assert.deepEqual(results[0], { result: "OK" });
  assert.match(results[1].error!, /^WRONGTYPE/);
  assert.deepEqual(results[2], { result: 2 });

  const tx = stack.redis.multi();
  tx.set("t", "a").append("t", "b").get("t");
  assert.deepEqual(await tx.exec(), ["OK", 2, "ab"]);
});

Deno.test("multi-exec with a command Redis refuses to queue runs nothing and answers 400 EXECABORT", async () => {
  await using stack = await startRedisStack();
  const reply = await post(stack, "/multi-exec", [["SET", "never", "1"], ["NOPE"]]);
  assert.equal(reply.status, 400);
  assert.match((reply.body as { error: string }).error, /^EXECABORT.*unknown command/);
  assert.equal(await stack.redis.exists("never"), 0);
});

Deno.test("concurrent transactions never interleave: each sees its own increments back to back", async () => {
  await using stack = await startRedisStack();
  const rounds = await Promise.all(
    Array.from(
      { length: 40 },
      () => post(stack, "/multi-exec", [["INCR", "ctr"], ["INCR", "ctr"], ["INCR", "ctr"]]),
    ),
  );
  const seen = new Set<number>();
  for (const { status, body } of rounds) {
    assert.equal(status, 200);
    const [a, b, c] = (body as Array<{ result: number }>).map((r) => r.result);
    assert.equal(b, a + 1);
    assert.equal(c, a + 2);
    seen.add(a);
  }
  assert.equal(seen.size, 40);
  assert.equal(await stack.redis.get("ctr"), 120);
});
