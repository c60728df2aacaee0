/**
 * Kiln: background jobs, scheduling, authenticated realtime channels and
 * resumable uploads for Deno, Bun, Node and Cloudflare Workers, on Redis over
 * HTTP or in memory.
 *
 * Each module has its own entry point too (`@kiln/core/redis`,
 * `@kiln/core/errors`, …), which keeps bundles small.
 *
 * @example Importing from the barrel
 * ```ts
 * import { KilnError, Keyspace } from "@kiln/core";
 *
 * console.log(new Keyspace("mail").key("ready"), KilnError.name);
 * ```
 *
 * @module
 */
export * from "./src/errors.ts";
export * from "./src/redis/mod.ts";
export * from "./src/queue/mod.ts";
export * from "./src/scheduler/mod.ts";
export * from "./src/realtime/mod.ts";
export * from "./src/upload/mod.ts";
