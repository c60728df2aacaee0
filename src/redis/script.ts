/**
 * Runs Kiln's Lua scripts: EVALSHA first, EVAL when Redis answers `NOSCRIPT`,
 * and SCRIPT LOAD then EVALSHA when that EVAL is too large for the endpoint.
 * A script's reply is returned as Redis sent it; each caller reads it strictly
 * (a reply of the wrong shape is a `REDIS_UNEXPECTED_REPLY`).
 *
 * @module
 */
import { RedisError } from "../errors.ts";
import type { RedisArg, RedisLike, RedisReply } from "./redis_like.ts";

/**
 * A Lua script as generated into a `_scripts.ts` file from its `.lua` source.
 * The source starts with a comment naming the script and Kiln's version, so
 * two versions of one script never share a SHA-1 on one Redis.
 */
export interface ScriptSource {
  /** The script's name, from its file name (`releaseLock-1.lua` → `releaseLock`). */
  readonly name: string;
  /** How many KEYS the script takes, from its file name. */
  readonly numberOfKeys: number;
  /** The Lua text. */
  readonly source: string;
}

/** A script ready for {@linkcode ScriptRunner.run}, as {@linkcode defineScript} returns it. */
export type Script = Readonly<ScriptSource>;

/**
 * Checks a generated script source once, where it is declared, so a wrong
 * key count is caught at import rather than on the first run.
 *
 * @param source The generated script source.
 * @returns The script, ready for {@linkcode ScriptRunner.run}.
 * @throws {TypeError} When the name is empty or the source is not a string.
 * @throws {RangeError} When `numberOfKeys` is not a non-negative integer.
 *
 * @example Defining a script
 * ```ts
 * import { defineScript } from "@kiln/core/redis";
 * import assert from "node:assert/strict";
 *
 * const script = defineScript({ name: "echo", numberOfKeys: 0, source: "return ARGV[1]" });
 * assert.equal(script.name, "echo");
 * assert.throws(() => defineScript({ ...script, numberOfKeys: -1 }), RangeError);
 * ```
 */
export function defineScript(source: ScriptSource): Script {
  if (typeof source?.name !== "string" || source.name === "" || typeof source.source !== "string") {
    throw new TypeError("A script needs a non-empty name and its Lua source");
  }
  if (!Number.isInteger(source.numberOfKeys) || source.numberOfKeys < 0) {
    throw new RangeError(
      `Script ${source.name}: numberOfKeys must be a non-negative integer, got ${source.numberOfKeys}`,
    );
  }
  return Object.freeze({
    name: source.name,
    numberOfKeys: source.numberOfKeys,
    source: source.source,
  });
}

/** Options for {@linkcode ScriptRunner}. */
export interface ScriptRunnerOptions {
  /**
   * Prefix scripts with Upstash's `#!lua flags=allow-key-locking` shebang, so
   * Upstash locks only the keys a script names instead of the whole database.
   * A plain `redis-server` rejects the flag, so leave this off there.
   * @default false
   */
  allowKeyLocking?: boolean;
}

/**
 * Runs scripts on one Redis, caching each script's SHA-1.
 *
 * @example Running a script
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { defineScript, ScriptRunner, UpstashRedis } from "@kiln/core/redis";
 * import assert from "node:assert/strict";
 *
 * const runner = new ScriptRunner(UpstashRedis.fromClient(Redis.fromEnv()));
 * const echo = defineScript({ name: "echo", numberOfKeys: 0, source: "return ARGV[1]" });
 * assert.equal(await runner.run(echo, [], ["hello"]), "hello");
 * ```
 */
export class ScriptRunner {
  /** The Redis the scripts run on. */
  readonly redis: RedisLike;
  #allowKeyLocking: boolean;
  /**
   * Each script's text and SHA-1, keyed by the script object: keying by its text
   * hashed the whole source (tens of KB with includes) on every run.
   */
  #loaded = new WeakMap<Script, { text: string; sha1: Promise<string> }>();

  /**
   * Creates a runner for one Redis.
   *
   * @param redis The Redis to run on.
   * @param options Upstash key-locking.
   */
  constructor(redis: RedisLike, options: ScriptRunnerOptions = {}) {
    this.redis = redis;
    this.#allowKeyLocking = options.allowKeyLocking ?? false;
  }

  /**
   * Runs a script, sending only its SHA-1 when Redis already has it.
   *
   * @param script The script.
   * @param keys Exactly `script.numberOfKeys` keys; every key the script touches.
   * @param args The script's ARGV.
   * @returns The script's reply.
   * @throws {RangeError} When the number of keys is wrong.
   * @throws {RedisError} When Redis is unreachable or the script fails.
   */
  async run(
    script: Script,
    keys: readonly string[],
    args: readonly RedisArg[],
  ): Promise<RedisReply> {
    if (keys.length !== script.numberOfKeys) {
      throw new RangeError(
        `Script ${script.name} takes ${script.numberOfKeys} keys, got ${keys.length}`,
      );
    }
    const { text, sha1 } = this.#prepare(script);
    try {
      return await this.redis.evalsha(await sha1, keys, args);
    } catch (error) {
      if (!(error instanceof RedisError) || !error.message.startsWith("NOSCRIPT")) throw error;
    }
    // A restarted or flushed Redis forgot the script: send the text, which caches it again.
    try {
      return await this.redis.eval(text, keys, args);
    } catch (error) {
      if (!(error instanceof RedisError) || error.code !== "REDIS_REQUEST_TOO_LARGE") throw error;
    }
    // The endpoint refused the text and the arguments together (nothing ran), though each
    // fits alone: a 44 KB fail script beside a job's 25 KB error report is over a 64 KiB
    // body limit, so the failure was never recorded. Load the text in a request of its own.
    const [loaded] = await this.redis.pipeline([["SCRIPT", "LOAD", text]]);
    if (!loaded.ok) throw new RedisError("REDIS_COMMAND_FAILED", loaded.error);
    return await this.redis.evalsha(await sha1, keys, args);
  }

  #prepare(script: Script): { text: string; sha1: Promise<string> } {
    let entry = this.#loaded.get(script);
    if (!entry) {
      const text = this.#allowKeyLocking
        ? `#!lua flags=allow-key-locking\n${script.source}`
        : script.source;
      entry = { text, sha1: sha1Hex(text) };
      this.#loaded.set(script, entry);
    }
    return entry;
  }
}

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
