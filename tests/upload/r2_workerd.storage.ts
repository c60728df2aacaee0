/**
 * `R2Store` inside workerd: the Workers example (examples/workers-uploads),
 * bundled as wrangler would, runs in miniflare with `env.BUCKET` bound to
 * Cloudflare's R2 simulator and its Durable Object (upload records, locks and
 * the realtime hub) bound as `env.UPLOADS`, and tus-js-client drives it over
 * real HTTP on the worker's port (miniflare's `dispatchFetch` would re-send
 * bodies chunked). A 64 MiB file goes up in 5 MiB-and-odd chunks while a
 * realtime client follows its progress, is aborted, survives a restart of
 * workerd (the bucket and the object's storage persisted in a folder), and is
 * finished; another goes up with `parallelUploads: 3`; both SHA-256s match
 * the bytes read back over R2's S3 API.
 *
 * Heavy (64 MiB through workerd twice), so it runs in `deno task test:storage`,
 * not in `deno task test`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bytes, patchHeaders, tus } from "./_serve.ts";
import { RawRequest } from "./_hostile.ts";
import { type R2Simulator, startR2Simulator } from "./_r2_simulator.ts";
import { bucketReader, runTusClient, sha256 } from "./_object_store_helpers.ts";
import { SignJWT } from "jose";
import { RealtimeClient } from "../../src/realtime/client.ts";

const ROOT = join(import.meta.dirname!, "..", "..");
const CHUNK = 5 * 1024 * 1024 + 317_001;
const SECRET = "kiln-workers-example-test-secret";

/** The example's Durable Object and secret, persisted with the bucket. */
function workerOptions(script: string, persist: string) {
  return {
    script,
    persist,
    extra: {
      durableObjects: { UPLOADS: "UploadsObject" },
      durableObjectsPersist: persist,
      bindings: { JWT_SECRET: SECRET },
    },
  };
}

function token(user: string, secret = SECRET): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(user)
    .setExpirationTime("1h").sign(new TextEncoder().encode(secret));
}

async function bearer(user: string): Promise<Record<string, string>> {
  return { Authorization: `Bearer ${await token(user)}` };
}

/** Bundles a worker (the example by default) for the browser platform, as wrangler does. */
async function bundleWorker(entry = "examples/workers-uploads/worker.ts"): Promise<string> {
  const folder = await Deno.makeTempDir({ prefix: "kiln-worker-" });
  try {
    const output = join(folder, "worker.js");
    const { success, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "browser",
        "-o",
        output,
        join(ROOT, entry),
      ],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(success, new TextDecoder().decode(stderr));
    return await Deno.readTextFile(output);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
}

async function storedSha256(bucket: R2Simulator, url: string): Promise<string> {
  const stored = await bucketReader(bucket).bytes(`uploads/${url.split("/").pop()}`);
  assert.ok(stored, "the finished file is in the bucket");
  return await sha256(stored);
}

Deno.test("R2Store in workerd: 64 MiB from tus-js-client in 5 MiB-and-odd chunks, aborted, workerd restarted, resumed; and parallelUploads: 3", async () => {
  const script = await bundleWorker();
  const persist = await Deno.makeTempDir({ prefix: "kiln-r2-" });
  try {
    const data = bytes(64 * 1024 * 1024, 11);
    let url: string;
    {
      await using first = await startR2Simulator(workerOptions(script, persist));
      url = await runTusClient(data, {
        endpoint: new URL("/files", first.origin).href,
        chunkSize: CHUNK,
        stopAfter: 3 * CHUNK,
        headers: await bearer("ada"),
      });
    }
    await using second = await startR2Simulator(workerOptions(script, persist));
    // The record lives in the Durable Object's storage; R2's info object holds only the parts.
    const info = await bucketReader(second).bytes(`uploads/${url.split("/").pop()}.info`);
    const { record, upload } = JSON.parse(new TextDecoder().decode(info!));
    assert.equal(record, null);
    assert.ok(upload.offset >= 3 * CHUNK && upload.parts.length >= 1, JSON.stringify(upload));
    const path = new URL(url).pathname;
    const head = await fetch(new URL(path, second.origin), {
      method: "HEAD",
      headers: tus(await bearer("ada")),
    });
    assert.equal(head.status, 200);
    const offset = Number(head.headers.get("Upload-Offset"));
    assert.ok(offset >= 3 * CHUNK && offset < data.byteLength, `offset ${offset}`);
    const resumed = await runTusClient(data, {
      uploadUrl: new URL(path, second.origin).href,
      chunkSize: CHUNK,
      headers: await bearer("ada"),
    });
    assert.equal(await storedSha256(second, resumed), await sha256(data));

    const parallel = bytes(20 * 1024 * 1024 + 99, 12);
    const joined = await runTusClient(parallel, {
      endpoint: new URL("/files", second.origin).href,
      parallelUploads: 3,
      headers: await bearer("ada"),
    });
    assert.equal(await storedSha256(second, joined), await sha256(parallel));
  } finally {
    await Deno.remove(persist, { recursive: true });
  }
});

/** A realtime client of `user` on the example's hub, recording every message it receives. */
async function follow(origin: URL, user: string) {
  const url = new URL("/ws", origin);
  url.protocol = "ws:";
  const client = new RealtimeClient({ url, token: () => token(user), reconnect: false });
  const messages: { event: string; data: { id: string; offset: number; length: number } }[] = [];
  client.on("message", (message) => messages.push(message as never));
  await client.connect();
  await client.subscribe(`private-user.${user}`);
  return { client, messages };
}

Deno.test("the Workers example in workerd: tus requests need a token, and the uploader's realtime channel gets the upload's progress from the Durable Object", async () => {
  const script = await bundleWorker();
  const persist = await Deno.makeTempDir({ prefix: "kiln-r2-" });
  try {
    await using worker = await startR2Simulator(workerOptions(script, persist));
    const endpoint = new URL("/files", worker.origin).href;
    const forged: Record<string, string>[] = [
      {},
      { Authorization: `Bearer ${await token("grace", "another-secret")}` },
    ];
    for (const headers of forged) {
      const refused = await fetch(endpoint, {
        method: "POST",
        headers: tus({ ...headers, "Upload-Length": "5" }),
      });
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get("Tus-Resumable"), "1.0.0");
      await refused.body?.cancel();
    }

    const grace = await follow(worker.origin, "grace");
    const ada = await follow(worker.origin, "ada");
    try {
      // A user's channel is theirs alone.
      await assert.rejects(grace.client.subscribe("private-user.ada"));
      const data = bytes(3 * CHUNK + 4_321, 13);
      const url = await runTusClient(data, {
        endpoint,
        chunkSize: CHUNK,
        headers: await bearer("grace"),
      });
      const id = url.split("/").pop()!;
      assert.equal(await storedSha256(worker, url), await sha256(data));
      const deadline = Date.now() + 10_000;
      while (!grace.messages.some((m) => m.event === "upload.complete")) {
        assert.ok(Date.now() < deadline, "upload.complete arrives");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const progress = grace.messages.filter((m) => m.event === "upload.progress");
      assert.ok(progress.length >= 4, `one event per PATCH at least, got ${progress.length}`);
      const offsets = progress.map((m) => m.data.offset);
      assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), "offsets only grow");
      assert.equal(offsets.at(-1), data.byteLength);
      for (const { data: event } of grace.messages) {
        assert.equal(event.id, id);
        assert.equal(event.length, data.byteLength);
      }
      assert.deepEqual(grace.messages.filter((m) => m.event === "upload.complete").length, 1);
      assert.deepEqual(ada.messages, [], "another user hears nothing");
      // The Cron Trigger's sweep runs in the object and keeps what is not due.
      // workerd's own scheduled-event path, as wrangler's /__scheduled route calls it.
      const fetcher = await worker.miniflare.getWorker() as unknown as {
        scheduled(event: { cron: string }): Promise<{ outcome: string }>;
      };
      const sweep = await fetcher.scheduled({ cron: "0 * * * *" });
      assert.equal(sweep.outcome, "ok");
      const kept = await fetch(url, { method: "HEAD", headers: tus(await bearer("grace")) });
      assert.equal(kept.status, 200);
      assert.equal(kept.headers.get("Upload-Offset"), String(data.byteLength));
    } finally {
      grace.client.close();
      ada.client.close();
    }
  } finally {
    await Deno.remove(persist, { recursive: true });
  }
});

