/**
 * `R2Store` inside workerd: the Workers example (examples/workers-uploads),
 * bundled as wrangler would, runs in miniflare with `env.BUCKET` bound to
 * Cloudflare's R2 simulator, and tus-js-client drives it over real HTTP on
 * the worker's port (miniflare's `dispatchFetch` would re-send bodies
 * chunked). A 64 MiB file goes up in 5 MiB-and-odd chunks, is aborted,
 * survives a restart of workerd (the bucket persisted in a folder), and is
 * finished; another goes up with `parallelUploads: 3`; both SHA-256s match
 * the bytes read back over R2's S3 API.
 *
 * Heavy (64 MiB through workerd twice), so it runs in `deno task test:storage`,
 * not in `deno task test`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bytes, tus } from "./_serve.ts";
import { type R2Simulator, startR2Simulator } from "./_r2_simulator.ts";
import { bucketReader, runTusClient, sha256 } from "./_object_store_helpers.ts";

const ROOT = join(import.meta.dirname!, "..", "..");
const CHUNK = 5 * 1024 * 1024 + 317_001;

/** Bundles the example worker for the browser platform, as wrangler does. */
async function bundleWorker(): Promise<string> {
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
        join(ROOT, "examples/workers-uploads/worker.ts"),
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
      await using first = await startR2Simulator({ script, persist });
      url = await runTusClient(data, {
        endpoint: new URL("/files", first.origin).href,
        chunkSize: CHUNK,
        stopAfter: 3 * CHUNK,
      });
    }
    await using second = await startR2Simulator({ script, persist });
    const path = new URL(url).pathname;
    const head = await fetch(new URL(path, second.origin), { method: "HEAD", headers: tus() });
    assert.equal(head.status, 200);
    const offset = Number(head.headers.get("Upload-Offset"));
    assert.ok(offset >= 3 * CHUNK && offset < data.byteLength, `offset ${offset}`);
    const resumed = await runTusClient(data, {
      uploadUrl: new URL(path, second.origin).href,
      chunkSize: CHUNK,
    });
    assert.equal(await storedSha256(second, resumed), await sha256(data));

    const parallel = bytes(20 * 1024 * 1024 + 99, 12);
    const joined = await runTusClient(parallel, {
      endpoint: new URL("/files", second.origin).href,
      parallelUploads: 3,
    });
    assert.equal(await storedSha256(second, joined), await sha256(parallel));
  } finally {
    await Deno.remove(persist, { recursive: true });
  }
});
