/**
 * Set commands, with members of every JSON type.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase, RawCommand } from "./context.ts";
import { JSON_VALUES } from "./json_values.ts";

const VALUES = JSON_VALUES.map(({ value }) => value);
const STORED = JSON_VALUES.map(({ stored }) => stored);

/** Sorts decoded members by their JSON text, so unordered replies compare. */
function sorted(members: unknown[]): unknown[] {
  return members.toSorted((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

async function rawSet(raw: RawCommand, key: string): Promise<string[]> {
  return ((await raw("SMEMBERS", key)) as string[]).sort();
}

export const SET_CASES: CompatCase[] = [
  {
    method: "sadd",
    async run({ redis, raw, key }) {
      assert.equal(await redis.sadd(key(), VALUES[0], ...VALUES.slice(1)), VALUES.length);
      assert.deepEqual(await rawSet(raw, key()), STORED.toSorted());
    },
  },
  {
    method: "smembers",
    async run({ redis, raw, key }) {
      await raw("SADD", key(), ...STORED);
      assert.deepEqual(sorted(await redis.smembers(key())), sorted(VALUES));
    },
  },
  {
    method: "scard",
    async run({ redis, raw, key }) {
      await raw("SADD", key(), ...STORED);
      assert.equal(await redis.scard(key()), STORED.length);
    },
  },
  {
    method: "sismember",
    async run({ redis, raw, key }) {
      await raw("SADD", key(), ...STORED);
      for (const { type, value } of JSON_VALUES) {
        assert.equal(await redis.sismember(key(), value), 1, type);
      }
      assert.equal(await redis.sismember(key(), "absent"), 0);
    },
  },
  {
    method: "smismember",
    async run({ redis, raw, key }) {
      await raw("SADD", key(), "a", "true");
      assert.deepEqual(await redis.smismember(key(), ["a", true, "b"]), [1, 1, 0]);
    },
  },
  {
    method: "srem",
    async run({ redis, raw, key }) {
      await raw("SADD", key(), ...STORED);
      assert.equal(await redis.srem<unknown>(key(), false, null, "absent"), 2);
      assert.equal(await raw("SCARD", key()), STORED.length - 2);
    },
  },
  {
    method: "spop",
    async run({ redis, raw, key }) {
      await raw("SADD", key(), '{"only":true}');
      assert.deepEqual(await redis.spop(key()), { only: true });
      await raw("SADD", key(), "a", "b");
      assert.deepEqual(sorted(await redis.spop<unknown[]>(key(), 5) ?? []), ["a", "b"]);
      assert.equal(await raw("EXISTS", key()), 0);
    },
  },
  {
    method: "srandmember",
    async run({ redis, raw, key }) {
      await raw("SADD", key(), "[1,2]");
      assert.deepEqual(await redis.srandmember(key()), [1, 2]);
      assert.deepEqual(await redis.srandmember(key(), 3), [[1, 2]]);
      assert.equal(await raw("SCARD", key()), 1, "SRANDMEMBER removes nothing");
    },
  },
  {
    method: "smove",
    async run({ redis, raw, key }) {
      await raw("SADD", key("src"), "1", "2");
      assert.equal(await redis.smove(key("src"), key("dst"), 2), 1);
      assert.deepEqual(await rawSet(raw, key("src")), ["1"]);
      assert.deepEqual(await rawSet(raw, key("dst")), ["2"]);
    },
  },
  {
    method: "sdiff",
    async run({ redis, raw, key }) {
      await raw("SADD", key("a"), "1", "2", "x");
      await raw("SADD", key("b"), "2");
      assert.deepEqual(sorted(await redis.sdiff(key("a"), key("b"))), sorted([1, "x"]));
    },
  },
  {
    method: "sdiffstore",
    async run({ redis, raw, key }) {
      await raw("SADD", key("a"), "1", "2");
      await raw("SADD", key("b"), "2");
      assert.equal(await redis.sdiffstore(key("d"), key("a"), key("b")), 1);
      assert.deepEqual(await rawSet(raw, key("d")), ["1"]);
    },
  },
  {
    method: "sinter",
    async run({ redis, raw, key }) {
      await raw("SADD", key("a"), "x", "y");
      await raw("SADD", key("b"), "y", "z");
      assert.deepEqual(await redis.sinter(key("a"), key("b")), ["y"]);
    },
  },
  {
    method: "sinterstore",
    async run({ redis, raw, key }) {
      await raw("SADD", key("a"), "x", "y");
      await raw("SADD", key("b"), "y", "z");
      assert.equal(await redis.sinterstore(key("d"), key("a"), key("b")), 1);
      assert.deepEqual(await rawSet(raw, key("d")), ["y"]);
    },
  },
  {
    method: "sintercard",
    async run({ redis, raw, key }) {
      await raw("SADD", key("a"), "x", "y", "z");
      await raw("SADD", key("b"), "y", "z");
      assert.equal(await redis.sintercard([key("a"), key("b")]), 2);
      assert.equal(await redis.sintercard([key("a"), key("b")], { limit: 1 }), 1);
    },
  },
  {
    method: "sunion",
    async run({ redis, raw, key }) {
      await raw("SADD", key("a"), "x");
      await raw("SADD", key("b"), "true");
      assert.deepEqual(sorted(await redis.sunion(key("a"), key("b"))), sorted(["x", true]));
    },
  },
  {
    method: "sunionstore",
    async run({ redis, raw, key }) {
      await raw("SADD", key("a"), "x");
      await raw("SADD", key("b"), "y");
      assert.equal(await redis.sunionstore(key("d"), key("a"), key("b")), 2);
      assert.deepEqual(await rawSet(raw, key("d")), ["x", "y"]);
    },
  },
  {
    method: "sscan",
    async run({ redis, raw, key }) {
      await raw("SADD", key(), "m1", "m2", "other");
      const [cursor, members] = await redis.sscan(key(), 0, { match: "m*", count: 100 });
      assert.equal(cursor, "0");
      assert.deepEqual(members.map(String).sort(), ["m1", "m2"]);
    },
  },
];
