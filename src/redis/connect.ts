/**
 * Accepts whatever Redis handle a user passes to a Kiln module and returns
 * the {@linkcode RedisLike} port, so every module takes `{ redis }` the same way.
 *
 * @module
 */
import type { RedisLike } from "./redis_like.ts";
import { UpstashRedis } from "./upstash_redis.ts";
import { isUpstashClient } from "./_upstash_endpoint.ts";

/**
 * A Redis handle Kiln accepts: an `@upstash/redis` `Redis` instance, or any
 * implementation of the {@linkcode RedisLike} port.
 */
export type RedisInput = RedisLike | object;

/**
 * Turns a user's Redis handle into the {@linkcode RedisLike} port.
 *
 * @param redis An `@upstash/redis` `Redis`, or a {@linkcode RedisLike}.
 * @returns The port.
 * @throws {TypeError} When `redis` is neither, or is an `@upstash/redis` client
 * without a url or token.
 *
 * @example Accepting an `@upstash/redis` client
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { toRedisLike, UpstashRedis } from "@kiln/core/redis";
 * import assert from "node:assert/strict";
 *
 * const port = toRedisLike(new Redis({ url: "http://127.0.0.1:8079", token: "dev" }));
 * assert.ok(port instanceof UpstashRedis);
 * ```
 */
export function toRedisLike(redis: RedisInput): RedisLike {
  if (redis instanceof UpstashRedis) return redis;
  if (isUpstashClient(redis)) return UpstashRedis.fromClient(redis);
  if (isRedisLike(redis)) return redis;
  throw new TypeError("redis must be an @upstash/redis Redis instance or a RedisLike");
}

function isRedisLike(value: object): value is RedisLike {
  const port = value as Partial<Record<keyof RedisLike, unknown>>;
  return ["eval", "evalsha", "get", "set", "del", "publish", "subscribe", "pipeline"]
    .every((method) => typeof port[method as keyof RedisLike] === "function");
}
