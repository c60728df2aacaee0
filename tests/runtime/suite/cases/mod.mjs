/**
 * The conformance suites every runtime runs: Node and Bun through their test
 * runners (`../conformance.test.mjs`), workerd through a bundled worker
 * (`../workerd/worker.mjs`). Add a module's cases by writing `cases/<module>.mjs`
 * (see README.md) and listing it below; nothing else changes.
 *
 * This list is also what `run.ts` counts against (`../expected.mjs`): every case
 * a runtime should run, minus the ones a case declares it cannot (`runtimes`),
 * plus the runners' own cases (`./host_cases.mjs`). A case that never reports
 * fails its runtime, whatever the runner itself believed it ran.
 *
 * @module
 */
import * as dashboard from "./dashboard.mjs";
import * as errors from "./errors.mjs";
import * as fileStore from "./file_store.mjs";
import { hostCases } from "./host_cases.mjs";
import * as pusher from "./pusher.mjs";
import * as queue from "./queue.mjs";
import * as realtime from "./realtime.mjs";
import * as realtimeRedis from "./realtime_redis.mjs";
import * as redis from "./redis.mjs";
import * as scheduler from "./scheduler.mjs";
import * as traces from "./traces.mjs";
import * as upload from "./upload.mjs";
import * as uploadHttp from "./upload_http.mjs";
import * as uploadS3 from "./upload_s3.mjs";
import * as workflows from "./workflows.mjs";

export { hostCases };

/**
 * What each case receives.
 *
 * @typedef {object} CaseContext
 * @property {"node" | "bun" | "workerd"} runtime The runtime running the case.
 * @property {string} redisUrl The Upstash-REST gateway URL (`KILN_REDIS_URL`).
 * @property {string} redisToken Its bearer token (`KILN_REDIS_TOKEN`).
 * @property {string} namespace A namespace unique to this run and runtime: build keys
 *   with `new Keyspace(ctx.namespace)` so runs never see each other's data.
 * @property {new (config: { url: string; token: string }) => object} Redis The
 *   `@upstash/redis` `Redis` class of the runtime's own entry point.
 * @property {(setup: WebSocketSetup) => Promise<WebSocketServer>} serveWebSockets Starts a
 *   real server with the runtime's Hono WebSocket helper (`@hono/node-ws`, `hono/bun`,
 *   `hono/cloudflare-workers` inside a Durable Object), calls `setup` to add routes, and
 *   listens on a free port; see `../websockets/`.
 * @property {typeof WebSocket} WebSocket A WebSocket client (`ws` on Node 20, else the global).
 * @property {(url: string, headers: Record<string, string>) => Promise<{ status: number; headers: Headers }>} handshake
 *   Sends a raw WebSocket upgrade request and returns the response head: what a refused
 *   upgrade answered, which no WebSocket client shows.
 * @property {(setup: HttpSetup, options?: { hostname?: string }) => Promise<HttpServer>} serve Serves a Hono app over real
 *   HTTP the way each runtime deploys one: `@hono/node-server` on Node, `Bun.serve` on
 *   Bun, the worker's own `fetch` handler in workerd (reached through Miniflare's port);
 *   see `../http/`. On Node and Bun,
 *   `{ hostname: "0.0.0.0" }` listens on every interface (the URL stays 127.0.0.1).
 * @property {(() => Promise<TempDirectory>) | undefined} tempDirectory A fresh directory
 *   on disk (Node and Bun only: workerd has no file system).
 */

/**
 * Adds a case's routes to a plain HTTP server's Hono `app`. In workerd the app has a
 * base path (the worker serves every case's app under its own prefix), so register
 * routes on `app` and build URLs from the server's `url`, never from `/`.
 *
 * @callback HttpSetup
 * @param {{ app: import("hono").Hono }} server
 * @returns {void | (() => unknown) | Promise<void | (() => unknown)>}
 */

/**
 * A running HTTP server.
 *
 * @typedef {object} HttpServer
 * @property {string} url Its base URL (no trailing slash).
 * @property {() => Promise<void>} close Runs the setup's release, then stops serving.
 */

/**
 * A temporary directory.
 *
 * @typedef {object} TempDirectory
 * @property {string} path Its absolute path.
 * @property {() => Promise<void>} remove Deletes it and everything in it.
 */

/**
 * Adds a case's routes to the server's Hono `app`, using `upgradeWebSocket`; what it
 * returns runs when the server closes (in workerd, inside the Durable Object).
 *
 * @callback WebSocketSetup
 * @param {{ app: import("hono").Hono; upgradeWebSocket: import("hono/ws").UpgradeWebSocket }} server
 * @returns {void | (() => unknown) | Promise<void | (() => unknown)>}
 */

/**
 * A running server.
 *
 * @typedef {object} WebSocketServer
 * @property {string} url Its base `http://` URL.
 * @property {() => Promise<void>} close Runs the setup's release, then stops listening.
 */

/**
 * One behaviour, checked the same way in every runtime. `run` throws (or rejects)
 * to fail; use the assertions in `./_assert.mjs`.
 *
 * @typedef {object} Case
 * @property {string} name A sentence about the behaviour, unique within its suite.
 * @property {(ctx: CaseContext) => void | Promise<void>} run
 * @property {Runtime[]} [runtimes] The only runtimes this case runs on; unset means all.
 *   Set it only for what a runtime cannot do (no file system in workerd, say), together
 *   with `because`: the summary prints every exclusion, and it is not counted as run.
 * @property {string} [because] Why the other runtimes are excluded.
 */

/** @typedef {"node" | "bun" | "workerd"} Runtime */

/** Every runtime the suite knows, in the order `run.ts` runs them. */
export const RUNTIMES = /** @type {const} */ (["node", "bun", "workerd"]);

/**
 * Every suite, in the order they run.
 *
 * @type {{ name: string; cases: Case[] }[]}
 */
export const suites = [
  errors,
  redis,
  queue,
  workflows,
  traces,
  scheduler,
  upload,
  uploadHttp,
  uploadS3,
  fileStore,
  realtime,
  realtimeRedis,
  pusher,
  dashboard,
];

/**
 * Whether a case is meant to run on `runtime`.
 *
 * @param {{ runtimes?: readonly string[] }} declared
 * @param {Runtime} runtime
 */
export function runsOn(declared, runtime) {
  return declared.runtimes === undefined || declared.runtimes.includes(runtime);
}
