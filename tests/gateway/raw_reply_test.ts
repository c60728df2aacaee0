/**
 * Replies reach JSON as Redis sent them, through node-redis's type mapping: integers keep
 * every digit (past 2^53 too, where a JavaScript number would round), strings stay strings
 * however numeric they look, and a simple status reply stays text.
 */

import assert from "node:assert/strict";
import { startRedisStack } from "../support/redis_stack.ts";

Deno.test("integers past 2^53 keep every digit in the JSON, and numeric strings stay strings", async () => {
  await using stack = await startRedisStack();
  const raw = async (command: unknown[], headers: Record<string, string> = {}) => {
    const response = await fetch(stack.gatewayUrl, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.token}`, ...headers },
      body: JSON.stringify(command),
    });
    return await response.text();
  };
  await raw(["SET", "n", "9007199254740993"]);
  assert.equal(await raw(["INCR", "n"]), '{"result":9007199254740994}');
  assert.equal(await raw(["DECRBY", "n", "99999999999999999"]), '{"result":-90992800745259005}');
  assert.equal(await raw(["GET", "n"]), '{"result":"-90992800745259005"}');
  // A Lua status reply that looks like a number is still text; an integer stays a number.
  const mixed = "return {redis.status_reply('5'), 5, '1.0'}";
  assert.equal(await raw(["EVAL", mixed, 0]), '{"result":["5",5,"1.0"]}');
  // base64 leaves the status reply OK alone, as Upstash does; other strings are encoded.
  assert.equal(await raw(["SET", "k", "v"], { "upstash-encoding": "base64" }), '{"result":"OK"}');
  assert.equal(await raw(["PING"], { "upstash-encoding": "base64" }), '{"result":"UE9ORw=="}');
  assert.equal(await raw(["GET", "k"], { "upstash-encoding": "base64" }), '{"result":"dg=="}');
});
