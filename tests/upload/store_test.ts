import assert from "node:assert/strict";
import { MemoryStore } from "../../src/upload/mod.ts";
import type { UploadStore } from "../../src/upload/store_mod.ts";
import { UploadError } from "../../src/upload/errors.ts";
import { FileStore } from "../../src/upload/file_store.ts";
import { bytes, collect } from "./_serve.ts";

const encode = (text: string) => new TextEncoder().encode(text);

async function withStores(test: (store: UploadStore, label: string) => Promise<void>) {
  await test(new MemoryStore(), "MemoryStore");
  const directory = await Deno.makeTempDir({ prefix: "kiln-upload-" });
  try {
    await test(new FileStore({ directory }), "FileStore");
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

Deno.test("startChunkedUpload() appends chunks and finalize() makes them the file", async () => {
  await withStores(async (store, label) => {
    const upload = await store.startChunkedUpload("docs/a.txt");
    await upload.append(encode("hello "));
    await upload.append(encode("world"));
    assert.equal(upload.offset, 11, label);
    assert.equal(await store.stat("docs/a.txt"), null, `${label}: no file before finalize`);
    assert.deepEqual(await upload.finalize(), { path: "docs/a.txt", size: 11 });
    assert.equal(
      new TextDecoder().decode(await collect(await store.read("docs/a.txt"))),
      "hello world",
    );
    await assert.rejects(
      upload.append(encode("x")),
      (e) => e instanceof UploadError && e.code === "UPLOAD_CLOSED",
    );
  });
});

Deno.test("abort() leaves nothing behind and rollback() drops bytes after an offset", async () => {
  await withStores(async (store, label) => {
    const upload = await store.startChunkedUpload("x.bin");
    await upload.append(encode("abcdef"));
    await upload.rollback(2);
    await upload.append(encode("XY"));
    await upload.release();
    const resumed = await store.resumeChunkedUpload("x.bin", 4);
    assert.equal(resumed.offset, 4, label);
    await resumed.abort();
    await assert.rejects(
      store.resumeChunkedUpload("x.bin", 0),
      (e) => e instanceof UploadError && e.code === "UPLOAD_NOT_FOUND",
    );
    assert.equal(await store.delete("x.bin"), false, `${label}: nothing left to delete`);
  });
});

Deno.test("resumeChunkedUpload() truncates bytes past the recorded offset and refuses missing ones", async () => {
  await withStores(async (store, label) => {
    const upload = await store.startChunkedUpload("r");
    await upload.append(encode("0123456789"));
    await upload.release();
    await assert.rejects(store.resumeChunkedUpload("r", 11), UploadError, label);
    const resumed = await store.resumeChunkedUpload("r", 4);
    await resumed.append(encode("ab"));
    await resumed.finalize();
    assert.equal(new TextDecoder().decode(await collect(await store.read("r"))), "0123ab");
  });
});

Deno.test("uploadWithProgress() reports growing byte counts and removes the partial file on a failing stream", async () => {
  await withStores(async (store, label) => {
    const seen: number[] = [];
    const data = bytes(300_000);
    const file = await store.uploadWithProgress(
      "big.bin",
      new Blob([data, data]).stream(),
      (n) => seen.push(n),
    );
    assert.equal(file.size, 600_000, label);
    assert.equal(seen.at(-1), 600_000);
    assert.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]));
    assert.deepEqual(
      await collect(await store.read("big.bin")),
      new Uint8Array([...data, ...data]),
    );

    const failing = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encode("partial"));
        controller.error(new Error("connection lost"));
      },
    });
    await assert.rejects(store.uploadWithProgress("failed.bin", failing), /connection lost/);
    assert.equal(await store.stat("failed.bin"), null);
    await assert.rejects(
      store.resumeChunkedUpload("failed.bin", 0),
      UploadError,
      `${label}: no partial`,
    );
  });
});

Deno.test("stores refuse traversal, absolute, hidden and empty paths before touching anything", async () => {
  const directory = await Deno.makeTempDir({ prefix: "kiln-upload-" });
  try {
    for (const store of [new MemoryStore(), new FileStore({ directory: `${directory}/root` })]) {
      for (
        const path of [
          "../evil",
          "a/../../evil",
          "/etc/passwd",
          ".partial/x",
          "a//b",
          "",
          "a/",
          "a\\..\\b",
          "a\0b",
          "é",
        ]
      ) {
        await assert.rejects(store.startChunkedUpload(path), TypeError, JSON.stringify(path));
        await assert.rejects(store.stat(path), TypeError);
        await assert.rejects(store.delete(path), TypeError);
        await assert.rejects(store.uploadWithProgress(path, new Blob(["x"]).stream()), TypeError);
      }
    }
    const left = [...Deno.readDirSync(directory)].map((entry) => entry.name);
    assert.deepEqual(left, [], "nothing was created anywhere");
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("startChunkedUpload() refuses a path already held by an unfinished upload", async () => {
  await withStores(async (store) => {
    const first = await store.startChunkedUpload("same");
    await assert.rejects(
      store.startChunkedUpload("same"),
      (e) => e instanceof UploadError && e.code === "UPLOAD_EXISTS",
    );
    await first.abort();
  });
});
