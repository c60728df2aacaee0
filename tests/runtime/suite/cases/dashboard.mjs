/**
 * Cases for `@kiln/core/dashboard` from the npm build: its pages, assets and
 * JSON API over a queue on the real Redis gateway, on every runtime (workerd
 * included: nothing is read from a file system), with escaping, the CSRF rule
 * and `authorize` holding everywhere.
 *
 * @module
 */
import { dashboard } from "@kiln/core/dashboard";
import { defineJob, Queue, RedisBackend, Worker } from "@kiln/core/queue";
import * as v from "valibot";
import * as assert from "./_assert.mjs";

/** The suite's name, printed by every runner. */
export const name = "dashboard";

const HOSTILE = "<script>alert(1)</script>";

const failing = defineJob({
  name: "failing",
  queue: "dash",
  schema: v.object({ note: v.string() }),
  tags: (payload) => [`note:${payload.note.length}`],
  maxRetries: 0,
  handle(payload) {
    throw new Error(payload.note);
  },
});

/** @param {import("./mod.mjs").CaseContext} ctx */
async function queueWithFailedJob(ctx) {
  const redis = new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken });
  const queue = new Queue({
    backend: new RedisBackend({ redis, prefix: `${ctx.namespace}-dash` }),
  });
  const { id } = await queue.dispatch(failing, { note: HOSTILE });
  const summary = await new Worker(queue, { jobs: [failing] }).drain({
    maxJobs: 1,
  });
  assert.equal(summary.failed, 1);
  return { queue, id };
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "pages, assets and the JSON API serve a Redis queue, escaping what a job carries",
    async run(ctx) {
      const { queue, id } = await queueWithFailedJob(ctx);
      const app = dashboard({ queue, authorize: () => true });
      const listed = await (await app.request("/api/jobs?queue=dash&tag=note:25")).json();
      assert.deepEqual(listed.jobs.map((job) => job.id), [id]);
      const page = await app.request(`/jobs/${id}?queue=dash`);
      assert.equal(page.status, 200);
      const csp = page.headers.get("content-security-policy") ?? "";
      assert.ok(csp.includes("script-src 'self'"), "no inline script may run");
      const text = await page.text();
      assert.ok(!text.includes(HOSTILE), "the payload is not live markup");
      assert.ok(
        text.includes("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "it is shown as text",
      );
      const script = await app.request("/assets/dashboard.js");
      assert.equal(
        script.headers.get("content-type"),
        "text/javascript; charset=utf-8",
      );
      assert.ok(
        (await script.text()).includes("EventSource"),
        "the live-update script",
      );
    },
  },
  {
    name: "a cross-site POST is refused and a same-origin retry moves the job back to waiting",
    async run(ctx) {
      const { queue, id } = await queueWithFailedJob(ctx);
      const app = dashboard({ queue, authorize: () => true });
      const url = `http://localhost/api/jobs/${id}/retry?queue=dash`;
      const forged = await app.request(url, {
        method: "POST",
        headers: { Origin: "https://evil.example" },
      });
      assert.equal(forged.status, 403);
      await forged.body?.cancel();
      assert.equal((await queue.job(id, "dash"))?.state, "failed");
      const same = await app.request(url, {
        method: "POST",
        headers: { Origin: "http://localhost" },
      });
      assert.equal(same.status, 200);
      assert.deepEqual(await same.json(), { ok: true });
      assert.equal((await queue.job(id, "dash"))?.state, "waiting");
    },
  },
  {
    name: "authorize answering false refuses every route with 403",
    async run(ctx) {
      const { queue } = await queueWithFailedJob(ctx);
      const app = dashboard({ queue, authorize: () => false });
      for (
        const path of ["/", "/jobs", "/api/queues", "/assets/dashboard.css"]
      ) {
        const response = await app.request(path);
        assert.equal(response.status, 403, path);
        await response.body?.cancel();
      }
    },
  },
];
