import assert from "node:assert/strict";
import * as v from "valibot";
import { KilnError } from "../../src/errors.ts";
import { defineJob, MemoryBackend, Queue } from "../../src/queue/mod.ts";
import {
  JobAbandonedError,
  NextCalledTwiceError,
  WorkerBusyError,
  WorkerStoppedError,
} from "../../src/public_errors.ts";
import { quietWorker } from "./_helpers.ts";
import { FakeClock } from "../scheduler/_fake_clock.ts";

const noop = defineJob({ name: "noop", schema: v.unknown(), handle() {} });

Deno.test("start() on a started worker rejects with a WorkerBusyError instead of throwing", async () => {
  const worker = quietWorker(new Queue({ backend: new MemoryBackend() }), { jobs: [noop] });
  await worker.start();
  try {
    let result: Promise<void> | undefined;
    // A synchronous throw would escape this call and fail the test here.
    assert.doesNotThrow(() => (result = worker.start()));
    const error = await result!.then(() => null, (e) => e);
    assert.ok(error instanceof WorkerBusyError);
    assert.ok(error instanceof KilnError);
    assert.equal(error.code, "QUEUE_WORKER_BUSY");
    assert.equal(error.state, "running");
    // drain() is refused the same way while the worker runs.
    const drained = await worker.drain().then(() => null, (e) => e);
    assert.ok(drained instanceof WorkerBusyError);
    assert.equal(worker.running, true, "the refused calls did not disturb the running worker");
  } finally {
    await worker.stop();
  }
  // Once stopped, it starts again.
  await worker.start();
  await worker.stop();
});

Deno.test("stop() aborts a handler past its grace period with a WorkerStoppedError", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const queue = new Queue({ backend: new MemoryBackend(), clock });
  let reason: unknown;
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const job = defineJob({
    name: "slow",
    schema: v.null(),
    handle: (_payload, ctx) =>
      new Promise<void>((resolve) => {
        ctx.signal.addEventListener("abort", () => {
          reason = ctx.signal.reason;
          resolve();
        });
        started();
      }),
  });
  const { id } = await queue.dispatch(job, null);
  const worker = quietWorker(queue, { jobs: [job], gracePeriod: 1_000 });
  await worker.start();
  await running;
  const stopping = worker.stop();
  await clock.advance(1_000);
  await stopping;
  assert.ok(reason instanceof WorkerStoppedError);
  assert.equal(reason.code, "QUEUE_WORKER_STOPPED");
  assert.equal(reason.jobId, id);
  assert.equal((await queue.job(id))?.state, "waiting", "the job was handed back, not lost");
});

Deno.test("drain({ maxTime }) aborts a handler it gives up on with a JobAbandonedError", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const queue = new Queue({ backend: new MemoryBackend(), clock });
  let reason: unknown;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const job = defineJob({
    name: "endless",
    schema: v.null(),
    async handle(_payload, ctx) {
      ctx.signal.addEventListener("abort", () => (reason = ctx.signal.reason));
      started();
      await gate; // ignores its signal
    },
  });
  const { id } = await queue.dispatch(job, null);
  const worker = quietWorker(queue, { jobs: [job] });
  const draining = worker.drain({ maxTime: 500, gracePeriod: 100 });
  await running;
  await clock.advance(600);
  const summary = await draining;
  assert.deepEqual(summary.abandoned.map((job) => job.id), [id]);
  assert.ok(reason instanceof JobAbandonedError);
  assert.equal(reason.code, "QUEUE_JOB_ABANDONED");
  assert.equal(reason.jobId, id);
  open();
});

Deno.test("a middleware calling next() twice fails the attempt with a NextCalledTwiceError, running the handler once", async () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  let runs = 0;
  const job = defineJob({
    name: "once",
    schema: v.null(),
    maxRetries: 0,
    handle: () => void runs++,
  });
  await queue.dispatch(job, null);
  const worker = quietWorker(queue, { jobs: [job] });
  worker.use(async (_ctx, next) => {
    await next();
    return await next();
  });
  const failures: unknown[] = [];
  worker.on("failed", (event) => failures.push(event.error));
  const summary = await worker.drain();
  assert.equal(summary.failed, 1);
  assert.equal(runs, 1);
  assert.ok(failures[0] instanceof NextCalledTwiceError);
  assert.equal(failures[0].code, "QUEUE_NEXT_CALLED_TWICE");
});
