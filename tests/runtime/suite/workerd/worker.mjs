/**
 * A module worker that runs every conformance case inside workerd and answers
 * with the outcomes as JSON. `workerd.test.mjs` bundles it with esbuild (so
 * `@kiln/core` is resolved by name, as a Workers user's bundler would) and
 * turns each outcome into a `node:test` test.
 *
 * It also has a `scheduled` handler built with Kiln's Cloudflare adapter, as
 * a user's Worker with a cron trigger would: the runner delivers scheduled
 * events through Miniflare, and reads what ran from `GET /scheduled-runs`.
 *
 * @module
 */
import { Redis } from "@upstash/redis/cloudflare";
import { Keyspace } from "@kiln/core/redis";
import { cloudflareScheduled, RedisHistory, RedisMutex, Scheduler } from "@kiln/core/scheduler";
import { runsOn, suites } from "../cases/mod.mjs";
import { route as routeHttp, serveOver } from "../http/workerd.mjs";
import { route, webSocketHelpers } from "../websockets/workerd.mjs";

// The Durable Object that hosts WebSocket servers (see ../websockets/workerd.mjs).
export { KilnWebSockets } from "../websockets/workerd.mjs";

/** The task the `scheduled` handler runs, every five minutes, on one server. */
const SCHEDULED_TASK = "tick-mode";

/**
 * @typedef {object} Env
 * @property {string} KILN_REDIS_URL
 * @property {string} KILN_REDIS_TOKEN
 * @property {string} KILN_SCHEDULED_NAMESPACE Where the scheduled task keeps its
 *   claims, history and the list of runs; unique per run of the suite.
 * @property {DurableObjectNamespace} KILN_WS The realtime cases' WebSocket servers.
 * @property {string} KILN_DROP_CASE Cases (`<suite> › <name>`, one per line) to leave out,
 *   set only by `run.ts --self-check` to prove that a missing case fails the count.
 */

/** @param {Env} env */
function scheduledState(env) {
  const redis = new Redis({
    url: env.KILN_REDIS_URL,
    token: env.KILN_REDIS_TOKEN,
  });
  const namespace = env.KILN_SCHEDULED_NAMESPACE;
  const keys = new Keyspace(namespace);
  return { redis, namespace, keys, runsKey: keys.key("test", "runs") };
}

// Built once per env by the adapter. The claims live in Redis, so a delivery
// repeated in a fresh isolate (which has lost this scheduler's memory) runs nothing either.
const scheduled = cloudflareScheduled((/** @type {Env} */ env) => {
  const { redis, namespace, runsKey } = scheduledState(env);
  const scheduler = new Scheduler({
    mutex: new RedisMutex({ redis, prefix: namespace }),
    history: new RedisHistory({ redis, prefix: namespace }),
    window: 60_000, // the cron trigger's interval
  });
  scheduler.call(SCHEDULED_TASK, async ({ scheduledAt }) => {
    await redis.rpush(runsKey, scheduledAt.toISOString());
  }).everyFiveMinutes().onOneServer();
  return scheduler;
});

/** This isolate's id, so the runner can tell that a reload gave it a fresh one. */
let isolate;

export default {
  scheduled,

  /**
   * @param {Request} request
   * @param {Env} env
   */
  async fetch(request, env, executionContext) {
    // A realtime case's WebSocket client dialling this worker (../websockets/workerd.mjs).
    const routed = route(request, env);
    if (routed) return await routed;
    // A case's HTTP client calling the app it serves (../http/workerd.mjs).
    const served = routeHttp(request, env, executionContext);
    if (served) return await served;
    const { pathname } = new URL(request.url);
    if (pathname === "/isolate") {
      // Lazily: workerd forbids random values at the top level.
      isolate ??= crypto.randomUUID();
      return new Response(isolate);
    }
    if (pathname === "/scheduled-runs") {
      // What the scheduled task did, read back and then removed.
      const { redis, namespace, keys, runsKey } = scheduledState(env);
      const history = new RedisHistory({ redis, prefix: namespace });
      const runs = await redis.lrange(runsKey, 0, -1);
      const records = await history.list(SCHEDULED_TASK);
      await redis.del(runsKey, keys.key("history", SCHEDULED_TASK));
      return Response.json({ runs, history: records });
    }
    const origin = request.headers.get("x-kiln-origin");
    /** @type {import("../cases/mod.mjs").CaseContext} */
    const ctx = {
      runtime: "workerd",
      redisUrl: env.KILN_REDIS_URL,
      redisToken: env.KILN_REDIS_TOKEN,
      namespace: `runtime-workerd-${Date.now().toString(36)}`,
      Redis,
      // Miniflare's own URL, sent by workerd.test.mjs: the worker cannot know it otherwise.
      ...webSocketHelpers(env, origin),
      serve: serveOver(origin),
      tempDirectory: undefined, // no file system in a Worker
    };
    const results = [];
    // One after another, like the other runners, so cases never race on shared state.
    for (const suite of suites) {
      for (const declared of suite.cases) {
        const { name, run } = declared;
        // Declared for other runtimes only: run.ts lists it as excluded, with the reason.
        if (!runsOn(declared, "workerd")) continue;
        if (env.KILN_DROP_CASE.split("\n").includes(`${suite.name} › ${name}`)) continue;
        const started = Date.now();
        try {
          await run(ctx);
          results.push({
            suite: suite.name,
            name,
            ok: true,
            ms: Date.now() - started,
          });
        } catch (error) {
          const message = error instanceof Error
            ? `${error.name}: ${error.message}`
            : String(error);
          // The stack is workerd's, pointing into the bundle: still the best lead to the line.
          const stack = error instanceof Error ? error.stack : undefined;
          results.push({
            suite: suite.name,
            name,
            ok: false,
            error: message,
            stack,
            ms: Date.now() - started,
          });
        }
      }
    }
    return Response.json({ runtime: navigator.userAgent, results });
  },
};
