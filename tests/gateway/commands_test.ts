/**
 * The gateway runs ordinary Redis commands and returns Redis's replies in Upstash's
 * format, checked both through `@upstash/redis` and over raw HTTP.
 */

import assert from "node:assert/strict";
import { startRedisStack } from "../support/redis_stack.ts";
import { base64Of, post } from "./_http.ts";

const UNICODE = "héllo wörld 😀 你好，世界 🚀";

Deno.test("strings with emoji and CJK text round-trip through @upstash/redis", async () => {
  await using stack = await startRedisStack();
  assert.equal(await stack.redis.set("greeting", UNICODE), "OK");
  assert.equal(await stack.redis.get("greeting"), UNICODE);
  assert.equal(await stack.redis.strlen("greeting"), new TextEncoder().encode(UNICODE).length);
});

Deno.test("raw replies are plain UTF-8 strings without Upstash-Encoding and base64 with it", async () => {
  await using stack = await startRedisStack();
  assert.deepEqual(await post(stack, "/", ["SET", "k", UNICODE]), {
    status: 200,
    body: { result: "OK" },
  });
  assert.deepEqual((await post(stack, "/", ["GET", "k"])).body, { result: UNICODE });
  const encoded = await post(stack, "/", ["GET", "k"], { "upstash-encoding": "base64" });
  assert.deepEqual(encoded.body, { result: base64Of(UNICODE) });
  // Integers stay numbers, nil stays null, OK stays verbatim, other simple strings are encoded.
  const b64 = { "upstash-encoding": "base64" };
  assert.deepEqual((await post(stack, "/", ["STRLEN", "k"], b64)).body, {
    result: new TextEncoder().encode(UNICODE).length,
  });
  assert.deepEqual((await post(stack, "/", ["GET", "missing"], b64)).body, { result: null });
  assert.deepEqual((await post(stack, "/", ["SET", "k2", "v"], b64)).body, { result: "OK" });
  assert.deepEqual((await post(stack, "/", ["PING"], b64)).body, { result: base64Of("PONG") });
  assert.equal(await stack.redis.ping(), "PONG");
});

Deno.test("base64 encoding applies recursively inside nested arrays", async () => {
  await using stack = await startRedisStack();
  const script = "return {1, 'é', {2, '😀', false}, redis.call('GET', KEYS[1])}";
  await post(stack, "/", ["SET", "n", "x"]);
  const plain = await post(stack, "/", ["EVAL", script, 1, "n"]);
  assert.deepEqual(plain.body, { result: [1, "é", [2, "😀", null], "x"] });
  const encoded = await post(stack, "/", ["EVAL", script, 1, "n"], {
    "upstash-encoding": "base64",
  });
  assert.deepEqual(encoded.body, {
    result: [1, base64Of("é"), [2, base64Of("😀"), null], base64Of("x")],
  });
});

Deno.test("numbers are accepted as arguments and JSON values round-trip", async () => {
  await using stack = await startRedisStack();
  assert.deepEqual((await post(stack, "/", ["SET", "n", 42])).body, { result: "OK" });
  assert.deepEqual((await post(stack, "/", ["INCRBY", "n", 8])).body, { result: 50 });
  const value = { id: 7, tags: ["a", "ü"], nested: { ok: true, n: null } };
  await stack.redis.set("json", value);
  assert.deepEqual(await stack.redis.get("json"), value);
  assert.deepEqual((await post(stack, "/", ["GET", "json"])).body, {
    result: JSON.stringify(value),
  });
});

Deno.test("JSON booleans are accepted and stored as the strings true and false, as @upstash/redis expects", async () => {
  await using stack = await startRedisStack();
  assert.equal(await stack.redis.set("flag", true), "OK");
  assert.equal(await stack.redis.get("flag"), true);
  await stack.redis.hset("h", { on: true, off: false });
  assert.deepEqual(await stack.redis.hgetall("h"), { on: true, off: false });
  const p = stack.redis.pipeline();
  p.set("p", false).get("p").sadd("s", true);
  assert.deepEqual(await p.exec(), ["OK", false, 1]);
  // Redis holds the words themselves.
  assert.deepEqual((await post(stack, "/", ["GET", "flag"])).body, { result: "true" });
  assert.deepEqual((await post(stack, "/", ["HGET", "h", "off"])).body, { result: "false" });
  assert.deepEqual((await post(stack, "/multi-exec", [["SET", "m", true], ["GET", "m"]])).body, [
    { result: "OK" },
    { result: "true" },
  ]);
});

