/**
 * Sorted-set commands, with members of every JSON type and fractional scores.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase, RawCommand } from "./context.ts";
import { JSON_VALUES } from "./json_values.ts";

/** `[member, score]` pairs as Redis holds them, lowest score first. */
async function rawZset(raw: RawCommand, key: string): Promise<[string, string][]> {
  const flat = (await raw("ZRANGE", key, 0, -1, "WITHSCORES")) as string[];
  const pairs: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
  return pairs;
}

async function seed(raw: RawCommand, key: string): Promise<void> {
  await raw("ZADD", key, 1, "a", 2, "b", 3, "c", 4.5, "d");
}

export const SORTED_SET_CASES: CompatCase[] = [
  {
    method: "zadd",
    async run({ redis, raw, key }) {
      const members = JSON_VALUES.map(({ value }, i) => ({ score: i + 0.5, member: value }));
      assert.equal(await redis.zadd(key(), members[0], ...members.slice(1)), members.length);
      assert.deepEqual(
        await rawZset(raw, key()),
        JSON_VALUES.map(({ stored }, i) => [stored, `${i + 0.5}`]),
      );
      assert.equal(await redis.zadd(key("nx"), { nx: true }, { score: 1, member: "m" }), 1);
      assert.equal(
        await redis.zadd(key("nx"), { xx: true, ch: true }, { score: 9, member: "m" }),
        1,
      );
      assert.equal(await redis.zadd(key("nx"), { incr: true }, { score: 1, member: "m" }), 10);
      assert.deepEqual(await rawZset(raw, key("nx")), [["m", "10"]]);
    },
  },
  {
    method: "zrange",
    async run({ redis, raw, key }) {
      await raw("ZADD", key(), 1, '{"o":1}', 2, "true", 3, "x");
      assert.deepEqual(await redis.zrange(key(), 0, -1), [{ o: 1 }, true, "x"]);
      assert.deepEqual(await redis.zrange(key(), 0, 0, { withScores: true }), [{ o: 1 }, 1]);
      assert.deepEqual(await redis.zrange(key(), 2, 3, { byScore: true }), [true, "x"]);
      assert.deepEqual(await redis.zrange(key(), 0, 0, { rev: true }), ["x"]);
      await raw("ZADD", key("lex"), 0, "a", 0, "b", 0, "c");
      assert.deepEqual(await redis.zrange(key("lex"), "[b", "+", { byLex: true }), ["b", "c"]);
    },
  },
  {
    method: "zcard",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.equal(await redis.zcard(key()), 4);
    },
  },
  {
    method: "zcount",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.equal(await redis.zcount(key(), "(1", 4.5), 3);
      assert.equal(await redis.zcount(key(), "-inf", "+inf"), 4);
    },
  },
  {
    method: "zscore",
    async run({ redis, raw, key }) {
      await raw("ZADD", key(), 4.5, "true");
      assert.equal(await redis.zscore(key(), true), 4.5);
      assert.equal(await redis.zscore(key(), "absent"), null);
    },
  },
  {
    method: "zmscore",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.deepEqual(await redis.zmscore(key(), ["a", "d", "absent"]), [1, 4.5, null]);
    },
  },
  {
    method: "zincrby",
    async run({ redis, raw, key }) {
      assert.equal(await redis.zincrby(key(), 2.5, { m: 1 }), 2.5);
      assert.deepEqual(await rawZset(raw, key()), [['{"m":1}', "2.5"]]);
    },
  },
  {
    method: "zrank",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.equal(await redis.zrank(key(), "c"), 2);
      assert.equal(await redis.zrank(key(), "absent"), null);
    },
  },
  {
    method: "zrevrank",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.equal(await redis.zrevrank(key(), "c"), 1);
    },
  },
  {
    method: "zrem",
    async run({ redis, raw, key }) {
      await raw("ZADD", key(), 1, "null", 2, "b");
      assert.equal(await redis.zrem(key(), null, "absent"), 1);
      assert.deepEqual(await rawZset(raw, key()), [["b", "2"]]);
    },
  },
  {
    method: "zlexcount",
    async run({ redis, raw, key }) {
      await raw("ZADD", key(), 0, "a", 0, "b", 0, "c");
      assert.equal(await redis.zlexcount(key(), "[b", "+"), 2);
    },
  },
  {
    method: "zpopmin",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.deepEqual(await redis.zpopmin(key(), 2), ["a", 1, "b", 2]);
      assert.deepEqual(await rawZset(raw, key()), [["c", "3"], ["d", "4.5"]]);
    },
  },
  {
    method: "zpopmax",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.deepEqual(await redis.zpopmax(key()), ["d", 4.5]);
      assert.equal(await raw("ZCARD", key()), 3);
    },
  },
  {
    method: "zremrangebyrank",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.equal(await redis.zremrangebyrank(key(), 0, 1), 2);
      assert.deepEqual(await rawZset(raw, key()), [["c", "3"], ["d", "4.5"]]);
    },
  },
  {
    method: "zremrangebyscore",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.equal(await redis.zremrangebyscore(key(), 2, "+inf"), 3);
      assert.deepEqual(await rawZset(raw, key()), [["a", "1"]]);
    },
  },
  {
    method: "zremrangebylex",
    async run({ redis, raw, key }) {
      await raw("ZADD", key(), 0, "a", 0, "b", 0, "c");
      assert.equal(await redis.zremrangebylex(key(), "[a", "(c"), 2);
      assert.deepEqual(await rawZset(raw, key()), [["c", "0"]]);
    },
  },
  {
    method: "zinterstore",
    async run({ redis, raw, key }) {
      await raw("ZADD", key("a"), 1, "x", 2, "y");
      await raw("ZADD", key("b"), 10, "y");
      assert.equal(
        await redis.zinterstore(key("d"), 2, [key("a"), key("b")], { weights: [2, 1] }),
        1,
      );
      assert.deepEqual(await rawZset(raw, key("d")), [["y", "14"]]);
    },
  },
  {
    method: "zunionstore",
    async run({ redis, raw, key }) {
      await raw("ZADD", key("a"), 1, "x", 2, "y");
      await raw("ZADD", key("b"), 10, "y");
      assert.equal(
        await redis.zunionstore(key("d"), 2, [key("a"), key("b")], { aggregate: "max" }),
        2,
      );
      assert.deepEqual(await rawZset(raw, key("d")), [["x", "1"], ["y", "10"]]);
    },
  },
  {
    method: "zunion",
    async run({ redis, raw, key }) {
      await raw("ZADD", key("a"), 1, "x", 2, "y");
      await raw("ZADD", key("b"), 10, "y");
      assert.deepEqual(await redis.zunion(2, [key("a"), key("b")]), ["x", "y"]);
      assert.deepEqual(
        await redis.zunion(2, [key("a"), key("b")], { withScores: true }),
        ["x", 1, "y", 12],
      );
    },
  },
  {
    method: "zdiffstore",
    async run({ redis, raw, key }) {
      await raw("ZADD", key("a"), 1, "x", 2, "y");
      await raw("ZADD", key("b"), 10, "y");
      assert.equal(await redis.zdiffstore(key("d"), 2, key("a"), key("b")), 1);
      assert.deepEqual(await rawZset(raw, key("d")), [["x", "1"]]);
    },
  },
  {
    method: "zscan",
    async run({ redis, raw, key }) {
      await raw("ZADD", key(), 1.5, "m");
      const [cursor, flat] = await redis.zscan(key(), 0);
      assert.equal(cursor, "0");
      assert.deepEqual(flat, ["m", 1.5]);
    },
  },
];