Deno.test("R2Store in workerd streams whole parts through FixedLengthStream when the PATCH's length is known; a request dropped mid-part keeps the whole parts before it", async () => {
  const script = await bundleWorker("tests/upload/_r2_stream_worker.ts");
  await using bucket = await startR2Simulator({ script });
  const part = 8 * 1024 * 1024;
  const data = bytes(3 * part + 4321, 13);
  const endpoint = new URL("/files", bucket.origin).href;
  const sent = async () => await (await fetch(new URL("/sent", bucket.origin))).json();
  const created = await fetch(endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": String(data.byteLength) }),
  });
  assert.equal(created.status, 201);
  const url = new URL(created.headers.get("Location")!, bucket.origin).href;
  // A Uint8Array body goes with its Content-Length: part 1 is streamed.
  const first = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: data.subarray(0, part),
  });
  assert.equal(first.status, 204);
  assert.deepEqual(await sent(), ["stream 1"]);
  // Part 2 streams whole; the client vanishes halfway through part 3.
  {
    await using raw = await RawRequest.open("PATCH", url, {
      ...patchHeaders(part),
      "Content-Length": String(data.byteLength - part),
    });
    await raw.send(data.subarray(part, 2 * part + part / 2));
    await new Promise((resolve) => setTimeout(resolve, 300));
    raw.drop();
  }
  let offset = -1;
  for (let tries = 0; tries < 60; tries++) {
    const head = await fetch(url, { method: "HEAD", headers: tus() });
    offset = Number(head.headers.get("Upload-Offset"));
    if (offset === 2 * part) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(await sent(), ["stream 1", "stream 2", "stream 3"]);
  // Part 2 is kept; part 3 was cut off, so nothing of it is.
  assert.equal(offset, 2 * part);
  // Resumed: part 3 streamed again, the last bytes buffered at the end.
  const resumed = await fetch(url, {
    method: "PATCH",
    headers: patchHeaders(2 * part),
    body: data.subarray(2 * part),
  });
  assert.equal(resumed.status, 204);
  assert.deepEqual(await sent(), [
    "stream 1",
    "stream 2",
    "stream 3",
    "stream 3",
    "buffer 4",
  ]);
  assert.equal(await storedSha256(bucket, url), await sha256(data));
});
