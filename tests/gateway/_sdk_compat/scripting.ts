/**
 * Lua scripts and functions: `eval*`, `evalsha*`, `script*`, `createScript` and the
 * `functions` group, with arguments of every JSON type.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase } from "./context.ts";
import { JSON_VALUES } from "./json_values.ts";

const VALUES = JSON_VALUES.map(({ value }) => value);
const STORED = JSON_VALUES.map(({ stored }) => stored);

/** Writes ARGV[1] to KEYS[1] and echoes every argument back. */
const WRITE_AND_ECHO = "redis.call('SET', KEYS[1], ARGV[1]); return ARGV";
const READ = "return redis.call('GET', KEYS[1])";

/** SHA-1 of `script` in hex, as SCRIPT LOAD names it. */
async function sha1(script: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(script));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A function library named uniquely per call, so runs never collide on one Redis. */
function library(): { name: string; code: string } {
  const name = `compat_${crypto.randomUUID().replaceAll("-", "")}`;
  const code = `#!lua name=${name}
redis.register_function('${name}_set', function(keys, args) redis.call('SET', keys[1], args[1]); return args[1] end)
redis.register_function{function_name='${name}_get', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}`;
  return { name, code };
}

export const SCRIPTING_CASES: CompatCase[] = [
  {
    method: "eval",
    async run({ redis, raw, key }) {
      assert.deepEqual(await redis.eval(WRITE_AND_ECHO, [key()], VALUES), VALUES);
      assert.equal(await raw("GET", key()), STORED[0]);
      // Lua's false becomes a nil reply, an integer stays a number.
      assert.deepEqual(await redis.eval("return {1, 'two', false}", [], []), [1, "two", null]);
    },
  },
  {
    method: "evalRo",
    async run({ redis, raw, key }) {
      await raw("SET", key(), '{"ro":true}');
      assert.deepEqual(await redis.evalRo(READ, [key()], []), { ro: true });
      await assert.rejects(redis.evalRo(WRITE_AND_ECHO, [key()], ["x"]), /write command/i);
      assert.equal(await raw("GET", key()), '{"ro":true}', "a refused write changes nothing");
    },
  },
  {
    method: "scriptLoad",
    async run({ redis, raw }) {
      assert.equal(await redis.scriptLoad(WRITE_AND_ECHO), await sha1(WRITE_AND_ECHO));
      assert.deepEqual(await raw("SCRIPT", "EXISTS", await sha1(WRITE_AND_ECHO)), [1]);
    },
  },
  {
    method: "scriptExists",
    async run({ redis, raw }) {
      const loaded = (await raw("SCRIPT", "LOAD", READ)) as string;
      const absent = await sha1(`-- ${crypto.randomUUID()}`);
      assert.deepEqual(await redis.scriptExists(loaded, absent), [1, 0]);
    },
  },
  {
    method: "evalsha",
    async run({ redis, raw, key }) {
      const sha = (await raw("SCRIPT", "LOAD", WRITE_AND_ECHO)) as string;
      assert.deepEqual(await redis.evalsha(sha, [key()], [true, null]), [true, null]);
      assert.equal(await raw("GET", key()), "true");
      await assert.rejects(
        redis.evalsha(await sha1(`-- ${crypto.randomUUID()}`), [], []),
        /NOSCRIPT/,
      );
    },
  },
  {
    method: "evalshaRo",
    async run({ redis, raw, key }) {
      const sha = (await raw("SCRIPT", "LOAD", READ)) as string;
      await raw("SET", key(), "[3]");
      assert.deepEqual(await redis.evalshaRo(sha, [key()], []), [3]);
    },
  },
  {
    method: "createScript",
    async run({ redis, raw, key }) {
      // A script body no Redis has seen, so exec() must fall back from EVALSHA to EVAL.
      const body = `-- ${crypto.randomUUID()}\n${WRITE_AND_ECHO}`;
      const script = redis.createScript<unknown[]>(body);
      // Script's methods take string arguments (its types say so); eval covers the rest.
      assert.deepEqual(await script.exec([key()], ['{"n":1}', "2"]), [{ n: 1 }, 2]);
      assert.equal(await raw("GET", key()), '{"n":1}');
      // Cached where it ran: an EVALSHA for the same key finds it (on a cluster, only the
      // key's master ran it, so SCRIPT EXISTS elsewhere would say no).
      assert.deepEqual(await raw("EVALSHA", await sha1(body), 1, key(), '{"n":1}'), ['{"n":1}']);
      assert.deepEqual(await script.evalsha([key()], ["x"]), ["x"]);
      assert.deepEqual(await script.eval([key()], ["false"]), [false]);
      const readOnly = redis.createScript<unknown, true>(READ, { readonly: true });
      assert.equal(await readOnly.evalRo([key()], []), false);
      assert.equal(await readOnly.evalshaRo([key()], []), false);
    },
  },
  {
    method: "functions.load",
    async run({ redis, raw }) {
      const { name, code } = library();
      assert.equal(await redis.functions.load({ code }), name);
      const listed = (await raw("FUNCTION", "LIST", "LIBRARYNAME", name)) as unknown[];
      assert.equal(listed.length, 1);
      assert.equal(await redis.functions.load({ code, replace: true }), name);
    },
  },
  {
    method: "functions.list",
    async run({ redis, raw }) {
      const { name, code } = library();
      await raw("FUNCTION", "LOAD", code);
      const [listed] = await redis.functions.list({ libraryName: name, withCode: true });
      assert.equal(listed.libraryName, name);
      assert.equal(listed.engine, "LUA");
      assert.deepEqual(listed.functions.map((f) => f.name).sort(), [`${name}_get`, `${name}_set`]);
    },
  },
  {
    method: "functions.stats",
    async run({ redis, raw }) {
      await raw("FUNCTION", "LOAD", library().code);
      const stats = await redis.functions.stats();
      // FUNCTION STATS: ["running_script", nil, "engines", ["LUA", ["libraries_count", n, …]]]
      const [, , , [, lua]] = (await raw("FUNCTION", "STATS")) as [
        string,
        null,
        string,
        [string, (string | number)[]],
      ];
      assert.ok(stats.engines.LUA.librariesCount >= 1, JSON.stringify(stats));
      assert.equal(stats.engines.LUA.librariesCount, lua[1]);
      assert.equal(stats.engines.LUA.functionsCount, lua[3]);
    },
  },
  {
    method: "functions.call",
    async run({ redis, raw, key }) {
      const { name, code } = library();
      await raw("FUNCTION", "LOAD", code);
      assert.equal(
        await redis.functions.call(`${name}_set`, [key()], ["from fcall"]),
        "from fcall",
      );
      assert.equal(await raw("GET", key()), "from fcall");
    },
  },
  {
    method: "functions.callRo",
    async run({ redis, raw, key }) {
      const { name, code } = library();
      await raw("FUNCTION", "LOAD", code);
      await raw("SET", key(), "[1,2]");
      assert.deepEqual(await redis.functions.callRo(`${name}_get`, [key()]), [1, 2]);
    },
  },
];
