import assert from "node:assert/strict";
import * as v from "valibot";
import { RedisError } from "../../src/errors.ts";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { PayloadTooLargeError } from "../../src/public_errors.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker } from "./_helpers.ts";

const blob = defineJob({ name: "blob", schema: v.object({ text: v.string() }), handle() {} });

Deno.test("a payload under maxPayloadBytes but over the gateway's body limit gets a typed error at dispatch, and nothing is stored", async () => {
  await using stack = await startRedisStack({ maxBodyBytes: 64 * 1024 });
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix: "body" }) });
  const error = await queue.dispatch(blob, { text: "x".repeat(100_000) }).then(
    () => null,
    (e) => e,
  );
  assert.ok(error instanceof PayloadTooLargeError, `got ${error}`);
  assert.equal(error.code, "QUEUE_PAYLOAD_TOO_LARGE");
  assert.equal(error.job, "blob");
  assert.equal(error.limit, null, "the endpoint's limit, which Kiln cannot know");
  assert.ok(error.cause instanceof RedisError);
  assert.equal(error.cause.code, "REDIS_REQUEST_TOO_LARGE");
  assert.deepEqual(await queue.counts(), {
    ready: 0,
    delayed: 0,
    active: 0,
    failed: 0,
    completed: 0,
    paused: false,
  });
  // The queue still works for payloads that fit.
  assert.equal((await queue.dispatch(blob, { text: "small" })).created, true);
});

Deno.test("dispatchMany() keeps each request under maxPayloadBytes of payload, so many payloads that fit one by one also fit together", async () => {
  await using stack = await startRedisStack({ maxBodyBytes: 64 * 1024 });
  const queue = new Queue({
    backend: new RedisBackend({ redis: stack.redis, prefix: "batches" }),
    maxPayloadBytes: 32 * 1024,
  });
  // 40 payloads of 20 kB: 800 kB in all, far over the gateway's 64 KiB per request.
  const payloads = Array.from(
    { length: 40 },
    (_, n) => ({ text: String(n).repeat(20_000 / String(n).length | 0) }),
  );
  const results = await queue.dispatchMany(blob, payloads);
  assert.equal(results.length, 40);
  assert.ok(results.every((result) => result.created));
  const seen: string[] = [];
  const job = defineJob({ ...blob, handle: (payload) => void seen.push(payload.text) });
  assert.equal((await quietWorker(queue, { jobs: [job], concurrency: 5 }).drain()).completed, 40);
  assert.deepEqual(seen.sort(), payloads.map((payload) => payload.text).sort());
});

Deno.test("a handler's huge error is cut to size, so its failure is recorded instead of being refused by the gateway", async () => {
  await using stack = await startRedisStack({ maxBodyBytes: 64 * 1024 });
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix: "errors" }) });
  const job = defineJob({
    name: "loud",
    schema: v.null(),
    maxRetries: 0,
    handle() {
      const error = new Error("m".repeat(200_000));
      error.stack = "s".repeat(200_000);
      throw error;
    },
  });
  await queue.dispatch(job, null);
  const summary = await quietWorker(queue, { jobs: [job] }).drain();
  assert.equal(summary.failed, 1);
  const [dead] = await queue.failed.list();
  assert.equal(dead.errors.length, 1);
  assert.ok(dead.errors[0].message.startsWith("mmm"));
  assert.ok(dead.errors[0].message.length <= 9_000, `${dead.errors[0].message.length}`);
  assert.match(dead.errors[0].message, /truncated/);
  assert.ok((dead.errors[0].stack ?? "").length <= 17_000);
});
