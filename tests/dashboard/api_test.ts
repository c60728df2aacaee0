/**
 * The dashboard's JSON API and pages over a real queue, in memory and on
 * Redis through the gateway: what it lists, what its actions change, what it
 * refuses, and that nothing a job carries can become markup.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import * as v from "valibot";
import { dashboard, type DashboardQueue } from "../../src/dashboard/mod.ts";
import { defineJob, MemoryBackend, Queue, RedisBackend, Worker } from "../../src/queue/mod.ts";
import { Scheduler } from "../../src/scheduler/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";

const HOSTILE = `<script>alert("payload")</script><img src=x onerror=alert(1)>`;
const ORIGIN = "http://localhost";

const hostile = defineJob({
  name: "hostile",
  queue: "evil",
  schema: v.object({ note: v.string() }),
  maxRetries: 0,
  handle(payload) {
    throw new Error(payload.note);
  },
});

type Backend = () => Promise<{ queue: Queue; close(): Promise<void> }>;

const BACKENDS: Record<string, Backend> = {
  memory: () =>
    Promise.resolve({
      queue: new Queue({ backend: new MemoryBackend() }),
      close: () => Promise.resolve(),
    }),
  redis: async () => {
    const stack = await startRedisStack();
    return {
      queue: new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix: "dash" }) }),
      close: () => stack.close(),
    };
  },
};

async function failedJobs(queue: Queue, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < count; n++) {
    ids.push((await queue.dispatch(hostile, { note: `${HOSTILE} #${n}` })).id);
  }
  const summary = await new Worker(queue, { jobs: [hostile] }).drain({ maxJobs: count });
  assert.equal(summary.failed, count);
  return ids;
}

function appFor(queue: DashboardQueue, scheduler?: Scheduler): Hono {
  return new Hono().route(
    "/kiln",
    dashboard({ queue, ...(scheduler ? { scheduler } : {}), authorize: () => true }),
  );
}

const post = (app: Hono, path: string) =>
  app.request(`${ORIGIN}${path}`, { method: "POST", headers: { Origin: ORIGIN } });

for (const [backend, open] of Object.entries(BACKENDS)) {
  Deno.test(`${backend}: the API lists queues and failed jobs, pages them, and shows one job with its errors`, async () => {
    const { queue, close } = await open();
    try {
      const ids = await failedJobs(queue, 3);
      const app = appFor(queue);
      const queues = await (await app.request("/kiln/api/queues")).json();
      const evil = queues.queues.find((q: { name: string }) => q.name === "evil");
      assert.equal(evil.counts.failed, 3);

      const first = await (await app.request("/kiln/api/jobs?queue=evil&state=failed&limit=2"))
        .json();
      assert.equal(first.jobs.length, 2);
      assert.equal(typeof first.cursor, "string");
      const second = await (await app.request(
        `/kiln/api/jobs?queue=evil&state=failed&limit=2&cursor=${encodeURIComponent(first.cursor)}`,
      )).json();
      assert.equal(second.jobs.length, 1);
      assert.equal(second.cursor, null);
      const listed = [...first.jobs, ...second.jobs].map((job: { id: string }) => job.id);
      assert.deepEqual(listed.toSorted(), ids.toSorted(), "every failed job once, none twice");

      const job = await (await app.request(`/kiln/api/jobs/${ids[0]}?queue=evil`)).json();
      assert.equal(job.payload.note, `${HOSTILE} #0`, "JSON keeps the payload exactly");
      assert.equal(job.errors[0].message, `${HOSTILE} #0`);
      assert.match(job.errors[0].stack, /at /);
      const unknown = await app.request("/kiln/api/jobs/no-such-job");
      assert.equal(unknown.status, 404);
      assert.deepEqual(await unknown.json(), { error: "No job no-such-job" });
    } finally {
      await close();
    }
  });

  Deno.test(`${backend}: retry from the API puts a failed job back, once; bulk retry answers how many`, async () => {
    const { queue, close } = await open();
    try {
      const [one, ...rest] = await failedJobs(queue, 3);
      const app = appFor(queue);
      const retried = await post(app, `/kiln/api/jobs/${one}/retry?queue=evil`);
      assert.equal(retried.status, 200);
      await retried.body?.cancel();
      assert.notEqual((await queue.job(one, "evil"))?.state, "failed");
      const again = await post(app, `/kiln/api/jobs/${one}/retry?queue=evil`);
      assert.equal(again.status, 409, "a job that is no longer failed cannot be retried");
      assert.deepEqual(await again.json(), { error: `Job ${one} cannot be retried while waiting` });

      const bulk = await post(app, "/kiln/api/jobs/retry-all?queue=evil&state=failed");
      assert.deepEqual(await bulk.json(), { count: rest.length });
      assert.equal((await queue.counts("evil")).failed, 0);
      const unknown = await post(app, `/kiln/api/jobs/${one}/frobnicate`);
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
    } finally {
      await close();
    }
  });

  Deno.test(`${backend}: pages escape what jobs carry, and forbid inline scripts besides`, async () => {
    const { queue, close } = await open();
    try {
      const [id] = await failedJobs(queue, 1);
      const app = appFor(queue);
      for (
        const path of [
          "/kiln/",
          "/kiln/jobs?queue=evil&state=failed",
          `/kiln/jobs/${id}?queue=evil`,
        ]
      ) {
        const response = await app.request(path);
        assert.equal(response.status, 200, path);
        const page = await response.text();
        assert.ok(!page.includes("<script>alert"), `${path} carries a live script`);
        assert.ok(!page.includes("<img src=x"), `${path} carries a live image`);
        if (path.includes(id)) {
          assert.ok(
            page.includes("&lt;script&gt;alert(&quot;payload&quot;)&lt;/script&gt;"),
            "shown as text",
          );
        }
        assert.match(response.headers.get("Content-Security-Policy") ?? "", /script-src 'self';/);
        assert.equal(response.headers.get("X-Content-Type-Options"), "nosniff");
      }
      const missing = await app.request(`/kiln/jobs/${encodeURIComponent(HOSTILE)}`);
      assert.equal(missing.status, 404);
      const page = await missing.text();
      assert.ok(!page.includes("<script>alert") && page.includes("No job &lt;script&gt;"));
    } finally {
      await close();
    }
  });
}

Deno.test("a search with a bad field is refused with 400 naming it", async () => {
  const app = appFor(new Queue({ backend: new MemoryBackend() }));
  const cases: [string, RegExp][] = [
    ["state=exploded", /state must be one of waiting, delayed, active, completed, failed/],
    ["limit=0", /limit must be an integer from 1 to 200/],
    ["limit=201", /limit/],
    ["limit=2.5", /limit/],
    ["since=yesterday", /since must be a date or epoch milliseconds/],
    [`tag=${"x".repeat(257)}`, /tag is longer than 256 characters/],
  ];
  for (const [query, message] of cases) {
    for (
      const response of [
        await app.request(`/kiln/api/jobs?${query}`),
        await post(app, `/kiln/api/jobs/remove-all?${query}`),
      ]
    ) {
      assert.equal(response.status, 400, query);
      assert.match((await response.json()).error, message);
    }
  }
});

Deno.test("the overview charts metrics and lists live workers; /api/metrics and /api/workers answer the queue's", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const app = appFor(queue);
  const worker = new Worker(queue, { jobs: [tagged] });
  await worker.start();
  try {
    await queue.dispatch(tagged, { user: 1 });
    const { promise, resolve } = Promise.withResolvers<void>();
    const off = worker.on("completed", () => resolve());
    await promise;
    off();
    const workers = (await (await app.request("/kiln/api/workers")).json()).workers;
    assert.deepEqual(workers.map((w: { id: string }) => w.id), [worker.id]);
    const metrics = await (await app.request("/kiln/api/metrics?queue=mail&resolution=minute"))
      .json();
    assert.equal(
      metrics.reduce((sum: number, point: { completed: number }) => sum + point.completed, 0),
      1,
    );
    const bad = await app.request("/kiln/api/metrics?resolution=week");
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    const page = await (await app.request("/kiln/")).text();
    assert.match(page, /<svg class="chart"[^>]*aria-label="Jobs per minute, last hour"/);
    assert.match(
      page,
      /<title>[^<]*: 1 completed, 0 failed<\/title>/,
      "the minute that completed the job",
    );
    assert.ok(page.includes(`<code>${worker.id}</code>`), "the worker is listed");
  } finally {
    await worker.stop();
  }
});

const tagged = defineJob({
  name: "tagged",
  queue: "mail",
  schema: v.object({ user: v.number() }),
  tags: (payload) => [`user:${payload.user}`],
  handle() {},
});

Deno.test("search by tag, promote, remove, cancel and pause act through the API, and refuse what a state does not allow", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const app = appFor(queue);
  const { id: waiting } = await queue.dispatch(tagged, { user: 42 }, { uniqueKey: "welcome-42" });
  const jobPage = await (await app.request(`/kiln/jobs/${waiting}?queue=mail`)).text();
  assert.match(jobPage, /<dt>Unique key<\/dt>\s*<dd><code>welcome-42<\/code>/);
  const { id: delayed } = await queue.dispatch(tagged, { user: 7 }, { delay: 60_000 });

  const found = await (await app.request("/kiln/api/jobs?tag=user:42")).json();
  assert.deepEqual(found.jobs.map((job: { id: string }) => job.id), [waiting]);
  const page = await (await app.request("/kiln/jobs?tag=user:7")).text();
  assert.ok(page.includes(`data-job="${delayed}"`) && !page.includes(`data-job="${waiting}"`));

  const cancel = await post(app, `/kiln/api/jobs/${waiting}/cancel`);
  assert.equal(cancel.status, 409);
  assert.deepEqual(await cancel.json(), {
    error: `Job ${waiting} cannot be cancelled while waiting`,
  });
  const early = await post(app, `/kiln/api/jobs/${waiting}/promote`);
  assert.equal(early.status, 409);
  await early.body?.cancel();

  assert.equal((await post(app, `/kiln/api/jobs/${delayed}/promote?queue=mail`)).status, 200);
  assert.equal((await queue.job(delayed, "mail"))?.state, "waiting");
  assert.equal((await post(app, `/kiln/api/jobs/${delayed}/remove`)).status, 200);
  assert.equal(await queue.job(delayed, "mail"), null);
  const gone = await post(app, `/kiln/api/jobs/${delayed}/remove`);
  assert.equal(gone.status, 404);
  await gone.body?.cancel();

  const unknown = await post(app, "/kiln/api/queues/made-up/pause");
  assert.equal(unknown.status, 404, "pausing cannot create a queue");
  await unknown.body?.cancel();
  assert.equal((await post(app, "/kiln/api/queues/mail/pause")).status, 200);
  assert.equal((await queue.counts("mail")).paused, true);
  const overview = await (await app.request("/kiln/")).text();
  assert.match(overview, /data-post="\/kiln\/api\/queues\/mail\/resume"/);
  assert.equal((await post(app, "/kiln/api/queues/mail/resume")).status, 200);
  assert.equal((await queue.counts("mail")).paused, false);

  for (const action of ["remove-all", "retry-all"]) {
    const everything = await post(app, `/kiln/api/jobs/${action}?limit=5`);
    assert.equal(everything.status, 400, "a bulk action needs a search");
    assert.match((await everything.json()).error, /needs a search/);
  }
  assert.notEqual(await queue.job(waiting, "mail"), null, "nothing was removed");
  const removed = await post(app, "/kiln/api/jobs/remove-all?queue=mail&tag=user:42");
  assert.deepEqual(await removed.json(), { count: 1 });
  assert.equal(await queue.job(waiting, "mail"), null);
});

Deno.test("schedules: the API shows each task's schedule in words and history; run, pause and resume act", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const scheduler = new Scheduler();
  let runs = 0;
  scheduler.call("report <b>", () => {
    runs++;
  }).everyTenSeconds();
  await scheduler.runDue(new Date("2025-01-01T00:00:00Z"));
  const app = appFor(queue, scheduler);
  const [task] = (await (await app.request("/kiln/api/schedules")).json()).schedules;
  assert.equal(task.name, "report <b>");
  assert.equal(task.schedule, "every 10 seconds");
  assert.equal(task.lastRun.status, "succeeded");
  assert.equal(task.history.length, 1);

  const name = encodeURIComponent("report <b>");
  assert.equal((await post(app, `/kiln/api/schedules/${name}/run`)).status, 200);
  assert.equal(runs, 2);
  assert.equal((await post(app, `/kiln/api/schedules/${name}/pause`)).status, 200);
  assert.equal((await scheduler.tasks())[0].paused, true);
  const page = await (await app.request("/kiln/schedules")).text();
  assert.ok(page.includes("report &lt;b&gt;") && !page.includes("report <b>"));
  assert.equal((await post(app, `/kiln/api/schedules/${name}/resume`)).status, 200);
  assert.equal((await scheduler.tasks())[0].paused, false);

  const unknown = await post(app, "/kiln/api/schedules/nightly-typo/run");
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).code, "SCHEDULER_UNKNOWN_TASK");
});

Deno.test("/api/events streams snapshots and job events, and stops reading when the page leaves", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  let reads = 0;
  const backend = queue.backend;
  const queues = backend.queues.bind(backend);
  backend.queues = () => {
    reads++;
    return queues();
  };
  await failedJobs(queue, 1);
  const app = new Hono().route(
    "/kiln",
    dashboard({ queue, authorize: () => true, refresh: 20 }),
  );
  const response = await app.request("/kiln/api/events");
  assert.equal(response.headers.get("Content-Type"), "text/event-stream");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while ((text.match(/event: snapshot/g) ?? []).length < 2) {
    text += (await reader.read()).value ?? "";
  }
  const data = JSON.parse(text.split("\n").find((line) => line.startsWith("data: "))!.slice(6));
  assert.equal(data.queues.find((q: { name: string }) => q.name === "evil").counts.failed, 1);
  assert.equal(data.totals.failed, 1);
  // queue.events() is forwarded: a dispatch shows up as a job event.
  const { id } = await queue.dispatch(hostile, { note: "watched" });
  while (!text.includes(`"id":"${id}"`)) text += (await reader.read()).value ?? "";
  assert.match(text, new RegExp(`event: job\ndata: \\{[^\n]*"id":"${id}"[^\n]*"state":"waiting"`));
  await reader.cancel();
  await new Promise((resolve) => setTimeout(resolve, 60));
  const after = reads;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(reads, after, "no reads once nobody listens");
});

Deno.test("/api/events says when Redis goes away and follows job events again once the gateway is back", async () => {
  await using stack = await startRedisStack();
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix: "feed" }) });
  await failedJobs(queue, 1);
  const app = new Hono().route("/kiln", dashboard({ queue, authorize: () => true, refresh: 200 }));
  const response = await app.request("/kiln/api/events");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let reading: Promise<ReadableStreamReadResult<string>> | null = null;
  /** Reads for at most `ms`; a read still pending carries over to the next call, losing nothing. */
  const readFor = async (ms: number) => {
    reading ??= reader.read();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      reading,
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), ms)),
    ]);
    clearTimeout(timer);
    if (result === null) return;
    reading = null;
    text += result.value ?? "";
  };
  /** Reads until `needle` arrives; fails (instead of waiting forever) after 30 s. */
  const readUntil = async (needle: string) => {
    const deadline = Date.now() + 30_000;
    while (!text.includes(needle)) {
      assert.ok(Date.now() < deadline, `no ${needle} within 30 s; the stream said: ${text}`);
      await readFor(1_000);
    }
  };
  try {
    await readUntil("event: snapshot");
    await stack.stopGateway();
    await readUntil("event: error");
    assert.match(text, /event: error\ndata: \{"error":/);
    await stack.startGateway();
    // The feed listens again after its back-off: dispatch until a job's event arrives.
    let seen: string | undefined;
    const deadline = Date.now() + 15_000;
    while (seen === undefined) {
      assert.ok(Date.now() < deadline, "no job event within 15 s of the gateway's return");
      const { id } = await queue.dispatch(hostile, { note: "after the restart" });
      for (let n = 0; n < 5 && !text.includes(`"id":"${id}"`); n++) await readFor(300);
      if (text.includes(`"id":"${id}"`)) seen = id;
    }
    assert.match(text, new RegExp(`event: job\\ndata: [^\\n]*"id":"${seen}"`));
  } finally {
    await reader.cancel();
  }
});
