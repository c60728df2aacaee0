import assert from "node:assert/strict";
import * as v from "valibot";
import {
  backoffDelay,
  defineJob,
  MemoryBackend,
  Queue,
  RedisBackend,
  systemClock,
  Worker,
} from "../../src/queue/mod.ts";

const schema = v.null();

Deno.test("backoffDelay() doubles exponential waits up to the cap and keeps fixed waits flat", () => {
  const exponential = { type: "exponential", delay: 100, max: 1_000 } as const;
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(exponential, n, null)), [
    100,
    200,
    400,
    800,
    1_000,
  ]);
  assert.deepEqual([1, 5].map((n) => backoffDelay({ type: "fixed", delay: 250 }, n, null)), [
    250,
    250,
  ]);
});

Deno.test("backoffDelay() with equal jitter stays between half and all of the wait, full jitter between none and all", () => {
  const equal = { type: "fixed", delay: 1_000, jitter: "equal" } as const;
  assert.equal(backoffDelay(equal, 1, null, () => 0), 500);
  assert.equal(backoffDelay(equal, 1, null, () => 0.999), 1_000);
  const full = { type: "exponential", delay: 1_000, max: 3_000, jitter: "full" } as const;
  assert.equal(backoffDelay(full, 2, null, () => 0), 0);
  assert.equal(backoffDelay(full, 2, null, () => 0.5), 1_000);
  assert.equal(backoffDelay(full, 9, null, () => 0.5), 1_500, "capped before the jitter");
  assert.equal(backoffDelay({ type: "fixed", delay: 700, jitter: "none" }, 3, null, () => 0), 700);
});

Deno.test("a job's backoff refuses a jitter other than none, full or equal", () => {
  const handle = () => {};
  for (const jitter of [true, "half", 1]) {
    assert.throws(
      () =>
        defineJob({
          name: "j",
          schema,
          handle,
          backoff: { type: "fixed", delay: 1, jitter: jitter as never },
        }),
      /jitter must be "none", "full" or "equal"/,
    );
  }
});

Deno.test("backoffDelay() calls a backoff function with the retry number and error, and rejects non-numbers", () => {
  const error = new Error("x");
  assert.equal(backoffDelay((retry, e) => (e === error ? retry * 7 : -1), 3, error), 21);
  assert.equal(backoffDelay(() => -50, 1, null), 0);
  assert.throws(() => backoffDelay(() => NaN, 1, null), RangeError);
});

Deno.test("defineJob() refuses malformed options with clear errors", () => {
  const handle = () => {};
  assert.throws(() => defineJob({ name: "", schema, handle }), /Job name must be/);
  assert.throws(() => defineJob({ name: "j", schema: {} as never, handle }), /valibot schema/);
  assert.throws(
    () => defineJob({ name: "j", schema, handle: 1 as never }),
    /handle must be a function/,
  );
  assert.throws(() => defineJob({ name: "j", schema, handle, queue: "a{b}" }), TypeError);
  assert.throws(() => defineJob({ name: "j", schema, handle, maxRetries: -1 }), RangeError);
  assert.throws(() => defineJob({ name: "j", schema, handle, timeout: 0 }), RangeError);
  assert.throws(() => defineJob({ name: "j", schema, handle, maxStalls: -1 }), /maxStalls/);
  assert.throws(() => defineJob({ name: "j", schema, handle, maxStalls: 1.5 }), /maxStalls/);
  assert.throws(
    () => defineJob({ name: "j", schema, handle, priority: "urgent" as never }),
    /priority/,
  );
  assert.throws(
    () => defineJob({ name: "j", schema, handle, backoff: { type: "linear" } as never }),
    /backoff/,
  );
  assert.throws(
    () => defineJob({ name: "j", schema, handle, backoff: { type: "fixed", delay: -1 } }),
    RangeError,
  );
});

Deno.test("dispatch() refuses malformed delays, times, priorities and ids", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const job = defineJob({ name: "j", schema, handle() {} });
  await assert.rejects(queue.dispatch(job, null, { delay: -1 }), RangeError);
  await assert.rejects(queue.dispatch(job, null, { at: new Date("nope") }), RangeError);
  await assert.rejects(queue.dispatch(job, null, { priority: "urgent" as never }), TypeError);
  await assert.rejects(queue.dispatch(job, null, { jobId: "" }), TypeError);
  await assert.rejects(queue.dispatch(job, null, { uniqueKey: "x".repeat(513) }), TypeError);
  assert.equal((await queue.counts()).ready, 0);
});

Deno.test("Worker, Queue and backends refuse malformed options", () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const job = defineJob({ name: "j", schema, handle() {} });
  assert.throws(() => new Queue({} as never), TypeError);
  const backend = new MemoryBackend();
  // `now` is gone: a clock carries the time and the timers together.
  assert.equal("now" in new Queue({ backend, clock: systemClock }), false);
  assert.throws(() => new Queue({ backend, clock: { now: Date.now } as never }), /setTimeout/);
  assert.throws(() => new Queue({ backend, maxPayloadBytes: 1.5 }), RangeError);
  assert.throws(() => new Worker(queue, { jobs: [] }), /at least one job/);
  assert.throws(() => new Worker(queue, { jobs: [job, job] }), /Two job definitions/);
  assert.throws(() => new Worker(queue, { jobs: [job], concurrency: 0 }), RangeError);
  assert.throws(() => new Worker(queue, { jobs: [job], maxStalls: -1 }), /maxStalls/);
  assert.throws(() => new Worker(queue, { jobs: [job], queues: [] }), TypeError);
  assert.throws(() => new Queue({ backend, retain: { failed: { count: -1, age: 0 } } }), /count/);
  assert.throws(() => new Queue({ backend, retain: { completed: { count: 1, age: 0.5 } } }), /age/);
  assert.throws(() => new RedisBackend({ redis: {} }), TypeError);
});

Deno.test("durations past what a timer can hold (2^31 - 1 ms) are refused instead of firing at once", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const handle = () => {};
  const tooLong = 2 ** 31;
  assert.throws(() => defineJob({ name: "j", schema, handle, timeout: tooLong }), RangeError);
  const job = defineJob({ name: "j", schema, handle, timeout: tooLong - 1 });
  assert.throws(() => new Worker(queue, { jobs: [job], leaseDuration: tooLong }), RangeError);
  assert.throws(() => new Worker(queue, { jobs: [job], gracePeriod: tooLong }), RangeError);
  assert.throws(() => new Worker(queue, { jobs: [job], maxPollInterval: tooLong }), RangeError);
  const worker = new Worker(queue, { jobs: [job] });
  await assert.rejects(worker.drain({ maxTime: tooLong }), RangeError);
  await assert.rejects(worker.drain({ gracePeriod: tooLong }), RangeError);
  await assert.rejects(worker.drain({ maxTime: tooLong - 1 }), /maxTime plus gracePeriod/);
  // A long maxTime that a timer can hold with its grace period is fine; Infinity means no limit.
  assert.equal((await worker.drain({ maxTime: tooLong - 10_001 })).stoppedBy, "empty");
  assert.equal((await worker.drain({ maxTime: Infinity })).stoppedBy, "empty");
});
