/**
 * Kiln: background jobs, scheduling, authenticated realtime channels and
 * resumable uploads for Deno, Bun, Node and Cloudflare Workers, on Redis over
 * HTTP or in memory.
 *
 * The root holds what an application uses from the four modules. Each module
 * also has its own entry point (`@kiln/core/queue`, …), which keeps bundles
 * small; errors come from `@kiln/core/errors`, the Redis layer from
 * `@kiln/core/redis`, the upload client from `@kiln/core/upload/client`, and
 * the contracts adapter authors implement from `@kiln/core/queue/backend`,
 * `@kiln/core/realtime/transport` and `@kiln/core/upload/store`.
 *
 * @example Importing from the root
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core";
 * import assert from "node:assert/strict";
 *
 * const greet = defineJob({
 *   name: "greet",
 *   schema: v.object({ name: v.string() }),
 *   async handle(payload) {
 *     greeted.push(payload.name);
 *   },
 * });
 * const greeted: string[] = [];
 * const queue = new Queue({ backend: new MemoryBackend() });
 * await queue.dispatch(greet, { name: "Ada" });
 * await new Worker(queue, { jobs: [greet] }).drain({ maxJobs: 10 });
 * assert.deepEqual(greeted, ["Ada"]);
 * ```
 *
 * @module
 */
export * from "./src/queue/mod.ts";
export * from "./src/scheduler/mod.ts";
export * from "./src/realtime/mod.ts";
export * from "./src/upload/mod.ts";
