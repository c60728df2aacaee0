import assert from "node:assert/strict";
import { Hono } from "hono";
import { MemoryUploadState, RedisUploadState, uploads } from "../../src/upload/mod.ts";
import { FileStore } from "../../src/upload/file_store.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { bytes, patchHeaders, serve, tus } from "./_serve.ts";
import { conformance, record } from "./_state_conformance.ts";
import { ManualClock } from "../support/manual_clock.ts";

Deno.test("MemoryUploadState keeps records, sweep order and locks", async (t) => {
  await conformance(new MemoryUploadState(), t);
});

Deno.test("RedisUploadState on a real Redis", async (t) => {
  await using stack = await startRedisStack();

  await t.step("behaves like MemoryUploadState", async (t) => {
    await conformance(new RedisUploadState({ redis: stack.redis, prefix: "conformance" }), t);
  });

  await t.step("a held lock is renewed every third of its lockTtl until released", async () => {
    const clock = new ManualClock();
    const state = new RedisUploadState({
      redis: stack.newRedis(),
      prefix: "renew",
      lockTtl: 60_000,
      clock,
    });
    const key = "renew:{upload}:lock:z";
    const lock = await state.lock("z");
    assert.ok(lock);
    await clock.armed(20_000);
    // As if 10 s had passed with no renewal.
    await stack.redis.pexpire(key, 50_000);
    clock.advance(20_000);
    // The next renewal is armed only once this one has answered.
    await clock.armed(20_000);
    assert.ok((await stack.redis.pttl(key)) > 50_000, "the renewal set the TTL back to 60 s");
    assert.equal(await state.lock("z"), null);
    await lock.release();
    assert.equal(await stack.redis.exists(key), 0, "released");
    clock.advance(60_000); // no renewal is left to bring the key back
    const again = await state.lock("z");
    assert.ok(again);
    await again.release();
  });

  await t.step(
    "a lapsed lock can be taken by another holder, and the old holder cannot release it",
    async () => {
      const state = new RedisUploadState({ redis: stack.newRedis(), prefix: "ttl", lockTtl: 300 });
      const lock = await state.lock("y");
      assert.ok(lock);
      await stack.redis.del("ttl:{upload}:lock:y"); // as if it had lapsed
      const other = await state.lock("y");
      assert.ok(other, "free once the key is gone");
      await lock.release(); // must not release the new holder's lock
      assert.equal(await state.lock("y"), null);
      await other.release();
    },
  );

  await t.step(
    "a stored value that is not a record of the upload is refused as corrupt",
    async () => {
      const state = new RedisUploadState({ redis: stack.newRedis(), prefix: "corrupt" });
      await stack.redis.set("corrupt:{upload}:record:bad", "{not json");
      await assert.rejects(state.get("bad"), {
        name: "UploadError",
        code: "UPLOAD_RECORD_CORRUPT",
      });
      const forged = { ...record("other", null) };
      await stack.redis.set("corrupt:{upload}:record:forged", JSON.stringify(forged));
      await assert.rejects(state.get("forged"), /names upload other/);
      await stack.redis.set("corrupt:{upload}:record:shape", JSON.stringify({ id: "shape" }));
      await assert.rejects(state.get("shape"), { code: "UPLOAD_RECORD_CORRUPT" });
    },
  );

  await t.step("prefix must be usable in a Redis key", () => {
    assert.throws(() => new RedisUploadState({ redis: stack.redis, prefix: "a{b" }), TypeError);
    assert.throws(() => new RedisUploadState({ redis: stack.redis, prefix: "" }), TypeError);
  });

  await t.step(
    "two server instances on one Redis serve alternate chunks of one upload",
    async () => {
      const directory = await Deno.makeTempDir({ prefix: "kiln-upload-" });
      try {
        const instance = async () => {
          const files = uploads({
            // Each instance has its own store object on the shared volume and its own Redis client.
            store: new FileStore({ directory }),
            state: new RedisUploadState({ redis: stack.newRedis(), prefix: "shared" }),
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
