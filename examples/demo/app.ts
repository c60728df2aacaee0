/**
 * The demo application: one Hono app with uploads, jobs, schedules and
 * realtime on one page, and the dashboard at `/kiln`. `main.ts` serves it;
 * the browser tests build it the same way.
 *
 * @module
 */
import { Hono } from "hono";
import { getConnInfo, upgradeWebSocket } from "hono/deno";
import { streamSSE } from "hono/streaming";
import { Redis } from "@upstash/redis";
import { SignJWT } from "jose";
import { MemoryBackend, Queue, RedisBackend, Worker } from "@kiln/core/queue";
import { RedisHistory, Scheduler } from "@kiln/core/scheduler";
import { Hub, jwtAuth, realtime, RedisFanout } from "@kiln/core/realtime";
import { MemoryStore, RedisUploadState, uploads } from "@kiln/core/upload";
import { dashboard, UploadActivity } from "@kiln/core/dashboard";
import {
  dailyDigest,
  DEMO_JOBS,
  JobFeed,
  processUpload,
  resizeImage,
  sendReminder,
  sendReport,
  syncContacts,
} from "./jobs.ts";
import { DEMO_SCRIPT, DEMO_STYLES, demoPage, TUS_CLIENT } from "./page.ts";

/** The largest upload the demo accepts. */
export const MAX_UPLOAD = 20 * 1024 * 1024;
/** The file types the demo accepts, found from the bytes. */
export const ALLOWED_TYPES = ["image/*", "application/pdf", "application/zip"];
/** How long a demo token lives, in seconds. */
const TOKEN_LIFETIME = 10 * 60;
/** The most pages following the job feed at once (each holds a stream); more get 503. */
const MAX_JOB_PAGES = 50;

/** Where the demo keeps its state. */
export interface DemoOptions {
  /** Redis (Upstash or Kiln's gateway); unset keeps everything in memory. */
  redis?: Redis;
  /** A key prefix, so several demos can share one Redis. @default "demo" */
  prefix?: string;
}

/** The running demo. */
export interface Demo {
  /** Serve this. */
  app: Hono;
  /** The store uploads land in. */
  store: MemoryStore;
  /** Stops the worker, the scheduler and the hub. */
  close(): Promise<void>;
}

