/** The endpoint answers with and without a trailing slash, over a real socket. */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as tusClient from "tus-js-client";
import { Hono } from "hono";
import { MemoryStore, uploads } from "../../src/upload/mod.ts";
import { create, send, setup } from "./_router.ts";
import { bytes, collect, serve, tus } from "./_serve.ts";

Deno.test("POST to the endpoint with a trailing slash creates an upload whose Location has one slash", async () => {
  await using server = await setup();
  const location = await create(`${server.endpoint}/`);
  assert.match(location, new RegExp(`^${server.endpoint}/[A-Za-z0-9_-]+$`));
  const head = await send(location, { method: "HEAD", headers: tus() });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("Upload-Offset"), "0");
});

Deno.test("OPTIONS on the endpoint with a trailing slash answers discovery", async () => {
  await using server = await setup();
  const response = await send(`${server.endpoint}/`, { method: "OPTIONS" });
  assert.equal(response.status, 204);
  assert.equal(response.headers.get("Tus-Version"), "1.0.0");
});

Deno.test("tus-js-client with a trailing-slash endpoint uploads a whole file", async () => {
  await using server = await setup();
  const data = bytes(2500);
  const url = await new Promise<string>((resolve, reject) => {
    const client: tusClient.Upload = new tusClient.Upload(Buffer.from(data), {
      endpoint: `${server.endpoint}/`,
      chunkSize: 1000,
      retryDelays: [],
      storeFingerprintForResuming: false,
      onError: reject,
      onSuccess: () => resolve(client.url!),
    });
    client.start();
  });
  assert.doesNotMatch(url, /\/\/[A-Za-z0-9_-]+$/, "no double slash before the id");
  assert.deepEqual(await collect(await server.store.read(url.split("/").pop()!)), data);
});

Deno.test("the trailing slash opens nothing else: /files//, /files/<id>/ and the app's own routes", async () => {
  const files = uploads({ store: new MemoryStore(), maxSize: 100 });
  const app = new Hono().route("/files", files);
  app.get("/files/:id/download", (c) => c.text(`download ${c.req.param("id")}`));
  await using served = await serve(app);
  const endpoint = `${served.url}/files`;
  const location = await create(endpoint);
  for (const url of [`${endpoint}//`, `${location}/`, `${location}/x`]) {
    const created = await send(url, { method: "POST", headers: tus({ "Upload-Length": "3" }) });
    assert.equal(created.status, 404, `POST ${url}`);
    const deleted = await send(url, { method: "DELETE", headers: tus() });
    assert.equal(deleted.status, 404, `DELETE ${url}`);
  }
  assert.equal((await send(location, { method: "HEAD", headers: tus() })).status, 200);
  const id = location.split("/").pop();
  assert.equal((await send(`${location}/download`, {})).text, `download ${id}`);
});
