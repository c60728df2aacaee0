/**
 * Cases for `@kiln/core/errors`: every runtime must see the same stable codes,
 * class names and causes, and one class identity across entry points.
 *
 * @module
 */
import * as v from "valibot";
import * as core from "@kiln/core";
import * as queueEntry from "@kiln/core/queue";
import { KilnError, PayloadTooLargeError, RedisError } from "@kiln/core/errors";
import * as assert from "./_assert.mjs";

/** The suite's name, printed by every runner. */
export const name = "errors";

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "KilnError carries its code, its class name and the cause",
    run() {
      const cause = new Error("socket closed");
      const error = new KilnError("REDIS_UNAVAILABLE", "Redis did not answer", {
        cause,
      });
      assert.ok(error instanceof Error);
      assert.equal(error.name, "KilnError");
      assert.equal(error.code, "REDIS_UNAVAILABLE");
      assert.equal(error.message, "Redis did not answer");
      assert.equal(error.cause, cause);
      assert.ok(
        !("cause" in new KilnError("REDIS_UNAVAILABLE", "x")),
        "no cause unless given",
      );
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
    name:
      "errors a module throws are the classes @kiln/core/errors exports, and only it exports them",
    async run() {
      // One class identity: `instanceof` must hold for what the root's Queue throws.
      const note = core.defineJob({
        name: "note",
        schema: v.string(),
        async handle() {},
      });
      const queue = new core.Queue({
        backend: new core.MemoryBackend(),
        maxPayloadBytes: 16,
      });
      let thrown;
      try {
        await queue.dispatch(note, "x".repeat(64));
      } catch (error) {
        thrown = error;
      }
      assert.ok(thrown instanceof PayloadTooLargeError, `threw ${thrown}`);
      assert.ok(thrown instanceof KilnError);
      assert.equal(thrown.code, "QUEUE_PAYLOAD_TOO_LARGE");
      // One place to import from: neither the root nor a module entry repeats them.
      for (const entry of [core, queueEntry]) {
        assert.equal(entry.KilnError, undefined);
        assert.equal(entry.RedisError, undefined);
        assert.equal(entry.PayloadTooLargeError, undefined);
      }
      assert.ok(
        new RedisError("REDIS_UNAVAILABLE", "down") instanceof KilnError,
      );
    },
  },
];
