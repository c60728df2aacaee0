/**
 * What every Redis-backed store of a module (a scheduler's mutex and history,
 * upload state, …) builds from its `{ redis, prefix, allowKeyLocking }`
 * options: the port, a script runner and the module's keyspace, made once
 * here so each store validates its options the same way.
 *
 * @module
 */
import { type RedisInput, toRedisLike } from "./connect.ts";
import { Keyspace } from "./keys.ts";
import type { RedisLike } from "./redis_like.ts";
import { ScriptRunner, type ScriptRunnerOptions } from "./script.ts";

/** The options every Redis-backed store takes. */
export interface RedisStoreOptions extends ScriptRunnerOptions {
  /** An `@upstash/redis` `Redis` instance, or any `RedisLike`. */
  redis: RedisInput;
  /** The first part of every key. @default "kiln" */
  prefix?: string;
}

/** A store's handle on Redis. */
export interface RedisStore {
  readonly redis: RedisLike;
  readonly runner: ScriptRunner;
  /** The module's keys: `<prefix>:{<module>}:…`. */
  readonly keys: Keyspace;
}

/**
 * Builds a store's handle on Redis.
 *
 * @param module The hash-tagged namespace of the module's keys, such as `scheduler`.
 * @param options The store's options.
 * @throws {TypeError} When `redis` is not a Redis handle or the prefix is invalid.
 */
export function openRedisStore(module: string, options: RedisStoreOptions): RedisStore {
  const redis = toRedisLike(options?.redis);
  return {
    redis,
    runner: new ScriptRunner(redis, options),
    keys: new Keyspace(module, options.prefix),
  };
}
