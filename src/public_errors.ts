/**
 * Every error Kiln throws for a condition a caller may handle, from one entry
 * point (`@kiln/core/errors`): the base {@linkcode KilnError} with its stable
 * codes, and each module's subclasses. Module entry points do not export them
 * again, so there is one place to import an error from.
 *
 * Plain programming mistakes (a bad argument) throw `TypeError` or
 * `RangeError` instead.
 *
 * @example Telling a refused payload from an outage
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
 * import { KilnError, PayloadTooLargeError } from "@kiln/core/errors";
 * import assert from "node:assert/strict";
 *
 * const note = defineJob({
 *   name: "note",
 *   schema: v.object({ text: v.string() }),
 *   async handle() {},
 * });
 * const queue = new Queue({ backend: new MemoryBackend(), maxPayloadBytes: 64 });
 * try {
 *   await queue.dispatch(note, { text: "x".repeat(100) });
 *   assert.fail("a 100-character note is over 64 bytes");
 * } catch (error) {
 *   assert.ok(error instanceof PayloadTooLargeError);
 *   assert.ok(error instanceof KilnError);
 *   assert.equal(error.code, "QUEUE_PAYLOAD_TOO_LARGE");
 * }
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./queue/errors.ts";
export * from "./scheduler/errors.ts";
export * from "./realtime/errors.ts";
export * from "./upload/errors.ts";
