/**
 * The dashboard as an attacker sees it: text that tries to become markup in
 * every field a page shows, path spellings that try to slip past `authorize`,
 * POSTs a form on another site can send, and live views opened to exhaust
 * the server.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import * as v from "valibot";
import { dashboard } from "../../src/dashboard/mod.ts";
import { defineJob, MemoryBackend, Queue, Worker } from "../../src/queue/mod.ts";
import { Scheduler } from "../../src/scheduler/mod.ts";

/** Breaks out of text, of a double- or single-quoted attribute, and of an SVG `<title>`. */
const HOSTILE =
  `"'></title></code><script>alert(1)</script><svg onload=alert(2)><img src=x onerror=alert(3)>`;
/** What must never appear in a page: any tag the hostile text opens. */
const LIVE = /<script>alert|<svg onload|<img src=x|<\/title><\/code>/;

const everywhere = defineJob({
  name: "hostile<b>",
  queue: "evil<i>",
  schema: v.object({ note: v.string() }),
  tags: (payload) => [payload.note, `tag:${payload.note}`],
  maxRetries: 0,
  handle(payload, ctx) {
    ctx.log(payload.note);
    const error = new Error(payload.note);
    error.stack = `Error: ${payload.note}\n    at ${payload.note}`;
    throw error;
  },
});

async function failedEverywhere(queue: Queue): Promise<string> {
  const { id } = await queue.dispatch(everywhere, { note: HOSTILE });
  assert.equal((await new Worker(queue, { jobs: [everywhere] }).drain({ maxJobs: 1 })).failed, 1);
  return id;
}

Deno.test("no page turns a job's name, queue, tags, logs, error, stack or a schedule's name into markup", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const id = await failedEverywhere(queue);
  const scheduler = new Scheduler();
  scheduler.call(HOSTILE, () => {
    throw new Error(HOSTILE);
  }).everyTenSeconds();
  await scheduler.runDue(new Date("2025-01-01T00:00:00Z"));
  const app = new Hono().route("/kiln", dashboard({ queue, scheduler, authorize: () => true }));
  const search = encodeURIComponent(HOSTILE);
  const paths = [
    "/kiln/",
    "/kiln/jobs",
    "/kiln/jobs?state=failed",
    `/kiln/jobs?queue=${encodeURIComponent("evil<i>")}&tag=${search}`,
    `/kiln/jobs?name=${search}&id=${search}&cursor=${search}`,
    `/kiln/jobs/${id}?queue=${encodeURIComponent("evil<i>")}`,
    `/kiln/jobs/${search}`,
    `/kiln/jobs/${id}?queue=${search}`,
    "/kiln/schedules",
    `/kiln/${search}`,
  ];
  for (const path of paths) {
    const response = await app.request(path);
    const page = await response.text();
    assert.doesNotMatch(page, LIVE, path);
    assert.match(response.headers.get("Content-Type") ?? "", /^text\/html/, path);
  }
  const job = await (await app.request(`/kiln/jobs/${id}`)).text();
  for (
    const shown of ["hostile&lt;b&gt;", "evil&lt;i&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;"]
  ) {
    assert.ok(job.includes(shown), `the job page shows ${shown} as text`);
  }
  assert.ok(job.includes("at &quot;&#39;&gt;"), "the stack is shown, escaped");
  const tasks = await (await app.request("/kiln/schedules")).text();
  assert.ok(tasks.includes("&lt;svg onload=alert(2)&gt;"), "the task's name is shown as text");
});

Deno.test("the JSON API answers hostile text as JSON, never as a page a browser would render", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const id = await failedEverywhere(queue);
  const app = new Hono().route("/kiln", dashboard({ queue, authorize: () => true }));
  for (
    const path of [
      `/kiln/api/jobs/${id}`,
      `/kiln/api/jobs?tag=${encodeURIComponent(HOSTILE)}`,
      `/kiln/api/jobs/${encodeURIComponent(HOSTILE)}`,
      `/kiln/api/jobs?state=${encodeURIComponent(HOSTILE)}`,
    ]
  ) {
    const response = await app.request(path);
    assert.match(response.headers.get("Content-Type") ?? "", /^application\/json/, path);
    assert.equal(response.headers.get("X-Content-Type-Options"), "nosniff", path);
    await response.body?.cancel();
  }
});

