/**
 * A dashboard for Kiln's queues, schedules, channels and uploads, with a JSON
 * API: a Hono app to mount in your own, on Deno, Bun, Node or Cloudflare
 * Workers. Pages are rendered on the server, with no build step and no CDN;
 * every request is refused unless `authorize` allows it.
 *
 * @example Showing a queue to local visitors on Deno
 * ```ts
 * import { Hono } from "hono";
 * import { getConnInfo } from "hono/deno";
 * import { MemoryBackend, Queue } from "@kiln/core/queue";
 * import { dashboard } from "@kiln/core/dashboard";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const app = new Hono().route("/kiln", dashboard({ queue, authorize: "local-only", getConnInfo }));
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/kiln/api/queues`);
 * assert.deepEqual(await response.json(), { queues: [] });
 * await server.shutdown();
 * ```
 *
 * @module
 */
export { dashboard, type DashboardAuthorize, type DashboardOptions } from "./dashboard.ts";
export {
  UploadActivity,
  type UploadActivityEntry,
  type UploadActivityOptions,
} from "./upload_activity.ts";
export type { ChannelSummary, DashboardHub } from "./_realtime_activity.ts";
export type { DashboardQueue, DashboardScheduler } from "./sources.ts";
