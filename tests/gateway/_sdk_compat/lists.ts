/**
 * List commands, with elements of every JSON type.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase, RawCommand } from "./context.ts";
import { JSON_VALUES } from "./json_values.ts";

const VALUES = JSON_VALUES.map(({ value }) => value);
const STORED = JSON_VALUES.map(({ stored }) => stored);

async function rawList(raw: RawCommand, key: string): Promise<string[]> {
  return (await raw("LRANGE", key, 0, -1)) as string[];
}

export const LIST_CASES: CompatCase[] = [
  {
    method: "rpush",
    async run({ redis, raw, key }) {
      assert.equal(await redis.rpush(key(), ...VALUES), VALUES.length);
      assert.deepEqual(await rawList(raw, key()), STORED);
    },
  },
  {
    method: "lpush",
    async run({ redis, raw, key }) {
      assert.equal(await redis.lpush(key(), ...VALUES), VALUES.length);
      assert.deepEqual(await rawList(raw, key()), STORED.toReversed());
    },
  },
  {
    method: "lpushx",
    async run({ redis, raw, key }) {
      assert.equal(await redis.lpushx(key(), "x"), 0);
      await raw("RPUSH", key(), "a");
      assert.equal(await redis.lpushx(key(), true), 2);
      assert.deepEqual(await rawList(raw, key()), ["true", "a"]);
    },
  },
  {
    method: "rpushx",
    async run({ redis, raw, key }) {
      assert.equal(await redis.rpushx(key(), "x"), 0);
      await raw("RPUSH", key(), "a");
      assert.equal(await redis.rpushx(key(), { b: 1 }), 2);
      assert.deepEqual(await rawList(raw, key()), ["a", '{"b":1}']);
    },
  },
  {
    method: "lrange",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key(), ...STORED);
      assert.deepEqual(await redis.lrange(key(), 0, -1), VALUES);
    },
  },
  {
    method: "lindex",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key(), ...STORED);
      for (const [i, { type, value }] of JSON_VALUES.entries()) {
        assert.deepEqual(await redis.lindex(key(), i), value, type);
      }
      assert.equal(await redis.lindex(key(), 99), null);
    },
  },
  {
    method: "llen",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key(), ...STORED);
      assert.equal(await redis.llen(key()), STORED.length);
    },
  },
  {
    method: "lpop",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key(), '{"a":1}', "true", "x");
      assert.deepEqual(await redis.lpop(key()), { a: 1 });
      assert.deepEqual(await redis.lpop(key(), 5), [true, "x"]);
      assert.equal(await redis.lpop(key()), null);
    },
  },
  {
    method: "rpop",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key(), "x", "null", "[1]");
      assert.deepEqual(await redis.rpop(key()), [1]);
      assert.deepEqual(await redis.rpop(key(), 2), [null, "x"]);
      assert.equal(await raw("EXISTS", key()), 0);
    },
  },
  {
    method: "lset",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key(), "a", "b");
      assert.equal(await redis.lset(key(), 1, false), "OK");
      assert.deepEqual(await rawList(raw, key()), ["a", "false"]);
    },
  },
  {
    method: "linsert",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key(), "a", "c");
      assert.equal(await redis.linsert<unknown>(key(), "before", "c", "b"), 3);
      assert.equal(await redis.linsert<unknown>(key(), "after", "c", 4), 4);
      assert.deepEqual(await rawList(raw, key()), ["a", "b", "c", "4"]);
    },
  },
  {
    method: "lrem",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key(), "true", "x", "true", "true");
      assert.equal(await redis.lrem(key(), 2, true), 2);
      assert.deepEqual(await rawList(raw, key()), ["x", "true"]);
    },
  },
  {
    method: "ltrim",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key(), "a", "b", "c", "d");
      assert.equal(await redis.ltrim(key(), 1, 2), "OK");
      assert.deepEqual(await rawList(raw, key()), ["b", "c"]);
    },
  },
  {
    method: "lpos",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key(), "a", "b", "a", "a");
      assert.equal(await redis.lpos(key(), "a", { rank: 2 }), 2);
      assert.deepEqual(await redis.lpos(key(), "a", { count: 0 }), [0, 2, 3]);
      assert.equal(await redis.lpos(key(), "zz"), null);
    },
  },
  {
    method: "lmove",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key("src"), "1", "2", "3");
      assert.equal(await redis.lmove(key("src"), key("dst"), "right", "left"), 3);
      assert.deepEqual(await rawList(raw, key("src")), ["1", "2"]);
      assert.deepEqual(await rawList(raw, key("dst")), ["3"]);
    },
  },
  {
    method: "lmpop",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key("b"), "x", '{"y":2}');
      const popped = await redis.lmpop(2, [key("a"), key("b")], "RIGHT", 5);
      assert.deepEqual(popped, [key("b"), [{ y: 2 }, "x"]]);
      assert.equal(await redis.lmpop(1, [key("a")], "LEFT"), null);
    },
  },
];
