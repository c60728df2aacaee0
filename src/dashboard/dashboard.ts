/**
 * `dashboard()`: the Hono app that shows queues, jobs, schedules, channels
 * and uploads, with a JSON API and live updates, for every runtime.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { GetConnInfo } from "hono/conninfo";
import { HTTPException } from "hono/http-exception";
import { html } from "hono/html";
import { type Clock, systemClock } from "../clock.ts";
import { api } from "./_api.ts";
import { SCRIPT, STYLESHEET } from "./_assets.ts";
import { Feed } from "./_feed.ts";
import { authorization, type DashboardAuthorize, sameOriginPosts } from "./_guard.ts";
import { type Frame, type Html, page, type Section } from "./_layout.ts";
import { findJob } from "./_operations.ts";
import { overviewPage } from "./_page_overview.ts";
import { jobPage, jobsPage } from "./_page_jobs.ts";
import { realtimePage } from "./_page_realtime.ts";
import { schedulesPage } from "./_page_schedules.ts";
import { jobQueryFrom } from "./_query.ts";
import { type DashboardHub, RealtimeActivity } from "./_realtime_activity.ts";
import type { DashboardParts } from "./_state.ts";
import type { DashboardQueue, DashboardScheduler } from "./sources.ts";
import type { UploadActivity } from "./upload_activity.ts";

export type { DashboardAuthorize };

/** Options for {@linkcode dashboard}. */
export interface DashboardOptions {
  /** The queue to show: a `Queue` of `@kiln/core/queue`. */
  queue: DashboardQueue;
  /** The scheduler to show, if any: a `Scheduler` of `@kiln/core/scheduler`. */
  scheduler?: DashboardScheduler;
  /**
   * A realtime `Hub` whose channels and presence members to show, with
   * subscribers counted on every instance (`hub.channels()`). The dashboard
   * adds connection middleware to it (`hub.use()`) to count this instance's
   * connections; connections opened before are not counted.
   */
  hub?: DashboardHub;
  /** Uploads to show: an {@linkcode UploadActivity} wired into `uploads()`. */
  uploads?: UploadActivity;
  /**
   * Who may see the dashboard: a function of the request, or `"local-only"`
   * (loopback peers asking for a loopback host name, for development; needs
   * `getConnInfo`). Required: there is no open default.
   */
  authorize: DashboardAuthorize | "local-only";
  /**
   * The runtime's `getConnInfo` from its Hono adapter (`hono/deno`,
   * `hono/bun`, `@hono/node-server/conninfo`), which `"local-only"` reads the
   * peer's address from. Headers such as `X-Forwarded-For` are never used.
   */
  getConnInfo?: GetConnInfo;
  /** How often live views are refreshed, in milliseconds. @default 2_000 */
  refresh?: number;
  /** Time and timers. @default systemClock */
  clock?: Clock;
}

/** The HTTP status of the Kiln error codes a dashboard request can meet; others are 500. */
const STATUS_BY_CODE: Record<string, number> = {
  SCHEDULER_UNKNOWN_TASK: 404,
  QUEUE_INVALID_CURSOR: 400,
  REDIS_UNAVAILABLE: 503,
};

const SECURITY_HEADERS: Record<string, string> = {
  // Only the dashboard's own stylesheet and script: no inline script can run.
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "same-origin",
  "Cache-Control": "no-store",
};

/**
 * Creates the dashboard: pages for the overview, jobs (search, one job,
 * actions), schedules, realtime and uploads, the JSON API under `/api`, and
 * live updates as Server-Sent Events at `/api/events`. Mount it with
 * `app.route("/kiln", dashboard(…))`. Every request must pass `authorize`;
 * every POST must come from the dashboard's own origin.
 *
 * @param options What to show and who may see it.
 * @returns The Hono app.
 * @throws {TypeError} When `authorize` is missing or `"local-only"` comes without `getConnInfo`.
 * @throws {RangeError} When `refresh` is not a positive number of milliseconds.
 *
 * @example Mounting it behind HTTP basic auth
 * ```ts
 * import { Hono } from "hono";
 * import { basicAuth } from "hono/basic-auth";
 * import { MemoryBackend, Queue } from "@kiln/core/queue";
 * import { dashboard } from "@kiln/core/dashboard";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const login = basicAuth({ username: "ops", password: "s3cret" });
 * const app = new Hono().route("/kiln", dashboard({
 *   queue,
 *   authorize: async (c) => {
 *     await login(c, async () => {}); // throws a 401 with WWW-Authenticate when wrong
 *     return true;
 *   },
 * }));
 * assert.equal((await app.request("/kiln/api/queues")).status, 401);
 * const ok = await app.request("/kiln/api/queues", {
 *   headers: { Authorization: `Basic ${btoa("ops:s3cret")}` },
 * });
 * assert.deepEqual(await ok.json(), { queues: [] });
 * ```
 */
