/**
 * Kiln's Redis layer: the {@linkcode RedisLike} port with its adapter for
 * Redis over HTTP ({@linkcode UpstashRedis}), the key builder, the Lua script
 * runner and token-held locks.
 *
 * @example Connecting to Upstash or to Kiln's gateway
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { UpstashRedis } from "@kiln/core/redis";
 * import assert from "node:assert/strict";
 *
 * // From UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (Upstash, or
 * // `deno task redis:http` in front of your redis-server), or pass them:
 * // new Redis({ url: "http://127.0.0.1:8079", token: "dev-token" })
 * const redis = UpstashRedis.fromClient(Redis.fromEnv());
 * await redis.set("hello", "world", { px: 60_000 });
 * assert.equal(await redis.get("hello"), "world");
 * ```
 *
 * @module
 */
// The port is types only, and every one of them is public.
export type * from "./redis_like.ts";
export { UpstashRedis, type UpstashRedisOptions } from "./upstash_redis.ts";
export { type RedisInput, toRedisLike } from "./connect.ts";
export { Keyspace } from "./keys.ts";
export {
  defineScript,
  type Script,
  ScriptRunner,
  type ScriptRunnerOptions,
  type ScriptSource,
} from "./script.ts";
export { acquireLock, extendLock, releaseLock } from "./lock.ts";
