/**
 * Cases for `@kiln/core/dashboard` from the npm build: its pages, assets and
 * JSON API over a queue on the real Redis gateway, on every runtime (workerd
 * included: nothing is read from a file system), with escaping, the CSRF rule
 * and `authorize` holding everywhere.
 *
 * @module
 */
import { dashboard } from "@kiln/core/dashboard";
import { defineJob, MemoryBackend, Queue, RedisBackend, Worker } from "@kiln/core/queue";
import * as v from "valibot";
import * as assert from "./_assert.mjs";

/** The suite's name, printed by every runner. */
export const name = "dashboard";

const HOSTILE = "<script>alert(1)</script>";

const PEER_ADDRESS =
  "workerd has no peer address to read (a Worker sits behind Cloudflare's edge, " +
  'so "local-only" means nothing there), and the case needs node:net and node:os';

/**
 * The runtime's own `getConnInfo`, imported when the case runs: the workerd
 * bundle replaces these Node and Bun adapters with a module that throws
 * (see ../workerd/workerd.test.mjs), and a static import would load it.
 *
 * @param {"node" | "bun"} runtime
 * @returns {Promise<import("hono/conninfo").GetConnInfo>}
 */
async function runtimeGetConnInfo(runtime) {
  return runtime === "bun"
    ? (await import("hono/bun")).getConnInfo
    : (await import("@hono/node-server/conninfo")).getConnInfo;
}

/**
 * This machine's first non-loopback IPv4 address, to connect from as a peer
 * that "local-only" must refuse.
 *
 * @returns {Promise<string>}
 */
async function outsideAddress() {
  const { networkInterfaces } = await import("node:os");
  const found = Object.values(networkInterfaces()).flat()
    .find((i) => i && i.family === "IPv4" && !i.internal);
  if (!found) {
    throw new Error(
      "this case needs a non-loopback IPv4 interface to connect from",
    );
  }
  return found.address;
}

/**
 * A GET written by hand with the Host header given (fetch() sends the URL's),
 * as a DNS-rebinding page's request arrives: a hostile name, a loopback peer.
 *
 * @param {string} url
 * @param {string} host
 * @returns {Promise<number>} The response status.
 */
async function statusWithHost(url, host) {
  const { connect } = await import("node:net");
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let head = "";
    socket.setEncoding("latin1");
    socket.setTimeout(
      3000,
      () => socket.destroy(new Error("No response in 3s")),
    );
    socket.on("connect", () => {
      socket.write(
        `GET ${pathname} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
    });
    socket.on("data", (chunk) => {
      head += chunk;
      if (!head.includes("\r\n")) return;
      socket.destroy();
      resolve(Number(head.split(" ")[1]));
    });
    socket.on("error", reject);
    socket.on(
      "close",
      () => reject(new Error(`Connection closed before a response: ${head}`)),
    );
  });
}

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
  {
    name: '"local-only" serves a loopback peer over real HTTP and refuses a non-loopback peer ' +
      "whatever its headers claim, and a loopback peer asking for another host",
    runtimes: ["node", "bun"],
    because: PEER_ADDRESS,
    async run(ctx) {
      const queue = new Queue({ backend: new MemoryBackend() });
      const getConnInfo = await runtimeGetConnInfo(ctx.runtime);
      const server = await ctx.serve(({ app }) => {
        app.route(
          "/kiln",
          dashboard({ queue, authorize: "local-only", getConnInfo }),
        );
      }, { hostname: "0.0.0.0" });
      try {
        const local = await fetch(`${server.url}/kiln/api/queues`);
        assert.equal(local.status, 200);
        assert.deepEqual(await local.json(), { queues: [] });

        const port = new URL(server.url).port;
        const forged = await fetch(
          `http://${await outsideAddress()}:${port}/kiln/api/queues`,
          {
            headers: {
              "X-Forwarded-For": "127.0.0.1",
              "X-Real-IP": "127.0.0.1",
              Forwarded: "for=127.0.0.1",
            },
          },
        );
        assert.equal(forged.status, 403, "a non-loopback peer is refused");
        assert.equal(
          (await forged.json()).error,
          "Not allowed to see this dashboard",
        );

        // DNS rebinding: the hostile page's name resolves to 127.0.0.1, but its Host is its own.
        assert.equal(
          await statusWithHost(
            `${server.url}/kiln/api/queues`,
            `attacker.example:${port}`,
          ),
          403,
        );
        assert.equal(
          await statusWithHost(
            `${server.url}/kiln/api/queues`,
            `localhost:${port}`,
          ),
          200,
        );
      } finally {
        await server.close();
      }
    },
  },
];
