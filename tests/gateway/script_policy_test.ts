/**
 * The command policy reaches scripts: Redis lets EVAL and FCALL run FLUSHALL, SWAPDB and
 * other refused commands from Lua, so a token holder could otherwise run any refused
 * command by wrapping it in a script. The gateway's connections run as a Redis ACL user
 * built from the same policy, so Redis itself refuses those calls, also after
 * Redis restarts empty.
 */

import assert from "node:assert/strict";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

const LIBRARY = "#!lua name=evil\n" +
  "redis.register_function('wipe', function() return redis.call('FLUSHALL') end)\n" +
  "redis.register_function('swap', function() return redis.call('SWAPDB', 0, 1) end)\n" +
  "redis.register_function('put', function(keys, args) " +
  "return redis.call('SET', keys[1], args[1]) end)";

/** Every way a script might reach a refused command. */
const SCRIPTED: Array<Array<string | number>> = [
  ["EVAL", "return redis.call('FLUSHALL')", 0],
  ["EVAL", "return redis.pcall('flushall', 'ASYNC')", 0],
  ["EVAL", "return redis.call('FLUSH' .. 'ALL')", 0],
  ["EVAL", "return redis.call('SwapDb', 0, 1)", 0],
  ["FCALL", "wipe", 0],
  ["FCALL", "swap", 0],
  ["EVAL", "return redis.call('PFDEBUG', 'GETREG', 'h')", 0],
];

/** Redis's refusal of a script's call its ACL user may not make (7.0 wording, then 7.2). */
const SCRIPT_NOPERM = /user executing the script can't run this command|NOPERM/;

async function assertScriptsRefused(stack: RedisStack): Promise<void> {
  await stack.redis.set("kept", "value");
  const loaded = await post(stack, "/", ["FUNCTION", "LOAD", "REPLACE", LIBRARY]);
  assert.deepEqual(loaded.body, { result: "evil" });
  for (const command of SCRIPTED) {
    const label = JSON.stringify(command);
    for (const [path, body] of [["/", command], ["/pipeline", [command]]] as const) {
      const reply = await post(stack, path, body);
      const error = path === "/"
        ? (reply.body as { error?: string }).error
        : (reply.body as Array<{ error?: string }>)[0].error;
      assert.match(String(error), SCRIPT_NOPERM, `${path} ${label}`);
    }
  }
  assert.equal(await stack.redis.get("kept"), "value");
  // Scripts and functions still run what the policy allows.
  assert.deepEqual((await post(stack, "/", ["FCALL", "put", 1, "f", "v"])).body, { result: "OK" });
  const script = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])";
  assert.deepEqual((await post(stack, "/", ["EVAL", script, 1, "e", "w"])).body, { result: "w" });
}

Deno.test("scripts and functions cannot run commands the policy refuses, also after Redis restarts", async () => {
  await using stack = await startRedisStack({ allow: [] });
  await assertScriptsRefused(stack);
  await stack.stopRedis();
  await stack.startRedis();
  await assertScriptsRefused(stack);
});

Deno.test("--allow reaches scripts too: an allowed command runs from Lua, others stay refused", async () => {
  await using stack = await startRedisStack({ allow: ["FLUSHDB"] });
  await stack.redis.set("k", "v");
  const flushdb = await post(stack, "/", ["EVAL", "return redis.call('FLUSHDB')", 0]);
  assert.deepEqual(flushdb.body, { result: "OK" });
  assert.equal(await stack.redis.exists("k"), 0);
  const flushall = await post(stack, "/", ["EVAL", "return redis.call('FLUSHALL')", 0]);
  assert.match((flushall.body as { error: string }).error, SCRIPT_NOPERM);
});
