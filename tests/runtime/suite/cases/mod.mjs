/**
 * The conformance suites every runtime runs: Node and Bun through their test
 * runners (`../conformance.test.mjs`), workerd through a bundled worker
 * (`../workerd/worker.mjs`). Add a module's cases by writing `cases/<module>.mjs`
 * (see README.md) and listing it below; nothing else changes.
 *
 * @module
 */
import * as errors from "./errors.mjs";
import * as queue from "./queue.mjs";
import * as realtime from "./realtime.mjs";
import * as redis from "./redis.mjs";
import * as scheduler from "./scheduler.mjs";
import * as upload from "./upload.mjs";

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
 * @property {string} name A sentence about the behaviour.
 * @property {(ctx: CaseContext) => void | Promise<void>} run
 */

/**
 * Every suite, in the order they run.
 *
 * @type {{ name: string; cases: Case[] }[]}
 */
export const suites = [errors, redis, queue, scheduler, upload, realtime];