Deno.test("HGETALL comes back as Redis's flat array over raw HTTP and an object via the client", async () => {
  await using stack = await startRedisStack();
  await post(stack, "/", ["HSET", "h", "name", "Zoë", "count", "3"]);
  assert.deepEqual((await post(stack, "/", ["HGETALL", "h"])).body, {
    result: ["name", "Zoë", "count", "3"],
  });
  assert.deepEqual(await stack.redis.hgetall("h"), { name: "Zoë", count: 3 });
  assert.equal(await stack.redis.hget("h", "name"), "Zoë");
});

Deno.test("sorted sets keep members and scores", async () => {
  await using stack = await startRedisStack();
  await stack.redis.zadd("z", { score: 2.5, member: "b" }, { score: 1, member: "a" });
  await stack.redis.zadd("z", { score: 10, member: "ç" });
  assert.deepEqual(await stack.redis.zrange("z", 0, -1, { withScores: true }), [
    "a",
    1,
    "b",
    2.5,
    "ç",
    10,
  ]);
  assert.deepEqual((await post(stack, "/", ["ZRANGE", "z", 0, -1, "WITHSCORES"])).body, {
    result: ["a", "1", "b", "2.5", "ç", "10"],
  });
  assert.equal(await stack.redis.zscore("z", "b"), 2.5);
});

Deno.test("lists push, range and pop in order", async () => {
  await using stack = await startRedisStack();
  assert.equal(await stack.redis.rpush("l", "one", "two", "三"), 3);
  assert.deepEqual(await stack.redis.lrange("l", 0, -1), ["one", "two", "三"]);
  assert.equal(await stack.redis.lpop("l"), "one");
  assert.deepEqual((await post(stack, "/", ["LRANGE", "l", 0, -1])).body, {
    result: ["two", "三"],
  });
});

Deno.test("keys set with PX expire and TTL reports the remaining time", async () => {
  await using stack = await startRedisStack();
  await stack.redis.set("short", "v", { px: 150 });
  await stack.redis.set("long", "v", { ex: 100 });
  const ttl = await stack.redis.ttl("long");
  assert.ok(ttl > 95 && ttl <= 100, `ttl ${ttl}`);
  assert.ok((await stack.redis.pttl("short")) > 0);
  await new Promise((resolve) => setTimeout(resolve, 250));
  assert.equal(await stack.redis.get("short"), null);
  assert.deepEqual((await post(stack, "/", ["TTL", "short"])).body, { result: -2 });
});

Deno.test("EVALSHA fails with NOSCRIPT until the script is loaded, and Script falls back to EVAL", async () => {
  await using stack = await startRedisStack();
  const source = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  const sha = await stack.redis.scriptLoad(source);
  assert.match(sha, /^[0-9a-f]{40}$/);
  assert.equal(await stack.redis.evalsha(sha, ["c"], ["5"]), 5);
  await stack.redis.scriptFlush();
  const missing = await post(stack, "/", ["EVALSHA", sha, 1, "c", 1]);
  assert.equal(missing.status, 400);
  assert.match((missing.body as { error: string }).error, /^NOSCRIPT/);
  await assert.rejects(() => stack.redis.evalsha(sha, ["c"], ["1"]), /NOSCRIPT/);
  const script = stack.redis.createScript<number>(source);
  assert.equal(await script.exec(["c"], ["2"]), 7);
  assert.equal(await script.exec(["c"], ["3"]), 10);
  assert.equal(await stack.redis.eval("return ARGV[1] .. '✓'", [], ["ok"]), "ok✓");
});

Deno.test("Redis error replies become 400 with Redis's message", async () => {
  await using stack = await startRedisStack();
  await post(stack, "/", ["SET", "s", "v"]);
  const wrongType = await post(stack, "/", ["LPUSH", "s", "x"]);
  assert.equal(wrongType.status, 400);
  assert.match((wrongType.body as { error: string }).error, /^WRONGTYPE/);
  const unknown = await post(stack, "/", ["NOPE", "x"]);
  assert.equal(unknown.status, 400);
  assert.match((unknown.body as { error: string }).error, /^ERR unknown command/);
  await assert.rejects(() => stack.redis.lpush("s", "x"), /WRONGTYPE/);
});

Deno.test("binary-unsafe bytes never corrupt the stream: values with CRLF and NUL round-trip", async () => {
  await using stack = await startRedisStack();
  const tricky = "line1\r\nline2\u0000end$5\r\n*3";
  await post(stack, "/", ["SET", "t", tricky]);
  assert.deepEqual((await post(stack, "/", ["GET", "t"])).body, { result: tricky });
  const big = "x".repeat(3 * 1024 * 1024) + "é";
  await post(stack, "/", ["SET", "big", big]);
  assert.deepEqual((await post(stack, "/", ["GET", "big"])).body, { result: big });
});
