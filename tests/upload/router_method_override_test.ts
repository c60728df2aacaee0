/** `X-HTTP-Method-Override` is honoured on POST only, as tus specifies. */
import assert from "node:assert/strict";
import { create, send, setup } from "./_router.ts";
import { collect, patchHeaders, tus } from "./_serve.ts";

Deno.test("GET with X-HTTP-Method-Override: DELETE does not delete the upload", async () => {
  await using server = await setup();
  const location = await create(server.endpoint);
  const response = await send(location, {
    method: "GET",
    headers: tus({ "X-HTTP-Method-Override": "DELETE" }),
  });
  assert.equal(response.status, 405);
  const head = await send(location, { method: "HEAD", headers: tus() });
  assert.equal(head.status, 200, "the upload is still there");
  assert.deepEqual(server.store.paths(), [location.split("/").pop()]);
});

Deno.test("HEAD with X-HTTP-Method-Override: DELETE is a plain HEAD", async () => {
  await using server = await setup();
  const location = await create(server.endpoint);
  const response = await send(location, {
    method: "HEAD",
    headers: tus({ "X-HTTP-Method-Override": "DELETE" }),
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("Upload-Offset"), "0");
  assert.equal((await send(location, { method: "HEAD", headers: tus() })).status, 200);
});

Deno.test("PATCH with X-HTTP-Method-Override: DELETE appends bytes and deletes nothing", async () => {
  await using server = await setup();
  const location = await create(server.endpoint);
  const response = await send(location, {
    method: "PATCH",
    headers: patchHeaders(0, { "X-HTTP-Method-Override": "DELETE" }),
    body: "abc",
  });
  assert.equal(response.status, 204);
  assert.equal(response.headers.get("Upload-Offset"), "3");
  const id = location.split("/").pop()!;
  assert.equal(new TextDecoder().decode(await collect(await server.store.read(id))), "abc");
});

Deno.test("DELETE with X-HTTP-Method-Override: PATCH still terminates, it is not turned into a write", async () => {
  await using server = await setup();
  const location = await create(server.endpoint);
  const response = await send(location, {
    method: "DELETE",
    headers: patchHeaders(0, { "X-HTTP-Method-Override": "PATCH" }),
    body: "abc",
  });
  assert.equal(response.status, 204);
  assert.equal(response.headers.get("Upload-Offset"), null, "answered as DELETE, not PATCH");
  assert.equal((await send(location, { method: "HEAD", headers: tus() })).status, 404);
  assert.deepEqual(server.store.paths(), []);
});

Deno.test("GET with X-HTTP-Method-Override: PATCH writes nothing", async () => {
  await using server = await setup();
  const location = await create(server.endpoint);
  const response = await send(location, {
    method: "GET",
    headers: { ...patchHeaders(0), "X-HTTP-Method-Override": "PATCH" },
  });
  assert.equal(response.status, 405);
  const head = await send(location, { method: "HEAD", headers: tus() });
  assert.equal(head.headers.get("Upload-Offset"), "0");
});

Deno.test("POST with X-HTTP-Method-Override still works for DELETE, and an unknown override is 405", async () => {
  await using server = await setup();
  const location = await create(server.endpoint);
  const odd = await send(location, {
    method: "POST",
    headers: tus({ "X-HTTP-Method-Override": "PURGE" }),
  });
  assert.equal(odd.status, 405);
  const deleted = await send(location, {
    method: "POST",
    headers: tus({ "X-HTTP-Method-Override": "delete" }),
  });
  assert.equal(deleted.status, 204);
  assert.equal((await send(location, { method: "HEAD", headers: tus() })).status, 404);
});
