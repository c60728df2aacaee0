/**
 * Generic key, connection and server commands, plus `exec` (the SDK's escape hatch for a
 * command it has no method for).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase } from "./context.ts";

const HOUR = 3600;

export const KEY_CASES: CompatCase[] = [
  {
    method: "del",
    async run({ redis, raw, key }) {
      await raw("MSET", key("a"), "1", key("b"), "2");
      assert.equal(await redis.del(key("a"), key("b"), key("c")), 2);
      assert.equal(await raw("EXISTS", key("a"), key("b")), 0);
    },
  },
  {
    method: "unlink",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1");
      assert.equal(await redis.unlink(key(), key("other")), 1);
      assert.equal(await raw("EXISTS", key()), 0);
    },
  },
  {
    method: "exists",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1");
      assert.equal(await redis.exists(key(), key(), key("missing")), 2);
    },
  },
  {
    method: "touch",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1");
      assert.equal(await redis.touch(key(), key("missing")), 1);
    },
  },
  {
    method: "type",
    async run({ redis, raw, key }) {
      await raw("RPUSH", key("list"), "a");
      await raw("XADD", key("stream"), "*", "f", "v");
      assert.equal(await redis.type(key("list")), "list");
      assert.equal(await redis.type(key("stream")), "stream");
      assert.equal(await redis.type(key("missing")), "none");
    },
  },
  {
    method: "expire",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1");
      assert.equal(await redis.expire(key(), HOUR), 1);
      assert.equal(await redis.expire(key(), 10, "GT"), 0, "GT refuses a shorter TTL");
      const ttl = await raw("TTL", key()) as number;
      assert.ok(ttl > HOUR - 10 && ttl <= HOUR, `TTL ${ttl}`);
      assert.equal(await redis.expire(key("missing"), 10), 0);
    },
  },
  {
    method: "pexpire",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1");
      assert.equal(await redis.pexpire(key(), 90_000), 1);
      const pttl = await raw("PTTL", key()) as number;
      assert.ok(pttl > 80_000 && pttl <= 90_000, `PTTL ${pttl}`);
    },
  },
  {
    method: "expireat",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1");
      const at = Math.floor(Date.now() / 1000) + HOUR;
      assert.equal(await redis.expireat(key(), at), 1);
      assert.equal(await raw("EXPIRETIME", key()), at);
    },
  },
  {
    method: "pexpireat",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1");
      const at = Date.now() + HOUR * 1000;
      assert.equal(await redis.pexpireat(key(), at), 1);
      assert.equal(await raw("PEXPIRETIME", key()), at);
    },
  },
  {
    method: "ttl",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1", "EX", HOUR);
      const ttl = await redis.ttl(key());
      assert.ok(ttl > HOUR - 10 && ttl <= HOUR, `TTL ${ttl}`);
      assert.equal(await redis.ttl(key("missing")), -2);
    },
  },
  {
    method: "pttl",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1");
      assert.equal(await redis.pttl(key()), -1);
    },
  },
  {
    method: "persist",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1", "EX", HOUR);
      assert.equal(await redis.persist(key()), 1);
      assert.equal(await raw("TTL", key()), -1);
    },
  },
  {
    method: "rename",
    async run({ redis, raw, key }) {
      await raw("SET", key("from"), "v");
      assert.equal(await redis.rename(key("from"), key("to")), "OK");
      assert.deepEqual(await raw("MGET", key("from"), key("to")), [null, "v"]);
    },
  },
  {
    method: "renamenx",
    async run({ redis, raw, key }) {
      await raw("MSET", key("from"), "v", key("taken"), "w");
      assert.equal(await redis.renamenx(key("from"), key("taken")), 0);
      assert.equal(await redis.renamenx(key("from"), key("free")), 1);
      assert.deepEqual(await raw("MGET", key("from"), key("taken"), key("free")), [null, "w", "v"]);
    },
  },
  {
    method: "copy",
    async run({ redis, raw, key }) {
      await raw("SET", key("from"), "v");
      await raw("SET", key("taken"), "w");
      assert.equal(await redis.copy(key("from"), key("to")), "COPIED");
      assert.equal(await redis.copy(key("from"), key("taken")), "NOT_COPIED");
      assert.equal(await redis.copy(key("from"), key("taken"), { replace: true }), "COPIED");
      assert.deepEqual(await raw("MGET", key("to"), key("taken")), ["v", "v"]);
    },
  },
  {
    method: "keys",
    async run({ redis, raw, key }) {
      await raw("MSET", key("k1"), "1", key("k2"), "2");
      const found = await redis.keys(`${key("k")}*`);
      assert.deepEqual(found.sort(), [key("k1"), key("k2")]);
    },
  },
  {
    method: "scan",
    async run({ redis, raw, key }) {
      await raw("MSET", key("s1"), "1", key("s2"), "2");
      await raw("RPUSH", key("s3"), "x");
      const pattern = `${key("s")}*`;
      const seen: string[] = [];
      let cursor = "0";
      do {
        const [next, keys]: [string, string[]] = await redis.scan(cursor, {
          match: pattern,
          count: 1000,
        });
        seen.push(...keys);
        cursor = next;
      } while (cursor !== "0");
      assert.deepEqual(seen.sort(), [key("s1"), key("s2"), key("s3")]);
      const [, lists] = await redis.scan(0, { match: pattern, type: "list", count: 1000 });
      assert.deepEqual(lists, [key("s3")]);
    },
  },
  {
    method: "randomkey",
    async run({ redis, raw, key }) {
      await raw("SET", key(), "1");
      const random = await redis.randomkey();
      assert.equal(typeof random, "string");
      assert.equal(await raw("EXISTS", random!), 1, "RANDOMKEY names a key Redis holds");
    },
  },
  {
    method: "dbsize",
    async run({ redis, raw }) {
      assert.equal(await redis.dbsize(), await raw("DBSIZE"));
    },
  },
  {
    method: "echo",
    async run({ redis }) {
      assert.equal(await redis.echo("héllo\nworld"), "héllo\nworld");
    },
  },
  {
    method: "ping",
    async run({ redis }) {
      assert.equal(await redis.ping(), "PONG");
      assert.equal(await redis.ping(["hi there"]), "hi there");
    },
  },
  {
    method: "time",
    async run({ redis, raw }) {
      const [seconds, micros] = await redis.time();
      const [rawSeconds] = (await raw("TIME")) as string[];
      assert.ok(Math.abs(Number(rawSeconds) - seconds) <= 2, `${seconds} vs ${rawSeconds}`);
      assert.ok(micros >= 0 && micros < 1_000_000);
    },
  },
  {
    method: "exec",
    async run({ redis, raw, key }) {
      assert.equal(await redis.exec(["SET", key(), "via exec"]), "OK");
      assert.equal(await raw("GET", key()), "via exec");
      assert.equal(await redis.exec(["STRLEN", key()]), 8);
      assert.equal(await redis.exec(["SET", key("n"), 12]), "OK");
      assert.equal(await redis.exec(["SET", key("b"), true]), "OK");
      assert.deepEqual(await raw("MGET", key("n"), key("b")), ["12", "true"]);
    },
  },
];
