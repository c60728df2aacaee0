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
 * @param ttlMs How long the lock lives unless extended, in milliseconds.
 * @returns `true` when `token` now holds the lock.
 * @throws {RangeError} When `ttlMs` is not a positive integer.
 *
 * @example Holding a lock around some work
 * ```ts ignore
 * import { acquireLock, releaseLock, ScriptRunner, UpstashRedis } from "@kiln/core/redis";
 *
 * const runner = new ScriptRunner(new UpstashRedis({ url: "http://127.0.0.1:8079", token: "t" }));
 * const token = crypto.randomUUID();
 * if (await acquireLock(runner, "kiln:{app}:lock:report", token, 30_000)) {
 *   try {
 *     // … the work …
 *   } finally {
 *     await releaseLock(runner, "kiln:{app}:lock:report", token);
 *   }
 * }
 * ```
 */
export async function acquireLock(
  runner: ScriptRunner,
  key: string,
  token: string,
  ttlMs: number,
): Promise<boolean> {
  assertTtl(ttlMs);
  return (await runner.run(acquireScript, [key], [token, ttlMs])) === 1;
}

/**
 * Extends a lock's time to live, only if `token` still holds it.
 *
 * @param runner The script runner of the Redis holding the lock.
 * @param key The lock's key.
 * @param token The holder's token.
 * @param ttlMs The new time to live, in milliseconds.
 * @returns `true` when extended; `false` when the lock was lost.
 * @throws {RangeError} When `ttlMs` is not a positive integer.
 *
 * @example Extending a lock while work goes on
 * ```ts ignore
 * import { extendLock, ScriptRunner, UpstashRedis } from "@kiln/core/redis";
 *
 * const runner = new ScriptRunner(new UpstashRedis({ url: "http://127.0.0.1:8079", token: "t" }));
 * const stillHeld = await extendLock(runner, "kiln:{app}:lock:report", "my-token", 30_000);
 * ```
 */
export async function extendLock(
  runner: ScriptRunner,
  key: string,
  token: string,
  ttlMs: number,
): Promise<boolean> {
  assertTtl(ttlMs);
  return (await runner.run(extendScript, [key], [token, ttlMs])) === 1;
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
 * ```ts ignore
 * import { releaseLock, ScriptRunner, UpstashRedis } from "@kiln/core/redis";
 *
 * const runner = new ScriptRunner(new UpstashRedis({ url: "http://127.0.0.1:8079", token: "t" }));
 * await releaseLock(runner, "kiln:{app}:lock:report", "my-token");
 * ```
 */
export async function releaseLock(
  runner: ScriptRunner,
  key: string,
  token: string,
): Promise<boolean> {
  return (await runner.run(releaseScript, [key], [token])) === 1;
}

function assertTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) {
    throw new RangeError(
      `Lock time to live must be a positive integer of milliseconds, got ${ttlMs}`,
    );
  }
}
