/**
 * `S3Store` on a virtual-host endpoint (`http://uploads.localhost:<port>/`,
 * the form AWS uses: `https://<bucket>.s3.<region>.amazonaws.com/`): every
 * request the store sends is addressed to the bucket's host with the key as
 * the whole path, and signed for that host, path and region. See
 * `_virtual_host.ts` for how the requests are seen as they would go over the
 * wire, checked, and forwarded to the R2 simulator.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AwsClient } from "aws4fetch";
import { bytes } from "./_serve.ts";
import { startR2Simulator } from "./_r2_simulator.ts";
import { bucketReader, PART, runTusClient, sha256 } from "./_object_store_helpers.ts";
import { startVirtualHost, type VirtualHostEndpoint } from "./_virtual_host.ts";

const REGION = "eu-west-1";

/** Starts `_s3_server.ts` with its fetch going through `proxy`, resolving its endpoint. */
async function storeProcess(options: Record<string, unknown>, proxy: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(import.meta.dirname!, "_s3_server.ts"), JSON.stringify(options)],
    env: { HTTP_PROXY: proxy, http_proxy: proxy, NO_PROXY: "", no_proxy: "" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { port } = JSON.parse((await reader.read()).value!);
  return {
    endpoint: `http://127.0.0.1:${port}/files`,
    async [Symbol.asyncDispose]() {
      child.kill();
      await child.status;
      await reader.cancel();
    },
  };
}

function assertAllVirtualHost(virtual: VirtualHostEndpoint): void {
  const host = new URL(virtual.endpoint).host;
  assert.ok(virtual.seen.length > 0);
  for (const request of virtual.seen) {
    assert.equal(request.refused, null, `${request.method} ${request.path}: ${request.refused}`);
    assert.equal(request.host, host);
  }
}

Deno.test("S3Store on a virtual-host endpoint addresses every request to the bucket's host, signed for it: tus-js-client uploads across parts and joins parallel uploads", async () => {
  await using bucket = await startR2Simulator();
  await using virtual = await startVirtualHost(bucket, REGION);
  await using server = await storeProcess({
    endpoint: virtual.endpoint,
    region: REGION,
    accessKeyId: bucket.accessKeyId,
    secretAccessKey: bucket.secretAccessKey,
    partSize: PART,
  }, virtual.proxy);

  const data = bytes(2 * PART + 123_457, 21);
  const url = await runTusClient(data, { endpoint: server.endpoint, chunkSize: 3 << 20 });
  const id = url.split("/").pop()!;
  assert.equal(await sha256((await bucketReader(bucket).bytes(id))!), await sha256(data));
  assertAllVirtualHost(virtual);
  const calls = virtual.seen.map((r) => `${r.method} ${r.path}${r.search.replace(/=[^&]*/g, "")}`);
  // CreateMultipartUpload, UploadPart, CompleteMultipartUpload, the tail and the info object:
  // each names the key as the whole path, never /uploads/<key>.
  for (
    const call of [
      `POST /${id}?uploads`,
      `PUT /${id}?partNumber&uploadId`,
      `POST /${id}?uploadId`,
      `PUT /${id}.part`,
      `PUT /${id}.info`,
      `GET /${id}.info`,
    ]
  ) {
    assert.ok(calls.includes(call), `${call} in ${calls.join(", ")}`);
  }

  // Two partials of a part and a half each: the final upload copies whole parts (UploadPartCopy,
  // whose copy source names the bucket that the host carries) and gathers the rest.
  virtual.seen.length = 0;
  const parallel = bytes(3 * PART + 999, 22);
  const joined = await runTusClient(parallel, { endpoint: server.endpoint, parallelUploads: 2 });
  const final = joined.split("/").pop()!;
  assert.equal(await sha256((await bucketReader(bucket).bytes(final))!), await sha256(parallel));
  assertAllVirtualHost(virtual);
  const copies = virtual.seen.filter((r) => r.copySource !== null);
  assert.ok(copies.length > 0, "a part was copied server-side");
  for (const copy of copies) assert.match(copy.copySource!, /^\/uploads\/[A-Za-z0-9_-]+$/);
});

Deno.test("the virtual-host endpoint refuses a request signed with another secret, for another host or path-style", async () => {
  await using bucket = await startR2Simulator();
  await using virtual = await startVirtualHost(bucket, REGION);
  using client = Deno.createHttpClient({ proxy: { url: virtual.proxy } });
  const send = async (secretAccessKey: string, url: string) => {
    const signer = new AwsClient({
      accessKeyId: bucket.accessKeyId,
      secretAccessKey,
      service: "s3",
      region: REGION,
    });
    const response = await fetch(await signer.sign(url, { method: "PUT", body: "x" }), {
      client,
    } as RequestInit);
    await response.body?.cancel();
    return response.status;
  };
  assert.equal(await send(bucket.secretAccessKey, `${virtual.endpoint}a.txt`), 200);
  assert.equal(await send("not-the-secret", `${virtual.endpoint}b.txt`), 403);
  assert.equal(await send(bucket.secretAccessKey, `${virtual.endpoint}uploads/c.txt`), 403);
  assert.deepEqual(virtual.seen.map((r) => r.refused), [
    null,
    "signature does not match",
    "path-style path on a virtual-host endpoint",
  ]);
  assert.deepEqual(await bucketReader(bucket).keys(), ["a.txt"]);
});
