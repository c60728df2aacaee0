/**
 * Hash commands, with field values of every JSON type.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase, RawCommand } from "./context.ts";
import { JSON_VALUES } from "./json_values.ts";

/** Every JSON type as one hash: field `f<i>` holds value `i`. */
const FIELDS = Object.fromEntries(JSON_VALUES.map(({ value }, i) => [`f${i}`, value]));
const STORED = Object.fromEntries(JSON_VALUES.map(({ stored }, i) => [`f${i}`, stored]));

/** @returns the hash as Redis holds it, field → stored string */
async function rawHash(raw: RawCommand, key: string): Promise<Record<string, string>> {
  const flat = (await raw("HGETALL", key)) as string[];
  const hash: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) hash[flat[i]] = flat[i + 1];
  return hash;
}

async function seed(raw: RawCommand, key: string): Promise<void> {
  await raw("HSET", key, ...Object.entries(STORED).flat());
}

export const HASH_CASES: CompatCase[] = [
  {
    method: "hset",
    async run({ redis, raw, key }) {
      assert.equal(await redis.hset(key(), FIELDS), JSON_VALUES.length);
      assert.deepEqual(await rawHash(raw, key()), STORED);
    },
  },
  {
    method: "hmset",
    async run({ redis, raw, key }) {
      assert.equal(await redis.hmset(key(), FIELDS), "OK");
      assert.deepEqual(await rawHash(raw, key()), STORED);
    },
  },
  {
    method: "hsetnx",
    async run({ redis, raw, key }) {
      assert.equal(await redis.hsetnx(key(), "f", true), 1);
      assert.equal(await redis.hsetnx(key(), "f", false), 0);
      assert.deepEqual(await rawHash(raw, key()), { f: "true" });
    },
  },
  {
    method: "hget",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      for (const [i, { type, value }] of JSON_VALUES.entries()) {
        assert.deepEqual(await redis.hget(key(), `f${i}`), value, type);
      }
      assert.equal(await redis.hget(key(), "missing"), null);
    },
  },
  {
    method: "hgetall",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      // hgetall alone keeps a number that is not a safe integer as its text (no float
      // rounding): the SDK's choice, so -3.25 comes back as "-3.25".
      const expected = Object.fromEntries(
        JSON_VALUES.map(({ value, stored }, i) => [
          `f${i}`,
          typeof value === "number" && !Number.isSafeInteger(value) ? stored : value,
        ]),
      );
      assert.deepEqual(await redis.hgetall(key()), expected);
      assert.equal(await redis.hgetall(key("missing")), null);
    },
  },
  {
    method: "hmget",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.deepEqual(await redis.hmget(key(), "f0", "f4", "f6", "missing"), {
        f0: FIELDS.f0,
        f4: FIELDS.f4,
        f6: FIELDS.f6,
        missing: null,
      });
    },
  },
  {
    method: "hdel",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.equal(await redis.hdel(key(), "f0", "f1", "missing"), 2);
      assert.equal(await raw("HEXISTS", key(), "f0"), 0);
    },
  },
  {
    method: "hexists",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.equal(await redis.hexists(key(), "f2"), 1);
      assert.equal(await redis.hexists(key(), "nope"), 0);
    },
  },
  {
    method: "hincrby",
    async run({ redis, raw, key }) {
      assert.equal(await redis.hincrby(key(), "n", -3), -3);
      assert.deepEqual(await rawHash(raw, key()), { n: "-3" });
    },
  },
  {
    method: "hincrbyfloat",
    async run({ redis, raw, key }) {
      assert.equal(await redis.hincrbyfloat(key(), "n", 2.5), 2.5);
      assert.deepEqual(await rawHash(raw, key()), { n: "2.5" });
    },
  },
  {
    method: "hkeys",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.deepEqual((await redis.hkeys(key())).sort(), Object.keys(FIELDS).sort());
    },
  },
  {
    method: "hvals",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      const order = (await raw("HKEYS", key())) as string[];
      assert.deepEqual(await redis.hvals(key()), order.map((f) => FIELDS[f]));
    },
  },
  {
    method: "hlen",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.equal(await redis.hlen(key()), JSON_VALUES.length);
    },
  },
  {
    method: "hstrlen",
    async run({ redis, raw, key }) {
      await raw("HSET", key(), "f", "héllo");
      assert.equal(await redis.hstrlen(key(), "f"), 6);
    },
  },
  {
    method: "hrandfield",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      const one = await redis.hrandfield(key());
      assert.ok(typeof one === "string" && one in FIELDS, `${one}`);
      const all = await redis.hrandfield<Record<string, unknown>>(key(), JSON_VALUES.length, true);
      assert.deepEqual(all, FIELDS);
    },
  },
  {
    method: "hscan",
    async run({ redis, raw, key }) {
      await raw("HSET", key(), "a", "1", "b", "x");
      const [cursor, flat] = await redis.hscan(key(), 0, { count: 100 });
      assert.equal(cursor, "0");
      const pairs = new Map<unknown, unknown>();
      for (let i = 0; i < flat.length; i += 2) pairs.set(flat[i], flat[i + 1]);
      assert.deepEqual(Object.fromEntries(pairs), { a: 1, b: "x" });
    },
  },
];
