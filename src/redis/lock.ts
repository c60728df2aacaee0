/**
 * Locks with a time to live, held by a token: the building block for the
 * scheduler's mutex, one-server runs and per-upload locks.
 *
 * A lock always expires, so a crashed holder never blocks others for good,
 * and only the token that holds a lock can extend or release it.
 *
 * @module
 */
import {
  acquireLock as acquireSource,
  extendLock as extendSource,
  releaseLock as releaseSource,
} from "./_scripts.ts";
import { defineScript, type ScriptRunner } from "./script.ts";

const acquireScript = defineScript(acquireSource);
const extendScript = defineScript(extendSource);
const releaseScript = defineScript(releaseSource);

/**
 * Takes a lock for `token`, or renews it if `token` already holds it.
 *
 * @param runner The script runner of the Redis holding the lock.
 * @param key The lock's key (build it with {@linkcode import("./keys.ts").Keyspace}).
 * @param token A value unique to this holder, such as `crypto.randomUUID()`.
 * @param ttl How long the lock lives unless extended, in milliseconds.
 * @returns `true` when `token` now holds the lock.
 * @throws {RangeError} When `ttl` is not a positive integer.
 *
 * @example Holding a lock around some work
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { acquireLock, releaseLock, ScriptRunner, UpstashRedis } from "@kiln/core/redis";
 * import assert from "node:assert/strict";
 *
 * // UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN name Upstash or Kiln's gateway.
 * const runner = new ScriptRunner(UpstashRedis.fromClient(Redis.fromEnv()));
 * const key = `kiln:{app}:lock:report:${crypto.randomUUID()}`;
 * const token = crypto.randomUUID();
 * if (await acquireLock(runner, key, token, 30_000)) {
 *   try {
 *     // Nobody else holds it meanwhile.
 *     assert.equal(await acquireLock(runner, key, "someone-else", 30_000), false);
 *   } finally {
 *     await releaseLock(runner, key, token);
 *   }
 * }
 * assert.equal(await acquireLock(runner, key, "someone-else", 30_000), true);
 * await releaseLock(runner, key, "someone-else");
 * ```
 */
export async function acquireLock(
  runner: ScriptRunner,
  key: string,
  token: string,
  ttl: number,
): Promise<boolean> {
  return await runWithTtl(runner, acquireScript, key, token, ttl);
}

/**
 * Extends a lock's time to live, only if `token` still holds it.
 *
 * @param runner The script runner of the Redis holding the lock.
 * @param key The lock's key.
 * @param token The holder's token.
 * @param ttl The new time to live, in milliseconds.
 * @returns `true` when extended; `false` when the lock was lost.
 * @throws {RangeError} When `ttl` is not a positive integer.
 *
 * @example Extending a lock while work goes on
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { acquireLock, extendLock, releaseLock, ScriptRunner, UpstashRedis } from "@kiln/core/redis";
 * import assert from "node:assert/strict";
 *
 * const runner = new ScriptRunner(UpstashRedis.fromClient(Redis.fromEnv()));
 * const key = `kiln:{app}:lock:export:${crypto.randomUUID()}`;
 * await acquireLock(runner, key, "my-token", 5_000);
 * assert.equal(await extendLock(runner, key, "my-token", 30_000), true);
 * assert.equal(await extendLock(runner, key, "not-the-holder", 30_000), false);
 * await releaseLock(runner, key, "my-token");
 * ```
 */
export async function extendLock(
  runner: ScriptRunner,
  key: string,
  token: string,
  ttl: number,
): Promise<boolean> {
  return await runWithTtl(runner, extendScript, key, token, ttl);
}

/**
 * Releases a lock, only if `token` holds it.
 *
 * @param runner The script runner of the Redis holding the lock.
 * @param key The lock's key.
 * @param token The holder's token.
 * @returns `true` when released; `false` when `token` did not hold it.
 *
 * @example Releasing a lock
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { acquireLock, releaseLock, ScriptRunner, UpstashRedis } from "@kiln/core/redis";
 * import assert from "node:assert/strict";
 *
 * const runner = new ScriptRunner(UpstashRedis.fromClient(Redis.fromEnv()));
 * const key = `kiln:{app}:lock:import:${crypto.randomUUID()}`;
 * await acquireLock(runner, key, "my-token", 30_000);
 * assert.equal(await releaseLock(runner, key, "another-token"), false);
 * assert.equal(await releaseLock(runner, key, "my-token"), true);
 * ```
 */
export async function releaseLock(
  runner: ScriptRunner,
  key: string,
  token: string,
): Promise<boolean> {
  return (await runner.run(releaseScript, [key], [token])) === 1;
}

/** Runs a lock script that sets a time to live, once `ttl` is checked. */
async function runWithTtl(
  runner: ScriptRunner,
  script: typeof acquireScript,
  key: string,
  token: string,
  ttl: number,
): Promise<boolean> {
  if (!Number.isInteger(ttl) || ttl <= 0) {
    throw new RangeError(
      `Lock time to live must be a positive integer of milliseconds, got ${ttl}`,
    );
  }
  return (await runner.run(script, [key], [token, ttl])) === 1;
}