export function dashboard(options: DashboardOptions): Hono {
  if (options.authorize !== "local-only" && typeof options.authorize !== "function") {
    throw new TypeError('dashboard() needs authorize: a function of the request, or "local-only"');
  }
  const refresh = options.refresh ?? 2_000;
  if (!(Number.isFinite(refresh) && refresh > 0 && refresh <= 2 ** 31 - 1)) {
    throw new RangeError(`refresh must be a positive number of milliseconds, got ${refresh}`);
  }
  const parts: DashboardParts = { queue: options.queue, clock: options.clock ?? systemClock };
  if (options.scheduler) parts.scheduler = options.scheduler;
  if (options.hub) parts.realtime = new RealtimeActivity(options.hub);
  if (options.uploads) parts.uploads = options.uploads;
  const sections = {
    schedules: parts.scheduler !== undefined,
    realtime: parts.realtime !== undefined || parts.uploads !== undefined,
  };

  const app = new Hono<{ Variables: { base: string } }>();
  app.use("*", async (c, next) => {
    c.set("base", c.req.routePath.replace(/\/\*$/, ""));
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.header(name, value);
  });
  app.use("*", authorization(options.authorize, options.getConnInfo));
  app.use("*", sameOriginPosts());
  app.onError((error, c) => answerError(error, c, sections));

  app.get(
    "/assets/dashboard.css",
    (c) => c.body(STYLESHEET, 200, { "Content-Type": "text/css; charset=utf-8" }),
  );
  app.get(
    "/assets/dashboard.js",
    (c) => c.body(SCRIPT, 200, { "Content-Type": "text/javascript; charset=utf-8" }),
  );
  app.route("/api", api(parts, new Feed(parts, refresh)));

  const render = (
    c: Context<{ Variables: { base: string } }>,
    title: string,
    section: Section,
    body: Html,
  ) => c.html(page({ base: c.get("base"), title, section, sections }, body));
  const overview = async (c: Context<{ Variables: { base: string } }>) =>
    render(c, "Overview", "overview", await overviewPage(parts, c.get("base")));
  app.get("/", overview);
  // "<mount>/" as well as "<mount>": Hono's strict routing would answer 404 to one of them.
  app.get("/:empty{(?:)}", overview);
  app.get(
    "/jobs",
    async (c) =>
      render(
        c,
        "Jobs",
        "jobs",
        await jobsPage(parts, c.get("base"), jobQueryFrom(new URL(c.req.url).searchParams)),
      ),
  );
  app.get("/jobs/:id", async (c) => {
    const job = await findJob(parts.queue, c.req.param("id"), c.req.query("queue") || undefined);
    return render(c, `Job ${job.id}`, "jobs", jobPage(job, c.get("base")));
  });
  if (parts.scheduler) {
    const scheduler = parts.scheduler;
    app.get(
      "/schedules",
      async (c) =>
        render(c, "Schedules", "schedules", await schedulesPage(scheduler, c.get("base"))),
    );
  }
  if (sections.realtime) {
    app.get(
      "/realtime",
      async (c) => render(c, "Realtime & uploads", "realtime", await realtimePage(parts)),
    );
  }
  // Last: a path under the mount that no route takes is the dashboard's own 404 (a page, or
  // JSON under /api). A mounted app's notFound() is never called: the host app's would answer.
  app.all("*", () => {
    throw new HTTPException(404, { message: "Not found" });
  });
  // The base variable is set by the first middleware for every route: callers see a plain Hono.
  return app as unknown as Hono;
}

/**
 * The one error boundary: `/api` answers `{ error, code? }` JSON, pages an
 * HTML page; an `HTTPException` keeps its status (and its own response, such
 * as basic auth's 401 challenge), a `KilnError` keeps its code, and anything
 * else is a 500 whose message stays in the server's log.
 */
function answerError(
  error: Error,
  c: Context<{ Variables: { base: string } }>,
  sections: Frame["sections"],
): Response | Promise<Response> {
  if (error instanceof HTTPException && error.res) return error.getResponse();
  const raw = (error as { code?: unknown }).code;
  const code = typeof raw === "string" ? raw : undefined;
  const status = error instanceof HTTPException
    ? error.status
    : (code !== undefined ? STATUS_BY_CODE[code] : undefined) ?? 500;
  let message = error.message;
  if (status === 500 && code === undefined) {
    console.error("[kiln dashboard]", error);
    message = "Internal error (see the server's log)";
  }
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.header(name, value);
  if (new URL(c.req.url).pathname.startsWith(`${c.get("base") ?? ""}/api/`)) {
    return c.json({ error: message, ...(code ? { code } : {}) }, status as 400);
  }
  const base = c.get("base") ?? "";
  return c.html(
    page(
      { base, title: `Error ${status}`, section: "overview", sections },
      html`
        <section class="card">
          <p>${message}</p>
        </section>
      `,
    ),
    status as 400,
  );
}
