/**
 * String commands: each writes through the SDK, reads back through the SDK and through
 * node-redis, and values cover every JSON type the SDK sends.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase } from "./context.ts";
import { JSON_VALUES } from "./json_values.ts";

export const STRING_CASES: CompatCase[] = [
  {
    method: "set",
    async run({ redis, raw, key }) {
      for (const [i, { type, value, stored }] of JSON_VALUES.entries()) {
        assert.equal(await redis.set(key(`${i}`), value), "OK", type);
        assert.equal(await raw("GET", key(`${i}`)), stored, type);
        assert.deepEqual(await redis.get(key(`${i}`)), value, type);
      }
      assert.equal(await redis.set(key("nx"), "a", { nx: true }), "OK");
      assert.equal(await redis.set(key("nx"), "b", { nx: true }), null);
      assert.equal(await redis.set(key("nx"), "c", { get: true }), "a");
      await redis.set(key("px"), "v", { px: 60_000 });
      const pttl = await raw("PTTL", key("px")) as number;
      assert.ok(pttl > 50_000 && pttl <= 60_000, `PTTL ${pttl}`);
      await redis.set(key("keep"), "v2", { keepTtl: true, xx: true });
      assert.equal(await raw("GET", key("keep")), null, "XX on a missing key writes nothing");
    },
  },
  {
    method: "get",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "from raw");
      assert.equal(await redis.get(key()), "from raw");
      assert.equal(await redis.get(key("missing")), null);
      await raw("SET", key("json"), '{"a":[1,2]}');
      assert.deepEqual(await redis.get(key("json")), { a: [1, 2] });
      // A number whose text is not its canonical form stays a string, as the SDK promises.
      await raw("SET", key("zeros"), "007");
      assert.equal(await redis.get(key("zeros")), "007");
    },
  },
  {
    method: "append",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "ab");
      assert.equal(await redis.append(key(), "cd"), 4);
      assert.equal(await raw("GET", key()), "abcd");
    },
  },
  {
    method: "getrange",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "hello world");
      assert.equal(await redis.getrange(key(), 0, 4), "hello");
    },
  },
  {
    method: "setrange",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "hello world");
      assert.equal(await redis.setrange(key(), 6, "redis"), 11);
      assert.equal(await raw("GET", key()), "hello redis");
    },
  },
  {
    method: "strlen",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "héllo");
      assert.equal(await redis.strlen(key()), 6, "STRLEN counts UTF-8 bytes");
    },
  },
  {
    method: "getdel",
    async run({ redis, raw, key }) {
      await raw("SET", key(), '{"n":1}');
      assert.deepEqual(await redis.getdel(key()), { n: 1 });
      assert.equal(await raw("EXISTS", key()), 0);
    },
  },
  {
    method: "getex",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "v");
      assert.equal(await redis.getex(key(), { ex: 100 }), "v");
      const ttl = await raw("TTL", key()) as number;
      assert.ok(ttl > 90 && ttl <= 100, `TTL ${ttl}`);
      assert.equal(await redis.getex(key(), { persist: true }), "v");
      assert.equal(await raw("TTL", key()), -1);
    },
  },
  {
    method: "getset",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "old");
      assert.equal(await redis.getset(key(), { fresh: true }), "old");
      assert.equal(await raw("GET", key()), '{"fresh":true}');
    },
  },
  {
    method: "setex",
    async run({ redis, raw, key }) {
      assert.equal(await redis.setex(key(), 100, [1, 2]), "OK");
      assert.equal(await raw("GET", key()), "[1,2]");
      const ttl = await raw("TTL", key()) as number;
      assert.ok(ttl > 90 && ttl <= 100, `TTL ${ttl}`);
    },
  },
  {
    method: "psetex",
    async run({ redis, raw, key }) {
      assert.equal(await redis.psetex(key(), 100_000, false), "OK");
      assert.equal(await raw("GET", key()), "false");
      const pttl = await raw("PTTL", key()) as number;
      assert.ok(pttl > 90_000 && pttl <= 100_000, `PTTL ${pttl}`);
    },
  },
  {
    method: "setnx",
    async run({ redis, raw, key }) {
      assert.equal(await redis.setnx(key(), null), 1);
      assert.equal(await redis.setnx(key(), "other"), 0);
      assert.equal(await raw("GET", key()), "null");
    },
  },
  {
    method: "mset",
    async run({ redis, raw, key }) {
      const kv = Object.fromEntries(JSON_VALUES.map(({ value }, i) => [key(`${i}`), value]));
      assert.equal(await redis.mset(kv), "OK");
      const stored = await raw("MGET", ...JSON_VALUES.map((_, i) => key(`${i}`)));
      assert.deepEqual(stored, JSON_VALUES.map(({ stored }) => stored));
    },
  },
  {
    method: "mget",
    async run({ redis, raw, key }) {
      const keys = JSON_VALUES.map((_, i) => key(`${i}`));
      for (const [i, { stored }] of JSON_VALUES.entries()) await raw("SET", keys[i], stored);
      const values = await redis.mget(...keys, key("missing"));
      assert.deepEqual(values, [...JSON_VALUES.map(({ value }) => value), null]);
      assert.deepEqual(
        await redis.mget(keys.slice(0, 2)),
        JSON_VALUES.slice(0, 2).map((v) => v.value),
      );
    },
  },
  {
    method: "msetnx",
    async run({ redis, raw, key }) {
      assert.equal(await redis.msetnx({ [key("a")]: 1, [key("b")]: true }), 1);
      assert.equal(await redis.msetnx({ [key("a")]: 2, [key("c")]: 3 }), 0);
      assert.deepEqual(await raw("MGET", key("a"), key("b"), key("c")), ["1", "true", null]);
    },
  },
  {
    method: "incr",
    async run({ redis, raw, key }) {
      assert.equal(await redis.incr(key()), 1);
      assert.equal(await raw("GET", key()), "1");
    },
  },
  {
    method: "incrby",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "10");
      assert.equal(await redis.incrby(key(), 32), 42);
      assert.equal(await raw("GET", key()), "42");
    },
  },
  {
    method: "incrbyfloat",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1.5");
      assert.equal(await redis.incrbyfloat(key(), 0.25), 1.75);
      assert.equal(await raw("GET", key()), "1.75");
    },
  },
  {
    method: "decr",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "0");
      assert.equal(await redis.decr(key()), -1);
      assert.equal(await raw("GET", key()), "-1");
    },
  },
  {
    method: "decrby",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "5");
      assert.equal(await redis.decrby(key(), 7), -2);
      assert.equal(await raw("GET", key()), "-2");
    },
  },
  {
    method: "setbit",
    async run({ redis, raw, key }) {
      assert.equal(await redis.setbit(key(), 7, 1), 0);
      assert.equal(await raw("GET", key()), "\x01");
    },
  },
  {
    method: "getbit",
    async run({ redis, raw, key }) {
      await raw("SETBIT", key(), 3, 1);
      assert.equal(await redis.getbit(key(), 3), 1);
      assert.equal(await redis.getbit(key(), 4), 0);
    },
  },
  {
    method: "bitcount",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "foobar");
      assert.equal(await redis.bitcount(key(), 0, -1), 26);
      assert.equal(await redis.bitcount(key(), 1, 1), 6);
    },
  },
  {
    method: "bitpos",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "\x00\x0f");
      assert.equal(await redis.bitpos(key(), 1), 12);
    },
  },
  {
    method: "bitop",
    async run({ redis, raw, key }) {
      await raw("SET", key("a"), "abc");
      await raw("SET", key("b"), "   ");
      assert.equal(await redis.bitop("or", key("dest"), key("a"), key("b")), 3);
      assert.equal(await raw("GET", key("dest")), "abc");
      assert.equal(await redis.bitop("not", key("neg"), key("b")), 1 * 3);
    },
  },
  {
    method: "bitfield",
    async run({ redis, raw, key }) {
      const replies = await redis.bitfield(key()).set("u8", 0, 200).incrby("u8", 0, 100)
        .overflow("SAT").incrby("u8", 0, 100).get("u8", 0).exec();
      assert.deepEqual(replies, [0, 44, 144, 144]);
      assert.equal(
        await raw("BITFIELD", key(), "GET", "u8", 0).then((r) => (r as number[])[0]),
        144,
      );
    },
  },
];