Deno.test("no spelling of a path reaches the dashboard without authorize", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  let asked = 0;
  const app = new Hono().route(
    "/kiln",
    dashboard({
      queue,
      authorize: () => {
        asked++;
        return false;
      },
    }),
  );
  const requests: [string, string][] = [
    ["HEAD", "/kiln"],
    ["HEAD", "/kiln/api/events"],
    ["HEAD", "/kiln/assets/dashboard.js"],
    ["OPTIONS", "/kiln/api/queues"],
    ["GET", "/kiln/"],
    ["GET", "/kiln/api/queues/"],
    ["GET", "/kiln//api/queues"],
    ["GET", "/kiln/./api/queues"],
    ["GET", "/kiln/assets/../api/queues"],
    ["GET", "/kiln/api%2Fqueues"],
    ["GET", "/kiln/%61pi/queues"],
    ["GET", "/kiln/api/%65vents"],
    ["GET", "/kiln/assets/dashboard.js/"],
    ["GET", "/kiln/assets/dashboard.js%00"],
    ["GET", "/kiln/api/jobs?" + "state=failed&".repeat(5_000)],
  ];
  for (const [method, path] of requests) {
    const before = asked;
    const response = await app.request(`http://localhost${path}`, { method });
    await response.body?.cancel();
    assert.equal(response.status, 403, `${method} ${path}`);
    assert.equal(asked, before + 1, `${method} ${path} asked authorize`);
  }
  // Spellings the mount does not match are the host app's 404, not the dashboard.
  for (const path of ["//kiln/api/queues", "/KILN/api/queues", "/kiln%2Fapi%2Fqueues"]) {
    const response = await app.request(`http://localhost${path}`);
    assert.equal(response.status, 404, path);
    assert.equal(await response.text(), "404 Not Found", path);
  }
});

Deno.test("what a form on another site can send is refused, and GETs never act", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const id = await failedEverywhere(queue);
  const app = new Hono().route("/kiln", dashboard({ queue, authorize: () => true }));
  const url = `http://localhost/kiln/api/jobs/${id}/retry`;
  const forms: [string, string][] = [
    ["application/x-www-form-urlencoded", "_method=POST"],
    ["multipart/form-data; boundary=x", "--x--\r\n"],
    ["text/plain", "{}"],
  ];
  for (const [type, body] of forms) {
    for (const origin of [undefined, "https://evil.example", "null"]) {
      const headers: Record<string, string> = { "Content-Type": type };
      if (origin) headers.Origin = origin;
      const response = await app.request(url, { method: "POST", headers, body });
      assert.equal(response.status, 403, `${type} from ${origin}`);
      await response.body?.cancel();
    }
  }
  for (const method of ["PUT", "PATCH", "DELETE"]) {
    const response = await app.request(url, {
      method,
      headers: { Origin: "https://evil.example" },
    });
    assert.equal(response.status, 403, method);
    await response.body?.cancel();
  }
  const overridden = await app.request(`${url}?_method=POST`, {
    headers: { "X-HTTP-Method-Override": "POST", "X-Method-Override": "POST" },
  });
  assert.equal(overridden.status, 404, "a GET never reaches an action");
  await overridden.body?.cancel();
  assert.equal((await queue.job(id, "evil<i>"))?.state, "failed", "nothing was retried");
});

Deno.test("live views are capped at 100 streams, a page that leaves frees its slot, and HEAD holds none", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const app = new Hono().route(
    "/kiln",
    dashboard({ queue, authorize: () => true, refresh: 60_000 }),
  );
  const events = "http://localhost/kiln/api/events";
  for (let n = 0; n < 101; n++) {
    const head = await app.request(events, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("Content-Type"), "text/event-stream");
    assert.equal(head.body, null);
  }
  const open: Response[] = [];
  try {
    for (let n = 0; n < 100; n++) {
      const response = await app.request(events);
      assert.equal(response.status, 200, `stream ${n + 1} opens`);
      open.push(response);
    }
    const refused = await app.request(events);
    assert.equal(refused.status, 503);
    assert.match((await refused.json()).error, /Too many live views/);
    await open.shift()!.body!.cancel();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const again = await app.request(events);
    assert.equal(again.status, 200, "the slot a page left is free again");
    open.push(again);
  } finally {
    await Promise.all(open.map((response) => response.body?.cancel()));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

Deno.test("a live stream ends after five minutes, so its reconnection meets authorize again", async () => {
  const { ManualClock } = await import("../support/manual_clock.ts");
  const clock = new ManualClock();
  let allowed = true;
  const queue = new Queue({ backend: new MemoryBackend() });
  const app = new Hono().route(
    "/kiln",
    dashboard({ queue, clock, refresh: 60_000, authorize: () => allowed }),
  );
  const response = await app.request("/kiln/api/events");
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  assert.match((await reader.read()).value ?? "", /event: snapshot/);
  allowed = false; // the operator's access is taken away
  await clock.armed(5 * 60_000);
  clock.advance(5 * 60_000);
  let rest = "";
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    rest += chunk.value;
  }
  assert.doesNotMatch(rest, /event: job/);
  const again = await app.request("/kiln/api/events");
  assert.equal(again.status, 403, "the page's EventSource reconnects and is refused");
  await again.body?.cancel();
});
