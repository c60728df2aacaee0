/**
 * SDK methods whose commands a plain Redis 7.0 does not have. Each is still called through
 * the gateway, and must fail with Redis's own "unknown command" error naming the command:
 * proof that the gateway passed it through untouched. Anything else failing fails the
 * suite. When CI's Redis is upgraded, a row whose command now exists fails here and moves
 * to a real case.
 *
 * | methods                                                     | command(s)             | first in                 |
 * | ----------------------------------------------------------- | ---------------------- | ------------------------ |
 * | hexpire hexpireat hexpiretime httl hpexpire hpexpireat      | HEXPIRE …, HPERSIST    | Redis 7.4 (field TTLs)   |
 * | hpexpiretime hpttl hpersist                                 |                        |                          |
 * | hgetdel hgetex hsetex                                       | HGETDEL HGETEX HSETEX  | Redis 8.0                |
 * | xackdel xdelex                                              | XACKDEL XDELEX         | Redis 8.2                |
 * | ar* (arcount … arset, 19 methods)                           | ARCOUNT … ARSET        | Upstash only (arrays)    |
 * | json.* (22 methods)                                         | JSON.*                 | RedisJSON module         |
 * | search.createIndex, search.index, search.alias.*            | SEARCH.*               | Upstash search           |
 * | vector.createIndex, vector.index                            | VECTOR.*               | Upstash vector           |
 *
 * `search.index` and `vector.index` only build a handle; the row calls a method on the
 * handle, which sends the command.
 *
 * @module
 */

import type { Redis } from "@upstash/redis";

/** One SDK method Redis 7.0 lacks, and how to call it. */
export interface MissingCommand {
  readonly method: string;
  /** The command Redis names in its "unknown command" error, upper case. */
  readonly command: string;
  call(redis: Redis, key: string): Promise<unknown>;
}

/** For option shapes the SDK types narrowly; the command fails before they matter. */
// deno-lint-ignore no-explicit-any
type Loose = any;

const FIELD_TTL: MissingCommand[] = [
  { method: "hexpire", command: "HEXPIRE", call: (r, k) => r.hexpire(k, "f", 10) },
  { method: "hexpireat", command: "HEXPIREAT", call: (r, k) => r.hexpireat(k, "f", 2e9) },
  { method: "hexpiretime", command: "HEXPIRETIME", call: (r, k) => r.hexpiretime(k, "f") },
  { method: "httl", command: "HTTL", call: (r, k) => r.httl(k, "f") },
  { method: "hpexpire", command: "HPEXPIRE", call: (r, k) => r.hpexpire(k, "f", 10_000) },
  { method: "hpexpireat", command: "HPEXPIREAT", call: (r, k) => r.hpexpireat(k, "f", 2e12) },
  { method: "hpexpiretime", command: "HPEXPIRETIME", call: (r, k) => r.hpexpiretime(k, "f") },
  { method: "hpttl", command: "HPTTL", call: (r, k) => r.hpttl(k, "f") },
  { method: "hpersist", command: "HPERSIST", call: (r, k) => r.hpersist(k, "f") },
];

const REDIS_8: MissingCommand[] = [
  { method: "hgetdel", command: "HGETDEL", call: (r, k) => r.hgetdel(k, "f") },
  { method: "hgetex", command: "HGETEX", call: (r, k) => r.hgetex(k, { ex: 10 }, "f") },
  { method: "hsetex", command: "HSETEX", call: (r, k) => r.hsetex(k, {}, { f: "v" }) },
  { method: "xackdel", command: "XACKDEL", call: (r, k) => r.xackdel(k, "g", "KEEPREF", "1-0") },
  { method: "xdelex", command: "XDELEX", call: (r, k) => r.xdelex(k, "KEEPREF", "1-0") },
];

const UPSTASH_ARRAYS: MissingCommand[] = [
  { method: "arcount", command: "ARCOUNT", call: (r, k) => r.arcount(k) },
  { method: "ardel", command: "ARDEL", call: (r, k) => r.ardel(k, 0) },
  { method: "ardelrange", command: "ARDELRANGE", call: (r, k) => r.ardelrange(k, [0, 1]) },
  { method: "arget", command: "ARGET", call: (r, k) => r.arget(k, 0) },
  { method: "argetrange", command: "ARGETRANGE", call: (r, k) => r.argetrange(k, 0, 1) },
  {
    method: "argrep",
    command: "ARGREP",
    call: (r, k) => r.argrep(k, 0, 1, { predicates: [{ match: "x" }] } as Loose),
  },
  { method: "arinfo", command: "ARINFO", call: (r, k) => r.arinfo(k) },
  { method: "arinsert", command: "ARINSERT", call: (r, k) => r.arinsert(k, "v") },
  { method: "arlastitems", command: "ARLASTITEMS", call: (r, k) => r.arlastitems(k, 1) },
  { method: "arlen", command: "ARLEN", call: (r, k) => r.arlen(k) },
  { method: "armget", command: "ARMGET", call: (r, k) => r.armget(k, 0) },
  { method: "armset", command: "ARMSET", call: (r, k) => r.armset(k, { 0: "v" }) },
  { method: "arnext", command: "ARNEXT", call: (r, k) => r.arnext(k) },
  { method: "arop", command: "AROP", call: (r, k) => r.arop(k, 0, 1, "SUM" as Loose) },
  { method: "arring", command: "ARRING", call: (r, k) => r.arring(k, 2, "v") },
  { method: "arscan", command: "ARSCAN", call: (r, k) => r.arscan(k, 0, 1) },
  { method: "arseek", command: "ARSEEK", call: (r, k) => r.arseek(k, 0) },
  { method: "arset", command: "ARSET", call: (r, k) => r.arset(k, 0, "v") },
];

