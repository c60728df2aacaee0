import assert from "node:assert/strict";
import { Hono } from "hono";
import { type UploadInfo, uploads, type UploadsOptions } from "../../src/upload/mod.ts";
import { FileStore } from "../../src/upload/file_store.ts";
import { b64, bytes, patchHeaders, png, serve, tus } from "./_serve.ts";

/** A server on a FileStore inside a fresh temp dir; the dir's parent is also watched. */
async function setup(options: Partial<UploadsOptions> = {}) {
  const root = await Deno.makeTempDir({ prefix: "kiln-upload-" });
  const directory = `${root}/files`;
  const completed: UploadInfo[] = [];
  const files = uploads({
    store: new FileStore({ directory }),
    maxSize: 100_000,
    onComplete: (upload) => void completed.push(upload),
    ...options,
  });
  const served = await serve(new Hono().route("/files", files));
  return {
    root,
    directory,
    completed,
    endpoint: `${served.url}/files`,
    /** Every file below the temp root, as paths relative to it. */
    async tree(): Promise<string[]> {
      const found: string[] = [];
      const walk = async (dir: string, prefix: string) => {
        for await (const entry of Deno.readDir(dir)) {
          if (entry.isDirectory) await walk(`${dir}/${entry.name}`, `${prefix}${entry.name}/`);
          else found.push(`${prefix}${entry.name}`);
        }
      };
      await walk(root, "");
      return found.sort();
    },
    async [Symbol.asyncDispose]() {
      await served[Symbol.asyncDispose]();
      await Deno.remove(root, { recursive: true });
    },
  };
}

async function send(url: string, init: RequestInit) {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

Deno.test("allowedTypes accepts a file whose magic bytes match and tells onComplete its type", async () => {
  await using server = await setup({ allowedTypes: ["image/*"] });
  const response = await send(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "5000", "Content-Type": "application/offset+octet-stream" }),
    body: png(5000),
  });
  assert.equal(response.status, 201);
  assert.equal(server.completed[0].type, "image/png");
});

Deno.test("a file whose magic bytes are not allowed gets 415 and leaves nothing behind, whatever it claims", async () => {
  await using server = await setup({ allowedTypes: ["image/png"] });
  const created = await send(server.endpoint, {
    method: "POST",
    headers: tus({
      "Upload-Length": "20000",
      "Upload-Metadata": `filetype ${b64("image/png")},filename ${b64("cat.png")}`,
    }),
  });
  const location = created.headers.get("Location")!;
  const refused = await send(location, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: bytes(20_000),
  });
  assert.equal(refused.status, 415);
  assert.match(refused.text, /could not be recognised; allowed: image\/png/);
  assert.equal((await send(location, { method: "HEAD", headers: tus() })).status, 404);
  assert.deepEqual(await server.tree(), []);
  assert.deepEqual(server.completed, []);
});

Deno.test("a recognised but unlisted type is named in the 415 message", async () => {
  await using server = await setup({ allowedTypes: ["application/pdf"] });
  const response = await send(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "5000", "Content-Type": "application/offset+octet-stream" }),
    body: png(5000),
  });
  assert.equal(response.status, 415);
  assert.match(response.text, /File type image\/png is not allowed/);
  assert.deepEqual(await server.tree(), []);
});

Deno.test("the type check waits for enough first bytes across small chunks, then refuses and removes everything", async () => {
  await using server = await setup({ allowedTypes: ["image/*"] });
  const created = await send(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "9000" }),
  });
  const location = created.headers.get("Location")!;
  const data = bytes(9000);
  const first = await send(location, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: data.slice(0, 1000),
  });
  assert.equal(first.status, 204, "too few bytes to decide yet");
  const second = await send(location, {
    method: "PATCH",
    headers: patchHeaders(1000),
    body: data.slice(1000, 9000),
  });
  assert.equal(second.status, 415);
  assert.deepEqual(await server.tree(), []);
});

Deno.test("the type check across small chunks accepts a PNG sent 1000 bytes at a time", async () => {
  await using server = await setup({ allowedTypes: ["image/png"] });
  const created = await send(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "6000" }),
  });
  const location = created.headers.get("Location")!;
  const data = png(6000);
  for (let offset = 0; offset < 6000; offset += 1000) {
    const response = await send(location, {
      method: "PATCH",
      headers: patchHeaders(offset),
      body: data.slice(offset, offset + 1000),
    });
    assert.equal(response.status, 204);
  }
  assert.equal(server.completed[0].type, "image/png");
  const id = location.split("/").pop()!;
  assert.deepEqual(await Deno.readFile(`${server.directory}/${id}`), data);
});

Deno.test("a file too short to recognise is refused once complete", async () => {
  await using server = await setup({ allowedTypes: ["image/*"] });
  const response = await send(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "3", "Content-Type": "application/offset+octet-stream" }),
    body: "abc",
  });
  assert.equal(response.status, 415);
  assert.deepEqual(await server.tree(), []);
});

Deno.test("refused sizes leave nothing behind on disk, at creation and while bytes arrive", async () => {
  await using server = await setup({ maxSize: 10 });
  const tooBig = await send(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Length": "11" }),
  });
  assert.equal(tooBig.status, 413);
  assert.deepEqual(await server.tree(), []);
  const created = await send(server.endpoint, {
    method: "POST",
    headers: tus({ "Upload-Defer-Length": "1" }),
  });
  const location = created.headers.get("Location")!;
  const over = await send(location, {
    method: "PATCH",
    headers: patchHeaders(0),
    body: new Blob(["123456", "789012"]).stream(),
  });
  assert.equal(over.status, 413);
  const id = location.split("/").pop()!;
  assert.equal(
    (await Deno.stat(`${server.directory}/.partial/${id}`)).size,
    0,
    "no byte of the chunk kept",
  );
  assert.equal((await send(location, { method: "DELETE", headers: tus() })).status, 204);
  assert.deepEqual(await server.tree(), []);
});

Deno.test("a hostile filename in Upload-Metadata never steers where bytes are written", async () => {
  await using server = await setup();
  for (
    const name of [
      "../../escaped.txt",
      "/tmp/abs.txt",
      "..\\..\\win.txt",
      "a/../../../b",
      "%2e%2e%2fx",
    ]
  ) {
    const response = await send(server.endpoint, {
      method: "POST",
      headers: tus({
        "Upload-Length": "4",
        "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": `filename ${b64(name)},name ${b64(name)},path ${b64(name)}`,
      }),
      body: "data",
    });
    assert.equal(response.status, 201, name);
    const id = response.headers.get("Location")!.split("/").pop()!;
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal(
      server.completed.at(-1)!.metadata.filename,
      name,
      "metadata is kept verbatim, as data",
    );
  }
  const tree = await server.tree();
  const records = tree.filter((file) => file.startsWith("files/.info/"));
  const stored = tree.filter((file) => !records.includes(file));
  assert.equal(stored.length, 5);
  for (const file of stored) assert.match(file, /^files\/[0-9a-f]{32}$/);
  // The FileStore keeps each upload's record beside its bytes, named by the id alone.
  assert.deepEqual(records, stored.map((file) => file.replace("files/", "files/.info/") + ".json"));
});