/** Builds the demo and starts its worker and scheduler. */
export async function createDemo(options: DemoOptions = {}): Promise<Demo> {
  const prefix = options.prefix ?? "demo";
  const redis = options.redis;
  const queue = new Queue({
    backend: redis ? new RedisBackend({ redis, prefix }) : new MemoryBackend(),
  });
  const feed = new JobFeed();
  const worker = new Worker(queue, {
    jobs: DEMO_JOBS,
    concurrency: 4,
    queues: ["default", "media", "mail"],
    maxPollInterval: 1_000,
  });
  feed.follow(worker);

  const scheduler = new Scheduler(redis ? { history: new RedisHistory({ redis, prefix }) } : {});
  let heartbeats = 0;
  scheduler.call("heartbeat", () => {
    heartbeats++;
  }).everyTenSeconds().description("Counts to show the scheduler is alive");
  scheduler.job(dailyDigest, { for: "ops@example.com" }, queue).everyMinute()
    .description("Dispatches the digest job");

  const hub = new Hub(redis ? { fanout: new RedisFanout({ redis, prefix }) } : {});
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const store = new MemoryStore();
  const activity = new UploadActivity();
  const files = uploads({
    store,
    ...(redis ? { state: new RedisUploadState({ redis, prefix }) } : {}),
    maxSize: MAX_UPLOAD,
    allowedTypes: ALLOWED_TYPES,
    expiresIn: 3_600_000,
    onProgress: (progress) => activity.onProgress(progress),
    onComplete: async (upload) => {
      activity.onComplete(upload);
      const { id } = await queue.dispatch(processUpload, {
        upload: upload.id,
        bytes: upload.offset,
      });
      feed.dispatched(id, processUpload.name, processUpload.queue, false);
    },
  });

  const app = new Hono();
  // Another site's page may not act here (dispatch jobs, upload, ping someone): browsers send
  // Origin with every cross-site POST and PATCH. Scripts without Origin stay welcome.
  app.use("*", async (c, next) => {
    const origin = c.req.header("Origin");
    const acts = c.req.method !== "GET" && c.req.method !== "HEAD" && c.req.method !== "OPTIONS";
    if (acts && origin !== undefined && origin !== new URL(c.req.url).origin) {
      return c.json({ error: "Cross-site request refused" }, 403);
    }
    await next();
  });
  app.get("/", (c) => c.html(demoPage({ maxUpload: MAX_UPLOAD, allowedTypes: ALLOWED_TYPES })));
  app.get(
    "/demo.js",
    (c) => c.body(DEMO_SCRIPT, 200, { "Content-Type": "text/javascript; charset=utf-8" }),
  );
  app.get(
    "/demo.css",
    (c) => c.body(DEMO_STYLES, 200, { "Content-Type": "text/css; charset=utf-8" }),
  );
  app.get("/vendor/tus.min.js", (c) =>
    c.body(TUS_CLIENT, 200, {
      "Content-Type": "text/javascript; charset=utf-8",
      "Cache-Control": "public, max-age=3600",
    }));
  app.route("/files", files);
  // Finished files, as attachments: bytes someone uploaded are never served inline as a page.
  app.get("/download/:id{[A-Za-z0-9_-]{1,128}}", async (c) => {
    const id = c.req.param("id");
    const [file, stream] = [await store.stat(id), await store.read(id)];
    if (file === null || stream === null) return c.text("No such file", 404);
    return c.body(stream, 200, {
      "Content-Type": "application/octet-stream",
      "Content-Disposition": `attachment; filename="${id}"`,
      "X-Content-Type-Options": "nosniff",
    });
  });
  app.get("/api/demo/files", (c) =>
    c.json({
      files: activity.list().filter((u) => u.complete).map((u) => ({ id: u.id, bytes: u.offset })),
    }));

  const dispatchers = {
    slow: () => queue.dispatch(resizeImage, { seconds: 3 }),
    failing: () => queue.dispatch(sendReport, { to: "ceo@example.com" }),
    flaky: () => queue.dispatch(syncContacts, { account: "acme" }),
    delayed: () => queue.dispatch(sendReminder, { note: "Stand-up in 5 s" }, { delay: 5_000 }),
  };
  const definitions = {
    slow: resizeImage,
    failing: sendReport,
    flaky: syncContacts,
    delayed: sendReminder,
  };
  app.post("/api/demo/jobs/:kind{slow|failing|flaky|delayed}", async (c) => {
    const kind = c.req.param("kind") as keyof typeof dispatchers;
    const { id } = await dispatchers[kind]();
    const job = definitions[kind];
    feed.dispatched(id, job.name, job.queue, kind === "delayed");
    return c.json({ id }, 201);
  });
  app.get("/api/demo/jobs", (c) => c.json({ jobs: feed.list() }));
  app.get("/api/demo/jobs/events", (c) => {
    // HEAD: Hono drops the body without cancelling it, so a stream would never hear the page leave.
    if (c.req.method === "HEAD") return c.body(null, 200, { "Content-Type": "text/event-stream" });
    if (feed.size >= MAX_JOB_PAGES) return c.json({ error: "Too many pages follow the jobs" }, 503);
    return streamSSE(c, async (stream) => {
      let unsent = 0;
      const stop = feed.listen((job) => {
        // A page that stopped reading misses updates rather than growing a buffer here.
        if (unsent >= 64) return;
        unsent++;
        stream.writeSSE({ event: "job", data: JSON.stringify(job) }).catch(() => {})
          .finally(() => unsent--);
      });
      await new Promise<void>((resolve) => stream.onAbort(resolve));
      stop();
    });
  });

  app.get("/api/demo/schedules", async (c) =>
    c.json({
      heartbeats,
      tasks: (await scheduler.tasks({ history: 1 })).map((task) => ({
        name: task.name,
        schedule: task.schedule,
        description: task.description ?? "",
        nextRun: task.nextRunAt?.getTime() ?? null,
        lastRun: task.lastRun
          ? {
            status: task.lastRun.status,
            at: task.lastRun.finishedAt,
            duration: task.lastRun.duration,
            error: task.lastRun.error ?? null,
          }
          : null,
      })),
    }));

  // A demo sign-in: anyone may pick a name; the token lives ten minutes.
  app.post("/api/demo/token", async (c) => {
    const body = await c.req.json().catch(() => ({}));
    const name = typeof body?.name === "string" ? body.name.trim() : "";
    if (!/^[\p{L}\p{N} ._-]{1,24}$/u.test(name)) {
      return c.json(
        { error: "Pick a name of 1 to 24 letters, digits, spaces, dots or dashes" },
        400,
      );
    }
    const id = `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 16) || "user"}-${
      crypto.randomUUID().slice(0, 6)
    }`;
    const token = await new SignJWT({ name })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(id)
      .setIssuedAt()
      .setExpirationTime(`${TOKEN_LIFETIME}s`)
      .sign(secret);
    return c.json({ token, user: { id, name }, expiresIn: TOKEN_LIFETIME });
  });
  app.get(
    "/ws",
    realtime(hub, {
      upgradeWebSocket,
      auth: jwtAuth({ secret, algorithms: ["HS256"], expose: ["name"] }),
      authorize: (user, channel) => {
        if (channel.kind === "private") return channel.name === `private-user.${user.id}`;
        if (channel.kind === "presence") {
          return channel.name === "presence-lobby" && { name: user.claims.name };
        }
        return true;
      },
    }),
  );
  app.post("/api/demo/ping/:user{[a-z0-9-]{1,40}}", async (c) => {
    await hub.broadcast(`private-user.${c.req.param("user")}`, "ping", { at: Date.now() });
    return c.body(null, 204);
  });

  app.route(
    "/kiln",
    dashboard({ queue, scheduler, hub, uploads: activity, authorize: "local-only", getConnInfo }),
  );

  await scheduler.start();
  void worker.start();
  return {
    app,
    store,
    async close() {
      await Promise.allSettled([worker.stop(), scheduler.stop(), hub.close()]);
    },
  };
}

/** Redis from `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN`, when both are set. */
export function redisFromEnv(): Redis | undefined {
  const url = Deno.env.get("UPSTASH_REDIS_REST_URL");
  const token = Deno.env.get("UPSTASH_REDIS_REST_TOKEN");
  return url && token ? new Redis({ url, token }) : undefined;
}
