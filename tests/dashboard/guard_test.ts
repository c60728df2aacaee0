/**
 * Who may reach the dashboard: `authorize` on every route, `"local-only"`
 * from the socket's peer address (never from headers) and a loopback Host,
 * and POSTs only from the dashboard's own origin.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { getConnInfo } from "hono/deno";
import * as v from "valibot";
import { dashboard } from "../../src/dashboard/mod.ts";
import { isLoopbackAddress, isLoopbackHost } from "../../src/dashboard/_loopback.ts";
import { defineJob, MemoryBackend, Queue, Worker } from "../../src/queue/mod.ts";
import { outsideAddress } from "./_outside_address.ts";

const failing = defineJob({
  name: "failing",
  schema: v.object({ n: v.number() }),
  maxRetries: 0,
  handle() {
    throw new Error("always");
  },
});

async function queueWithFailedJob(): Promise<{ queue: Queue; id: string }> {
  const queue = new Queue({ backend: new MemoryBackend() });
  const { id } = await queue.dispatch(failing, { n: 1 });
  await new Worker(queue, { jobs: [failing] }).drain({ maxJobs: 1 });
  assert.equal((await queue.job(id))?.state, "failed");
  return { queue, id };
}

Deno.test("dashboard() refuses to be built without authorize, or local-only without getConnInfo", () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  assert.throws(
    () => dashboard({ queue } as unknown as Parameters<typeof dashboard>[0]),
    TypeError,
  );
  assert.throws(() => dashboard({ queue, authorize: "local-only" }), /getConnInfo/);
  assert.throws(() => dashboard({ queue, authorize: () => true, refresh: 0 }), RangeError);
});

Deno.test("authorize answering false refuses pages, API, assets, live events and actions with 403", async () => {
  const { queue, id } = await queueWithFailedJob();
  const seen: string[] = [];
  const app = new Hono().route(
    "/kiln",
    dashboard({
      queue,
      authorize: (c) => {
        seen.push(c.req.path);
        return false;
      },
    }),
  );
  for (
    const path of [
      "/kiln",
      "/kiln/jobs",
      "/kiln/api/queues",
      "/kiln/assets/dashboard.js",
      "/kiln/api/events",
      "/kiln/no-such-page",
    ]
  ) {
    const response = await app.request(path);
    assert.equal(response.status, 403, path);
    await response.body?.cancel();
  }
  const retry = await app.request(`/kiln/api/jobs/${id}/retry`, {
    method: "POST",
    headers: { Origin: "http://localhost" },
  });
  assert.equal(retry.status, 403);
  assert.equal((await retry.json()).error, "Not allowed to see this dashboard");
  assert.equal((await queue.job(id))?.state, "failed", "nothing was retried");
  assert.equal(seen.length, 7);
});

Deno.test("an authorize that throws an HTTPException answers with that response (a basic-auth challenge)", async () => {
  const { basicAuth } = await import("hono/basic-auth");
  const queue = new Queue({ backend: new MemoryBackend() });
  const login = basicAuth({ username: "ops", password: "pw" });
  const app = new Hono().route(
    "/kiln",
    dashboard({
      queue,
      authorize: async (c) => {
        await login(c, async () => {});
        return true;
      },
    }),
  );
  const refused = await app.request("/kiln/");
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get("WWW-Authenticate") ?? "", /^Basic/);
  await refused.body?.cancel();
  const wrong = await app.request("/kiln/", {
    headers: { Authorization: `Basic ${btoa("ops:no")}` },
  });
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
  const ok = await app.request("/kiln/", { headers: { Authorization: `Basic ${btoa("ops:pw")}` } });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /<h1>Overview<\/h1>/);
});

Deno.test("loopback addresses and host names are told from look-alikes", () => {
  for (
    const address of [
      "127.0.0.1",
      "127.255.0.9",
      "::1",
      "0:0:0:0:0:0:0:1",
      "::ffff:127.0.0.1",
      "[::1]",
      "::0001",
      "::FFFF:127.0.0.1",
      "::ffff:7f00:1",
      "0:0:0:0:0:ffff:127.0.0.1",
      "0:0:0:0:0:FFFF:7F00:0001",
    ]
  ) {
    assert.equal(isLoopbackAddress(address), true, address);
  }
  for (
    const address of [
      undefined,
      "",
      "10.0.0.1",
      "192.0.2.2",
      "127.0.0.1.nip.io",
      "127.0.0.256",
      "::ffff:10.0.0.1",
      "::",
      "1::",
      "fe80::1",
      "::2",
      "1::1",
      "::00001",
      "::1::1",
      ":::1",
      "::1%lo",
      "0:0:0:0:0:0:0:0:1",
      "::127.0.0.1",
      "::ffff:0:127.0.0.1",
      "::ffff:7f00:1:1",
      "::ffff:127.0.0.256",
      "::ffff:a00:1",
    ]
  ) {
    assert.equal(isLoopbackAddress(address), false, String(address));
  }
  for (
    const host of ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "app.localhost"]
  ) {
    assert.equal(isLoopbackHost(host), true, host);
  }
  for (
    const host of [
      undefined,
      "evil.example",
      "localhost.evil.example",
      "127.0.0.1.nip.io:80",
      "[::2]:80",
      "192.0.2.2:8000",
    ]
  ) {
    assert.equal(isLoopbackHost(host), false, String(host));
  }
});

/** Sends GET /kiln/api/queues to 127.0.0.1 with the Host header given, and reads the status. */
async function rawStatus(port: number, host: string): Promise<number> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const request = `GET /kiln/api/queues HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    await connection.write(new TextEncoder().encode(request));
    const reply = await new Response(connection.readable).text();
    return Number(reply.match(/^HTTP\/1\.1 (\d{3})/)?.[1]);
  } catch (error) {
    connection.close();
    throw error;
  }
}

Deno.test('"local-only" serves loopback peers and refuses others, whatever their headers claim', async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const app = new Hono().route("/kiln", dashboard({ queue, authorize: "local-only", getConnInfo }));
  const server = Deno.serve({ hostname: "0.0.0.0", port: 0, onListen() {} }, app.fetch);
  try {
    const port = server.addr.port;
    const local = await fetch(`http://127.0.0.1:${port}/kiln/api/queues`);
    assert.equal(local.status, 200);
    assert.deepEqual(await local.json(), { queues: [] });

    const outside = outsideAddress();
    const forged = await fetch(`http://${outside}:${port}/kiln/api/queues`, {
      headers: {
        Host: `127.0.0.1:${port}`,
        "X-Forwarded-For": "127.0.0.1",
        "X-Real-IP": "127.0.0.1",
        Forwarded: "for=127.0.0.1",
      },
    });
    assert.equal(forged.status, 403, "a non-loopback peer is refused even with loopback headers");
    await forged.body?.cancel();

    // DNS rebinding: a hostile page's name now resolves to 127.0.0.1, but the browser sends its name.
    // fetch() will not send another Host than the URL's, so this request is written by hand.
    assert.equal(await rawStatus(port, `attacker.example:${port}`), 403);
    assert.equal(await rawStatus(port, `localhost:${port}`), 200);
  } finally {
    await server.shutdown();
  }
});

