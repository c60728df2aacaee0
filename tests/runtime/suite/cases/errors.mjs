/**
 * Cases for `@kiln/core/errors`: every runtime must see the same stable codes,
 * class names and causes, and one class identity across entry points.
 *
 * @module
 */
import * as core from "@kiln/core";
import { KilnError, RedisError } from "@kiln/core/errors";
import * as assert from "./_assert.mjs";

/** The suite's name, printed by every runner. */
export const name = "errors";

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "KilnError carries its code, its class name and the cause",
    run() {
      const cause = new Error("socket closed");
      const error = new KilnError("REDIS_UNAVAILABLE", "Redis did not answer", { cause });
      assert.ok(error instanceof Error);
      assert.equal(error.name, "KilnError");
      assert.equal(error.code, "REDIS_UNAVAILABLE");
      assert.equal(error.message, "Redis did not answer");
      assert.equal(error.cause, cause);
      assert.ok(!("cause" in new KilnError("REDIS_UNAVAILABLE", "x")), "no cause unless given");
    },
  },
  {
    name: "subclasses take their name from the class and stay KilnErrors",
    run() {
      const redis = new RedisError("REDIS_COMMAND_FAILED", "WRONGTYPE");
      assert.equal(redis.name, "RedisError");
      assert.ok(redis instanceof KilnError);
    },
  },
  {
    name: "the barrel and the subpath export the same classes",
    run() {
      // Two copies of a class would make `instanceof KilnError` fail for callers
      // who import from `@kiln/core` while Kiln threw from `@kiln/core/errors`.
      assert.equal(core.KilnError, KilnError);
      assert.equal(core.RedisError, RedisError);
    },
  },
];
