import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  MemoryUploadState,
  RedisUploadState,
  type UploadRecord,
  uploads,
  type UploadState,
} from "../../src/upload/mod.ts";
import { FileStore } from "../../src/upload/file_store.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { bytes, patchHeaders, serve, tus } from "./_serve.ts";

function record(id: string, sweepAt: number | null): UploadRecord {
  return {
    id,
    length: 10,
    offset: 0,
    metadata: { filename: "a.txt" },
    rawMetadata: "filename YS50eHQ=",
    createdAt: 1,
    expiresAt: sweepAt,
    completedAt: null,
    type: null,
    head: null,
    sweepAt,
  };
}

async function conformance(state: UploadState, t: Deno.TestContext) {
  await t.step("create() refuses a taken id and get() reads the record back", async () => {
    assert.equal(await state.create(record("a", 100)), true);
    assert.equal(await state.create({ ...record("a", 100), offset: 3 }), false);
    assert.deepEqual(await state.get("a"), record("a", 100));
    assert.equal(await state.get("missing"), null);
  });
  await t.step("save() updates an existing record and never revives a deleted one", async () => {
    assert.equal(await state.save({ ...record("a", 200), offset: 4 }), true);
    assert.equal((await state.get("a"))!.offset, 4);
    assert.equal(await state.delete("a"), true);
    assert.equal(await state.save(record("a", 200)), false);
    assert.equal(await state.get("a"), null);
    assert.equal(await state.delete("a"), false);
  });
  await t.step("due() lists records whose sweep time has passed, oldest first", async () => {
    await state.create(record("late", 300));
    await state.create(record("early", 100));
    await state.create(record("never", null));
    assert.deepEqual(await state.due(250, 10), ["early"]);
    assert.deepEqual(await state.due(300, 10), ["early", "late"]);
    assert.deepEqual(await state.due(300, 1), ["early"]);
    await state.save({ ...record("early", null), completedAt: 5 });
    assert.deepEqual(await state.due(1_000, 10), ["late"]);
  });
  await t.step("lock() admits one holder at a time", async () => {
    const first = await state.lock("x");
    assert.ok(first);
    assert.equal(await state.lock("x"), null);
    await first.release();
    await first.release();
    const second = await state.lock("x");
    assert.ok(second);
    await second.release();
  });
}

Deno.test("MemoryUploadState keeps records, sweep order and locks", async (t) => {
  await conformance(new MemoryUploadState(), t);
});

Deno.test("RedisUploadState on a real Redis", async (t) => {
  await using stack = await startRedisStack();

  await t.step("behaves like MemoryUploadState", async (t) => {
    await conformance(new RedisUploadState({ redis: stack.redis, name: "conformance" }), t);
  });

  await t.step("a held lock is renewed past its lockTtl while the holder works", async () => {
    const state = new RedisUploadState({ redis: stack.newRedis(), name: "renew", lockTtl: 150 });
    const lock = await state.lock("z");
    assert.ok(lock);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(await state.lock("z"), null, "still held after more than twice the TTL");
    await lock.release();
  });

  await t.step(
    "a lapsed lock can be taken by another holder, and the old holder cannot release it",
    async () => {
      const state = new RedisUploadState({ redis: stack.newRedis(), name: "ttl", lockTtl: 300 });
      const lock = await state.lock("y");
      assert.ok(lock);
      await stack.redis.del("kiln:{upload:ttl}:lock:y"); // as if it had lapsed
      const other = await state.lock("y");
      assert.ok(other, "free once the key is gone");
      await lock.release(); // must not release the new holder's lock
      assert.equal(await state.lock("y"), null);
      await other.release();
    },
  );

  await t.step(
    "two server instances on one Redis serve alternate chunks of one upload",
    async () => {
      const directory = await Deno.makeTempDir({ prefix: "kiln-upload-" });
      try {
        const instance = async () => {
          const files = uploads({
            // Each instance has its own store object on the shared volume and its own Redis client.
            store: new FileStore({ directory }),
            state: new RedisUploadState({ redis: stack.newRedis(), name: "shared" }),
            maxSize: 1 << 20,
            progressInterval: 0,
            onProgress: () => progressed?.(),
          });
          return await serve(new Hono().route("/files", files));
        };
        let progressed: (() => void) | undefined;
        await using a = await instance();
        await using b = await instance();
        const data = bytes(40_000);
        const created = await fetch(`${a.url}/files`, {
          method: "POST",
          headers: tus({ "Upload-Length": String(data.byteLength) }),
        });
        const id = created.headers.get("Location")!.split("/").pop()!;
        await created.body?.cancel();
        for (let i = 0; i < 4; i++) {
          const served = i % 2 === 0 ? b : a;
          const response = await fetch(`${served.url}/files/${id}`, {
            method: "PATCH",
            headers: patchHeaders(i * 10_000),
            body: data.slice(i * 10_000, (i + 1) * 10_000),
          });
          await response.body?.cancel();
          assert.equal(response.status, 204, `chunk ${i} on instance ${i % 2 === 0 ? "b" : "a"}`);
          const head = await fetch(`${(i % 2 === 0 ? a : b).url}/files/${id}`, {
            method: "HEAD",
            headers: tus(),
          });
          assert.equal(
            head.headers.get("Upload-Offset"),
            String((i + 1) * 10_000),
            "the other instance sees it",
          );
        }
        assert.deepEqual(await Deno.readFile(`${directory}/${id}`), data);

        // A PATCH streaming on one instance locks the upload for the other.
        const second = await fetch(`${a.url}/files`, {
          method: "POST",
          headers: tus({ "Upload-Length": "8" }),
        });
        const location = second.headers.get("Location")!;
        await second.body?.cancel();
        const stored = new Promise<void>((resolve) => (progressed = resolve));
        let feed!: ReadableStreamDefaultController<Uint8Array>;
        const body = new ReadableStream<Uint8Array>({ start: (c) => void (feed = c) });
        feed.enqueue(new TextEncoder().encode("aaaa"));
        const first = fetch(location, { method: "PATCH", headers: patchHeaders(0), body });
        await stored;
        progressed = undefined;
        const loser = await fetch(location.replace(a.url, b.url), {
          method: "PATCH",
          headers: patchHeaders(0),
          body: "bbbbbbbb",
        });
        await loser.body?.cancel();
        assert.equal(loser.status, 423);
        feed.enqueue(new TextEncoder().encode("cccc"));
        feed.close();
        const winner = await first;
        await winner.body?.cancel();
        assert.equal(winner.status, 204);
        const id2 = location.split("/").pop()!;
        assert.equal(await Deno.readTextFile(`${directory}/${id2}`), "aaaacccc");
      } finally {
        await Deno.remove(directory, { recursive: true });
      }
    },
  );
});
