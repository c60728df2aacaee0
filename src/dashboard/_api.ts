/**
 * The JSON API under `<mount>/api`, which the pages use and scripts can too.
 * Reads are GETs; actions are POSTs (the CSRF rule applies); a search's
 * parameters are the same for listing and for bulk actions.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { streamSSE } from "hono/streaming";
import type { Feed } from "./_feed.ts";
import { actOnJob, actOnSearch, findJob, type JobAction, setPaused } from "./_operations.ts";
import { readOverview } from "./_overview.ts";
import { jobQueryFrom } from "./_query.ts";
import { HISTORY } from "./_page_schedules.ts";
import type { DashboardParts } from "./_state.ts";
import type { DashboardScheduler } from "./sources.ts";

/** The most pages following `/api/events` at once; more get 503. */
const MAX_LISTENERS = 100;
/**
 * How long one live stream lasts. It then ends and the page's EventSource
 * reconnects through `authorize` again, so access taken away (a revoked
 * session, an expired token) stops the live feed within this much time.
 */
const STREAM_LIFETIME = 5 * 60_000;
const JOB_ACTIONS: readonly JobAction[] = ["retry", "remove", "promote", "cancel"];

function schedulerOf(parts: DashboardParts): DashboardScheduler {
  if (!parts.scheduler) throw new HTTPException(404, { message: "No scheduler is shown here" });
  return parts.scheduler;
}

/** Builds the API routes. */
export function api(parts: DashboardParts, feed: Feed): Hono {
  const app = new Hono();
  const { queue } = parts;
  const queueParam = (value: string | undefined) => value === "" ? undefined : value;

  app.get("/overview", async (c) => c.json(await readOverview(parts)));
  app.get("/queues", async (c) => c.json({ queues: (await readOverview(parts)).queues }));
  app.post("/queues/:name/:action{pause|resume}", async (c) => {
    await setPaused(queue, c.req.param("name"), c.req.param("action") === "pause");
    return c.json({ ok: true });
  });

  app.get(
    "/jobs",
    async (c) => c.json(await queue.jobs(jobQueryFrom(new URL(c.req.url).searchParams))),
  );
  app.post("/jobs/:action{retry-all|remove-all}", async (c) => {
    const query = jobQueryFrom(new URL(c.req.url).searchParams);
    const action = c.req.param("action") === "retry-all" ? "retry" : "remove";
    return c.json({ count: await actOnSearch(queue, action, query) });
  });
  app.get(
    "/jobs/:id",
    async (c) => c.json(await findJob(queue, c.req.param("id"), queueParam(c.req.query("queue")))),
  );
  app.post("/jobs/:id/:action", async (c) => {
    const action = c.req.param("action") as JobAction;
    if (!JOB_ACTIONS.includes(action)) {
      throw new HTTPException(404, { message: `No action ${action}` });
    }
    await actOnJob(queue, action, c.req.param("id"), queueParam(c.req.query("queue")));
    return c.json({ ok: true });
  });

  app.get("/metrics", async (c) => {
    const params = jobQueryFrom(new URL(c.req.url).searchParams);
    const resolution = c.req.query("resolution");
    if (resolution !== undefined && resolution !== "minute" && resolution !== "hour") {
      throw new HTTPException(400, { message: "resolution must be minute or hour" });
    }
    return c.json(
      await queue.metrics({
        queue: params.queue,
        since: params.since,
        until: params.until,
        resolution,
      }),
    );
  });
  app.get("/workers", async (c) => {
    return c.json({ workers: await queue.workers() });
  });

  app.get("/schedules", async (c) => {
    const scheduler = schedulerOf(parts);
    return c.json({ schedules: await scheduler.tasks({ history: HISTORY }) });
  });
  app.post("/schedules/:name/:action{run|pause|resume}", async (c) => {
    const scheduler = schedulerOf(parts);
    const action = c.req.param("action") as "run" | "pause" | "resume";
    // An unknown name is the scheduler's UnknownTaskError (SCHEDULER_UNKNOWN_TASK), answered 404.
    await scheduler[action](c.req.param("name"));
    return c.json({ ok: true });
  });

  app.get("/realtime", async (c) => {
    if (!parts.realtime) throw new HTTPException(404, { message: "No hub is shown here" });
    return c.json({ connections: parts.realtime.connections, ...await parts.realtime.channels() });
  });
  app.get("/uploads", (c) => {
    if (!parts.uploads) throw new HTTPException(404, { message: "No uploads are shown here" });
    return c.json({ uploads: parts.uploads.list() });
  });

  app.get("/events", (c) => {
    // Hono answers HEAD with a GET's headers and drops its body without cancelling it:
    // a stream opened here would never hear the page leave and would hold a slot for good.
    if (c.req.method === "HEAD") return c.body(null, 200, { "Content-Type": "text/event-stream" });
    if (feed.size >= MAX_LISTENERS) {
      throw new HTTPException(503, { message: "Too many live views open; try again later" });
    }
    return streamSSE(c, async (stream) => {
      const pending: { event: string; data: string }[] = [];
      let wake: (() => void) | null = null;
      const stop = feed.listen((message) => {
        if (pending.length >= 64) pending.shift(); // a reader that stalls loses old updates, not memory
        pending.push(message);
        wake?.();
      });
      let expired = false;
      let timer: unknown;
      const closed = new Promise<void>((resolve) => {
        stream.onAbort(resolve);
        timer = parts.clock.setTimeout(() => {
          expired = true;
          resolve();
        }, STREAM_LIFETIME);
      });
      try {
        while (!stream.aborted && !expired) {
          while (pending.length > 0) await stream.writeSSE(pending.shift()!);
          await Promise.race([closed, new Promise<void>((resolve) => wake = resolve)]);
          wake = null;
        }
      } finally {
        parts.clock.clearTimeout(timer);
        stop();
      }
    });
  });
  return app;
}
