/**
 * `pipeline()` and `multi()`: many commands in one request, values of every JSON type,
 * replies in order, and what a failing command in the middle does to the others.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase } from "./context.ts";
import { JSON_VALUES } from "./json_values.ts";

const VALUES = JSON_VALUES.map(({ value }) => value);
const STORED = JSON_VALUES.map(({ stored }) => stored);

export const TRANSACTION_CASES: CompatCase[] = [
  {
    method: "pipeline",
    async run({ redis: auto, raw, key }) {
      // Concurrent calls: in the auto-pipelined mode they travel as one write and one read
      // pipeline, elsewhere as concurrent requests. Each caller gets its own reply, and one
      // failing command rejects only its own caller.
      await raw("SET", key("text"), "not a number");
      const writes = VALUES.map((value, i) => auto.set(key(`s${i}`), value));
      const failing = auto.incr(key("text"));
      const counter = auto.incrby(key("n"), 5);
      const [written, failed, counted] = await Promise.allSettled([
        Promise.all(writes),
        failing,
        counter,
      ]);
      assert.deepEqual(written, { status: "fulfilled", value: VALUES.map(() => "OK") });
      assert.equal(failed.status, "rejected");
      assert.match(String((failed as PromiseRejectedResult).reason), /not an integer/);
      assert.deepEqual(counted, { status: "fulfilled", value: 5 });
      const reads = await Promise.all(VALUES.map((_, i) => auto.get(key(`s${i}`))));
      assert.deepEqual(reads, VALUES);
      assert.deepEqual(await raw("MGET", ...VALUES.map((_, i) => key(`s${i}`))), STORED);
      assert.equal(await raw("GET", key("text")), "not a number");
    },
  },
  {
    method: "pipeline",
    async run({ redis, raw, key }) {
      const p = redis.pipeline();
      for (const [i, value] of VALUES.entries()) p.set(key(`s${i}`), value);
      for (const i of VALUES.keys()) p.get(key(`s${i}`));
      p.hset(key("h"), { a: true, b: [1], c: null }).hgetall(key("h"));
      p.rpush(key("l"), ...VALUES).lrange(key("l"), 0, -1);
      p.zadd(key("z"), { score: 1.5, member: { m: 1 } }).zrange(key("z"), 0, -1, {
        withScores: true,
      });
      p.eval("return ARGV", [], VALUES);
      assert.equal(p.length(), VALUES.length * 2 + 7);
      const replies = await p.exec();
      assert.deepEqual(replies, [
        ...VALUES.map(() => "OK"),
        ...VALUES,
        3,
        { a: true, b: [1], c: null },
        VALUES.length,
        VALUES,
        1,
        [{ m: 1 }, 1.5],
        VALUES,
      ]);
      assert.deepEqual(await raw("MGET", ...VALUES.map((_, i) => key(`s${i}`))), STORED);
      assert.deepEqual(await raw("LRANGE", key("l"), 0, -1), STORED);
    },
  },
  {
    method: "pipeline",
    async run({ redis, raw, key }) {
      // A failing command in a pipeline fails alone: the ones around it still run.
      await raw("SET", key("text"), "not a number");
      const p = redis.pipeline().set(key("before"), 1).incr(key("text")).set(key("after"), 2);
      const replies = await p.exec({ keepErrors: true });
      assert.equal(replies[0].result, "OK");
      assert.match(String(replies[1].error), /not an integer/);
      assert.equal(replies[2].result, "OK");
      assert.deepEqual(await raw("MGET", key("before"), key("text"), key("after")), [
        "1",
        "not a number",
        "2",
      ]);
      await assert.rejects(redis.pipeline().incr(key("text")).exec(), /not an integer/);
    },
  },
  {
    method: "multi",
    async run({ redis, raw, key }) {
      const tx = redis.multi();
      for (const [i, value] of VALUES.entries()) tx.set(key(`s${i}`), value);
      tx.incr(key("n")).incrby(key("n"), 41).get(key("n"));
      tx.sadd(key("set"), true, false).smembers(key("set"));
      const replies = await tx.exec();
      assert.deepEqual(replies.slice(0, VALUES.length), VALUES.map(() => "OK"));
      const [one, fortyTwo, got, added, members] = replies.slice(VALUES.length);
      assert.deepEqual([one, fortyTwo, got, added], [1, 42, 42, 2]);
      assert.deepEqual((members as unknown[]).map(String).sort(), ["false", "true"]);
      assert.deepEqual(await raw("MGET", ...VALUES.map((_, i) => key(`s${i}`))), STORED);
      assert.equal(await raw("GET", key("n")), "42");
    },
  },
  {
    method: "multi",
    async run({ redis, raw, key }) {
      // Redis runs the rest of a transaction past a command that fails at run time.
      await raw("SET", key("text"), "x");
      const replies = await redis.multi().set(key("a"), "1").incr(key("text")).set(key("b"), "2")
        .exec({ keepErrors: true });
      assert.equal(replies[0].result, "OK");
      assert.match(String(replies[1].error), /not an integer/);
      assert.equal(replies[2].result, "OK");
      assert.deepEqual(await raw("MGET", key("a"), key("b")), ["1", "2"]);
    },
  },
];
