/**
 * Stream commands, with field values of every JSON type, consumer groups and claims.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase, RawCommand } from "./context.ts";
import { JSON_VALUES } from "./json_values.ts";

const FIELDS = Object.fromEntries(JSON_VALUES.map(({ value }, i) => [`f${i}`, value]));
const STORED_FLAT = JSON_VALUES.flatMap(({ stored }, i) => [`f${i}`, stored]);

/** Adds entries with ids `1-0`, `2-0`, … holding `n=<i>` and returns the ids. */
async function seed(raw: RawCommand, key: string, count = 3): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) ids.push((await raw("XADD", key, `${i}-0`, "n", i)) as string);
  return ids;
}

/** Creates group `g` at the start and delivers every entry to consumer `c1`. */
async function deliverToC1(raw: RawCommand, key: string): Promise<void> {
  await raw("XGROUP", "CREATE", key, "g", "0");
  await raw("XREADGROUP", "GROUP", "g", "c1", "STREAMS", key, ">");
}

export const STREAM_CASES: CompatCase[] = [
  {
    method: "xadd",
    async run({ redis, raw, key }) {
      const id = await redis.xadd(key(), "*", FIELDS);
      assert.match(id, /^\d+-\d+$/);
      const [[rawId, flat]] = (await raw("XRANGE", key(), "-", "+")) as [string, string[]][];
      assert.equal(rawId, id);
      assert.deepEqual(flat, STORED_FLAT);
      await redis.xadd(key("capped"), "*", { n: 1 });
      await redis.xadd(key("capped"), "*", { n: 2 }, {
        trim: { type: "MAXLEN", threshold: 1, comparison: "=" },
      });
      assert.equal(await raw("XLEN", key("capped")), 1);
      assert.equal(await redis.xadd(key("nomk"), "*", { n: 1 }, { nomkStream: true }), null);
      assert.equal(await raw("EXISTS", key("nomk")), 0);
    },
  },
  {
    method: "xrange",
    async run({ redis, raw, key }) {
      await raw("XADD", key(), "1-0", ...STORED_FLAT);
      await raw("XADD", key(), "2-0", "n", "2");
      assert.deepEqual(await redis.xrange(key(), "-", "+"), { "1-0": FIELDS, "2-0": { n: 2 } });
      assert.deepEqual(await redis.xrange(key(), "2-0", "+", 1), { "2-0": { n: 2 } });
    },
  },
  {
    method: "xrevrange",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      const entries = await redis.xrevrange(key(), "+", "-", 2);
      assert.deepEqual(Object.keys(entries), ["3-0", "2-0"]);
      assert.deepEqual(entries["3-0"], { n: 3 });
    },
  },
  {
    method: "xlen",
    async run({ redis, raw, key }) {
      await seed(raw, key(), 4);
      assert.equal(await redis.xlen(key()), 4);
    },
  },
  {
    method: "xdel",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      assert.equal(await redis.xdel(key(), ["1-0", "3-0", "9-0"]), 2);
      assert.equal(await raw("XLEN", key()), 1);
    },
  },
  {
    method: "xtrim",
    async run({ redis, raw, key }) {
      await seed(raw, key(), 5);
      // "=" trims exactly; the SDK's default "~" lets Redis keep a whole node of a small stream.
      assert.equal(
        await redis.xtrim(key(), { strategy: "MAXLEN", threshold: 2, exactness: "=" }),
        3,
      );
      assert.equal(
        await redis.xtrim(key(), { strategy: "MINID", threshold: "5-0", exactness: "=" }),
        1,
      );
      assert.equal(await raw("XLEN", key()), 1);
    },
  },
  {
    method: "xread",
    async run({ redis, raw, key }) {
      await raw("XADD", key(), "1-0", "obj", '{"a":true}');
      const reply = await redis.xread(key(), "0-0");
      assert.deepEqual(reply, [[key(), [["1-0", ["obj", { a: true }]]]]]);
      const both = await redis.xread([key(), key("empty")], ["0-0", "0-0"], { count: 1 });
      assert.equal(both.length, 1, "a missing stream is left out of the reply");
    },
  },
  {
    method: "xgroup",
    async run({ redis, raw, key }) {
      assert.equal(
        await redis.xgroup(key(), {
          type: "CREATE",
          group: "g",
          id: "$",
          options: { MKSTREAM: true },
        }),
        "OK",
      );
      assert.equal(
        await redis.xgroup(key(), { type: "CREATECONSUMER", group: "g", consumer: "c" }),
        1,
      );
      assert.equal(await redis.xgroup(key(), { type: "SETID", group: "g", id: "0" }), "OK");
      const groups = (await raw("XINFO", "GROUPS", key())) as unknown[][];
      assert.equal(groups.length, 1);
      assert.equal(
        await redis.xgroup(key(), { type: "DELCONSUMER", group: "g", consumer: "c" }),
        0,
      );
      assert.equal(await redis.xgroup(key(), { type: "DESTROY", group: "g" }), 1);
      assert.deepEqual(await raw("XINFO", "GROUPS", key()), []);
    },
  },
  {
    method: "xreadgroup",
    async run({ redis, raw, key }) {
      await raw("XADD", key(), "1-0", "v", "[1,2]");
      await raw("XGROUP", "CREATE", key(), "g", "0");
      const reply = await redis.xreadgroup("g", "c1", key(), ">");
      assert.deepEqual(reply, [[key(), [["1-0", ["v", [1, 2]]]]]]);
      const pending = (await raw("XPENDING", key(), "g")) as unknown[];
      assert.equal(pending[0], 1, "the entry is pending for c1");
      await raw("XADD", key(), "2-0", "v", "x");
      await redis.xreadgroup("g", "c2", key(), ">", { NOACK: true });
      assert.equal(((await raw("XPENDING", key(), "g")) as unknown[])[0], 1, "NOACK adds none");
    },
  },
  {
    method: "xack",
    async run({ redis, raw, key }) {
      await seed(raw, key());
      await deliverToC1(raw, key());
      assert.equal(await redis.xack(key(), "g", ["1-0", "2-0"]), 2);
      assert.equal(((await raw("XPENDING", key(), "g")) as unknown[])[0], 1);
    },
  },
  {
    method: "xpending",
    async run({ redis, raw, key }) {
      await seed(raw, key(), 2);
      await deliverToC1(raw, key());
      const rows = (await redis.xpending(key(), "g", "-", "+", 10)) as unknown[][];
      assert.deepEqual(rows.map((row) => [row[0], row[1]]), [["1-0", "c1"], ["2-0", "c1"]]);
      const none = await redis.xpending(key(), "g", "-", "+", 10, { consumer: "other" });
      assert.deepEqual(none, []);
    },
  },
  {
    method: "xclaim",
    async run({ redis, raw, key }) {
      await seed(raw, key(), 2);
      await deliverToC1(raw, key());
      const claimed = await redis.xclaim(key(), "g", "c2", 0, ["1-0", "2-0"], { justId: true });
      assert.deepEqual(claimed, ["1-0", "2-0"]);
      const consumers = (await raw("XPENDING", key(), "g", "-", "+", 10, "c2")) as unknown[][];
      assert.equal(consumers.length, 2, "both entries now belong to c2");
    },
  },
  {
    method: "xautoclaim",
    async run({ redis, raw, key }) {
      await seed(raw, key(), 2);
      await deliverToC1(raw, key());
      const [next, entries] = (await redis.xautoclaim(key(), "g", "c2", 0, "0-0", {
        count: 10,
      })) as [string, [string, unknown[]][]];
      assert.equal(next, "0-0");
      assert.deepEqual(entries.map(([id]) => id), ["1-0", "2-0"]);
      const owned = (await raw("XPENDING", key(), "g", "-", "+", 10, "c2")) as unknown[][];
      assert.equal(owned.length, 2);
    },
  },
  {
    method: "xinfo",
    async run({ redis, raw, key }) {
      await seed(raw, key(), 1);
      await deliverToC1(raw, key());
      const groups = (await redis.xinfo(key(), { type: "GROUPS" })) as unknown[][];
      assert.equal(groups.length, 1);
      assert.deepEqual(groups[0].slice(0, 2), ["name", "g"]);
      const consumers =
        (await redis.xinfo(key(), { type: "CONSUMERS", group: "g" })) as unknown[][];
      assert.deepEqual(consumers[0].slice(0, 4), ["name", "c1", "pending", 1]);
    },
  },
];