Deno.test('"local-only" refuses a request with no connection info (in-process app.request)', async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const app = new Hono().route("/kiln", dashboard({ queue, authorize: "local-only", getConnInfo }));
  const response = await app.request("http://localhost/kiln/api/queues");
  assert.equal(response.status, 403);
  await response.body?.cancel();
});

Deno.test("a POST from another origin, or with no origin at all, is refused and changes nothing", async () => {
  const { queue, id } = await queueWithFailedJob();
  const app = new Hono().route("/kiln", dashboard({ queue, authorize: () => true }));
  const url = `http://localhost:8000/kiln/api/jobs/${id}/retry`;
  const hostile: Record<string, string>[] = [
    { Origin: "https://evil.example" },
    { Origin: "null" },
    { Origin: "http://localhost:8001" },
    {},
    { "Sec-Fetch-Site": "cross-site" },
    { "Sec-Fetch-Site": "same-site" },
    { Referer: "http://localhost:8000/kiln/" },
  ];
  for (const headers of hostile) {
    const response = await app.request(url, { method: "POST", headers });
    assert.equal(response.status, 403, JSON.stringify(headers));
    assert.match((await response.json()).error, /Cross-site request refused/);
  }
  const bulk = await app.request("http://localhost:8000/kiln/api/jobs/retry-all?state=failed", {
    method: "POST",
    headers: { Origin: "https://evil.example" },
  });
  assert.equal(bulk.status, 403);
  await bulk.body?.cancel();
  assert.equal((await queue.job(id))?.state, "failed");

  const same = await app.request(url, {
    method: "POST",
    headers: { Origin: "http://localhost:8000" },
  });
  assert.equal(same.status, 200);
  assert.deepEqual(await same.json(), { ok: true });
  assert.equal((await queue.job(id))?.state, "waiting");
});

Deno.test("behind a proxy that ends TLS, the https Origin of the same host is the dashboard's own", async () => {
  const { queue, id } = await queueWithFailedJob();
  const app = new Hono().route("/kiln", dashboard({ queue, authorize: () => true }));
  const url = `http://ops.example/kiln/api/jobs/${id}/retry`;
  for (
    const origin of ["https://evil.example", "https://ops.example:8443", "http://ops.example.evil"]
  ) {
    const response = await app.request(url, { method: "POST", headers: { Origin: origin } });
    assert.equal(response.status, 403, origin);
    await response.body?.cancel();
  }
  const downgraded = await app.request(`https://ops.example/kiln/api/jobs/${id}/retry`, {
    method: "POST",
    headers: { Origin: "http://ops.example" },
  });
  assert.equal(downgraded.status, 403, "an http page may not act on the https dashboard");
  await downgraded.body?.cancel();
  assert.equal((await queue.job(id))?.state, "failed");
  const proxied = await app.request(url, {
    method: "POST",
    headers: { Origin: "https://ops.example" },
  });
  assert.equal(proxied.status, 200);
  await proxied.body?.cancel();
  assert.equal((await queue.job(id))?.state, "waiting");
});

Deno.test("a browser's same-origin POST without Origin passes on Sec-Fetch-Site", async () => {
  const { queue, id } = await queueWithFailedJob();
  const app = new Hono().route("/kiln", dashboard({ queue, authorize: () => true }));
  const response = await app.request(`http://localhost/kiln/api/jobs/${id}/retry`, {
    method: "POST",
    headers: { "Sec-Fetch-Site": "same-origin" },
  });
  assert.equal(response.status, 200);
  await response.body?.cancel();
});