const JSON_MODULE: MissingCommand[] = [
  {
    method: "json.arrappend",
    command: "JSON.ARRAPPEND",
    call: (r, k) => r.json.arrappend(k, "$", 1),
  },
  { method: "json.arrindex", command: "JSON.ARRINDEX", call: (r, k) => r.json.arrindex(k, "$", 1) },
  {
    method: "json.arrinsert",
    command: "JSON.ARRINSERT",
    call: (r, k) => r.json.arrinsert(k, "$", 0, 1),
  },
  { method: "json.arrlen", command: "JSON.ARRLEN", call: (r, k) => r.json.arrlen(k) },
  { method: "json.arrpop", command: "JSON.ARRPOP", call: (r, k) => r.json.arrpop(k) },
  { method: "json.arrtrim", command: "JSON.ARRTRIM", call: (r, k) => r.json.arrtrim(k, "$", 0, 1) },
  { method: "json.clear", command: "JSON.CLEAR", call: (r, k) => r.json.clear(k) },
  { method: "json.del", command: "JSON.DEL", call: (r, k) => r.json.del(k) },
  { method: "json.forget", command: "JSON.FORGET", call: (r, k) => r.json.forget(k) },
  { method: "json.get", command: "JSON.GET", call: (r, k) => r.json.get(k) },
  { method: "json.merge", command: "JSON.MERGE", call: (r, k) => r.json.merge(k, "$", { a: 1 }) },
  { method: "json.mget", command: "JSON.MGET", call: (r, k) => r.json.mget([k], "$") },
  {
    method: "json.mset",
    command: "JSON.MSET",
    call: (r, k) => r.json.mset({ key: k, path: "$", value: { a: true } }),
  },
  {
    method: "json.numincrby",
    command: "JSON.NUMINCRBY",
    call: (r, k) => r.json.numincrby(k, "$.n", 1),
  },
  {
    method: "json.nummultby",
    command: "JSON.NUMMULTBY",
    call: (r, k) => r.json.nummultby(k, "$.n", 2),
  },
  { method: "json.objkeys", command: "JSON.OBJKEYS", call: (r, k) => r.json.objkeys(k) },
  { method: "json.objlen", command: "JSON.OBJLEN", call: (r, k) => r.json.objlen(k) },
  { method: "json.resp", command: "JSON.RESP", call: (r, k) => r.json.resp(k) },
  {
    method: "json.set",
    command: "JSON.SET",
    call: (r, k) => r.json.set(k, "$", { s: "x", n: 1, b: false, a: [null] }),
  },
  {
    method: "json.strappend",
    command: "JSON.STRAPPEND",
    call: (r, k) => r.json.strappend(k, "$.s", '"y"'),
  },
  { method: "json.strlen", command: "JSON.STRLEN", call: (r, k) => r.json.strlen(k) },
  { method: "json.toggle", command: "JSON.TOGGLE", call: (r, k) => r.json.toggle(k, "$.b") },
  { method: "json.type", command: "JSON.TYPE", call: (r, k) => r.json.type(k) },
];

const SEARCH_AND_VECTOR: MissingCommand[] = [
  {
    method: "search.createIndex",
    command: "SEARCH.CREATE",
    call: (r, k) =>
      r.search.createIndex(
        { name: k, dataType: "string", prefix: k, schema: { title: "TEXT" } } as Loose,
      ),
  },
  {
    method: "search.index",
    command: "SEARCH.DESCRIBE",
    call: (r, k) => r.search.index({ name: k } as Loose).describe(),
  },
  {
    method: "search.alias.list",
    command: "SEARCH.LISTALIASES",
    call: (r) => r.search.alias.list(),
  },
  {
    method: "search.alias.add",
    command: "SEARCH.ALIASADD",
    call: (r, k) => r.search.alias.add({ indexName: k, alias: `${k}:alias` }),
  },
  {
    method: "search.alias.delete",
    command: "SEARCH.ALIASDEL",
    call: (r, k) => r.search.alias.delete({ alias: `${k}:alias` }),
  },
  {
    method: "vector.createIndex",
    command: "VECTOR.CREATE",
    call: (r, k) => r.vector.createIndex({ name: k, dimension: 3, metric: "COSINE" } as Loose),
  },
  { method: "vector.index", command: "VECTOR.COUNT", call: (r, k) => r.vector.index(k).count() },
];

/** Every SDK method whose command Redis 7.0 lacks. */
export const NOT_IN_REDIS_7_0: readonly MissingCommand[] = [
  ...FIELD_TTL,
  ...REDIS_8,
  ...UPSTASH_ARRAYS,
  ...JSON_MODULE,
  ...SEARCH_AND_VECTOR,
];
