/**
 * Byte exactness: values holding every byte from 0 to 255, and invalid UTF-8, come back
 * byte for byte under `Upstash-Encoding: base64` through every reply shape (a bulk string,
 * HGETALL's and LRANGE's arrays, a script's nested reply) and every path (one command, a
 * pipeline, a transaction), and as `@upstash/redis` reads them. Without base64, invalid
 * UTF-8 becomes U+FFFD, as Upstash answers, and never breaks the JSON.
 */

import assert from "node:assert/strict";
import { startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

/** Bytes 0 to 255, then bytes no UTF-8 decoder accepts (a lone continuation, an overlong NUL, a cut 3-byte sequence). */
const BYTES = new Uint8Array([...Array(256).keys(), 0x80, 0xc0, 0x80, 0xe2, 0x82]);
/** A Lua expression making the same bytes, so Redis stores them without any JSON in between. */
const LUA_BYTES = "(function() local t = {} for i = 0, 255 do t[#t + 1] = string.char(i) end " +
  "return table.concat(t) .. string.char(0x80, 0xc0, 0x80, 0xe2, 0x82) end)()";

const BASE64 = { "upstash-encoding": "base64" };
const decode = (result: unknown) => Uint8Array.fromBase64(result as string);

Deno.test("every byte value comes back exactly under base64, in every reply shape and path", async () => {
  await using stack = await startRedisStack();
  const store = `local b = ${LUA_BYTES} redis.call('SET', 'bin', b) ` +
    "redis.call('HSET', 'h', b, b) redis.call('RPUSH', 'l', b, 'x', b) return 1";
  assert.deepEqual((await post(stack, "/", ["EVAL", store, 0])).body, { result: 1 });
  const nested = `local b = ${LUA_BYTES} return {b, {b, 7}, 'OK'}`;

  const get = await post(stack, "/", ["GET", "bin"], BASE64);
  assert.deepEqual(decode((get.body as { result: string }).result), BYTES);
  const hash = (await post(stack, "/", ["HGETALL", "h"], BASE64)).body as { result: string[] };
  assert.deepEqual(hash.result.map(decode), [BYTES, BYTES]);
  const list = (await post(stack, "/", ["LRANGE", "l", 0, -1], BASE64)).body as {
    result: string[];
  };
  assert.deepEqual(list.result.map(decode), [BYTES, new TextEncoder().encode("x"), BYTES]);
  const script = (await post(stack, "/", ["EVAL", nested, 0], BASE64)).body as {
    result: [string, [string, number], string];
  };
  assert.deepEqual(decode(script.result[0]), BYTES);
  assert.deepEqual(decode(script.result[1][0]), BYTES);
  assert.equal(script.result[1][1], 7);
  assert.equal(script.result[2], "OK");

  const commands = [["GET", "bin"], ["HGETALL", "h"], ["LRANGE", "l", 0, 0], ["EVAL", nested, 0]];
  for (const path of ["/pipeline", "/multi-exec"]) {
    const reply = await post(stack, path, commands, BASE64);
    assert.equal(reply.status, 200, path);
    const [g, h, l, e] = reply.body as Array<{ result: unknown }>;
    assert.deepEqual(decode(g.result), BYTES, path);
    assert.deepEqual((h.result as string[]).map(decode), [BYTES, BYTES], path);
    assert.deepEqual((l.result as string[]).map(decode), [BYTES], path);
    assert.deepEqual(decode((e.result as string[])[0]), BYTES, path);
  }

  // @upstash/redis decodes base64 to text itself: it gets what TextDecoder makes of the bytes.
  const text = new TextDecoder().decode(BYTES);
  assert.equal(await stack.redis.get("bin"), text);
  assert.deepEqual(await stack.redis.lrange("l", 0, 0), [text]);

  // Without base64, invalid UTF-8 becomes U+FFFD and the body stays valid JSON.
  const plain = await post(stack, "/pipeline", [["GET", "bin"], ["PING"]]);
  const [plainGet, pong] = plain.body as Array<{ result: string }>;
  assert.equal(plainGet.result, text);
  assert.equal(pong.result, "PONG");
});
