import assert from "node:assert/strict";
import * as v from "valibot";
import { UpstashRedis } from "../../src/redis/mod.ts";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { FakeClock, quietWorker, waitFor } from "./_helpers.ts";
import { replayedBackend } from "./_replay.ts";
import { FakeClock as ManualClock } from "../scheduler/_fake_clock.ts";

Deno.test("an idle worker polls with back-off: at most one request per maxPollInterval", async () => {
  await using stack = await startRedisStack();
  // The queue's clock times the polls, so the test reads each poll's time on that clock
  // instead of counting requests per real second (which a busy machine would skew).
  const clock = new ManualClock(1_700_000_000_000);
  const pollTimes = new Set<number>();
  let inFlight = 0;
  const counting: typeof fetch = async (input, init) => {
    pollTimes.add(clock.now());
    inFlight++;
    try {
      return await fetch(input, init);
    } finally {
      inFlight--;
    }
  };
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token, fetch: counting });
  const queue = new Queue({ backend: new RedisBackend({ redis, prefix: "idle" }), clock });
  const job = defineJob({ name: "noop", schema: v.null(), handle() {} });
  const worker = quietWorker(queue, {
    jobs: [job],
    maxPollInterval: 250,
    minPollInterval: 10,
    leaseDuration: 60_000,
  });
  await worker.start();
  const renewalAt = clock.now() + 20_000; // the lease-renewal timer, which is not a poll
  for (let poll = 0; poll < 10; poll++) {
    // Each poll ends with the worker asleep on one timer before the renewal: move time to it.
    await waitFor(() => inFlight === 0 && clock.timers.some((t) => t.at < renewalAt), 60_000);
    await clock.advance(clock.timers[0].at - clock.now());
  }
  await waitFor(() => inFlight === 0 && clock.timers.some((t) => t.at < renewalAt), 60_000);
  await worker.stop();
  const times = [...pollTimes].sort((a, b) => a - b);
  const gaps = times.slice(1).map((at, i) => at - times[i]);
  // Doubling from minPollInterval, then flat at maxPollInterval: never more than one poll per 250 ms.
  assert.deepEqual(gaps, [10, 20, 40, 80, 160, 250, 250, 250, 250, 250]);
});

Deno.test("every request delivered twice (a retried HTTP call) runs each job once and answers as the first call did", async () => {
  await using stack = await startRedisStack();
  const queue = new Queue({ backend: replayedBackend(stack, "replay") });
  const runs = new Map<number, number>();
  let failures = 0;
  let released = false;
  const job = defineJob({
    name: "count",
    schema: v.number(),
    maxRetries: 1,
    backoff: { type: "fixed", delay: 0 },
    handle(n, ctx) {
      runs.set(n, (runs.get(n) ?? 0) + 1);
      if (n === 7 && !released) {
        released = true;
        ctx.release();
        return;
      }
      if (n % 10 === 0 && ctx.attempt === 1) {
        failures++;
        throw new Error("first attempt fails");
      }
      if (n === 199) throw new Error("always fails");
    },
  });
  const single = await queue.dispatch(job, 1_001, { jobId: "single" });
  assert.deepEqual(single, { id: "single", created: true });
  const unique = await queue.dispatch(job, 1_003, { uniqueKey: "only-one" });
  assert.equal(unique.created, true);
  const bulk = await queue.dispatchMany(job, Array.from({ length: 200 }, (_, n) => n));
  assert.ok(bulk.every((result) => result.created));
  // Another caller dispatching the same id is still told nothing was created.
  assert.deepEqual(await queue.dispatch(job, 1_001, { jobId: "single" }), {
    id: "single",
    created: false,
  });
  const worker = quietWorker(queue, { jobs: [job], concurrency: 20 });
  let retrying = 0;
  const failed: unknown[] = [];
  worker.on("retrying", () => retrying++);
  worker.on("failed", (event) => failed.push(event.job.payload));
  const summary = await worker.drain();
  assert.equal(runs.size, 202);
  for (const [n, count] of runs) {
    const expected = n === 7 || n === 199 || n % 10 === 0 ? 2 : 1;
    assert.equal(count, expected, `job ${n} ran ${count} times`);
  }
  assert.equal(failures, 20);
  // Each replayed fail/release answered "retried", "failed" or "released" again, not "lost".
  assert.equal(summary.retried, 21);
  assert.equal(retrying, 21);
  assert.equal(summary.released, 1);
  assert.equal(summary.failed, 1);
  assert.deepEqual(failed, [199]);
  assert.equal(summary.completed, 201);
  assert.deepEqual(await queue.counts(), {
    ready: 0,
    delayed: 0,
    active: 0,
    failed: 1,
    completed: 201,
    paused: false,
  });
  // The failed store's answers survive replay too: each call reports what it did.
  const doomed = bulk[199].id;
  assert.equal(await queue.failed.retry(doomed, "default"), true);
  assert.equal((await worker.drain()).failed, 1);
  assert.equal(await queue.failed.retryAll("default"), 1);
  assert.equal((await worker.drain()).failed, 1);
  assert.equal(await queue.failed.forget(doomed, "default"), true);
  assert.equal((await queue.counts()).failed, 0);
});

Deno.test("a replayed reserve with the same token returns the same jobs instead of taking more", async () => {
  await using stack = await startRedisStack();
  const backend = new RedisBackend({ redis: stack.redis, prefix: "memo" });
  const clock = new FakeClock();
  const queue = new Queue({ backend, clock });
  const job = defineJob({ name: "n", schema: v.number(), handle() {} });
  await queue.dispatchMany(job, [1, 2, 3, 4]);
  const request = {
    queue: "default",
    now: clock.time,
    complete: [],
    reserve: 2,
    leaseDuration: 5_000,
    token: "tok",
  };
  const first = await backend.take(request);
  const replay = await backend.take(request);
  assert.deepEqual(replay.jobs.map((j) => j.id), first.jobs.map((j) => j.id));
  assert.deepEqual(await queue.counts(), {
    ready: 2,
    delayed: 0,
    active: 2,
    failed: 0,
    completed: 0,
    paused: false,
  });
});

Deno.test("a worker rides out a Redis restart: it backs off, then resumes without running a job twice", async () => {
  await using stack = await startRedisStack();
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix: "restart" }) });
  const runs = new Map<number, number>();
  const job = defineJob({
    name: "n",
    schema: v.number(),
    handle: (n) => void runs.set(n, (runs.get(n) ?? 0) + 1),
  });
  const worker = quietWorker(queue, {
    jobs: [job],
    concurrency: 5,
    maxPollInterval: 100,
    minPollInterval: 10,
  });
  let errors = 0;
  worker.on("error", () => errors++);
  await worker.start();
  try {
    await queue.dispatchMany(job, [1, 2, 3]);
    await waitFor(() => runs.size === 3);
    await stack.stopRedis();
    await waitFor(() => errors >= 2);
    await stack.startRedis(); // empty: no persistence
    await queue.dispatchMany(job, [4, 5, 6, 7], { jobId: (n) => `after-${n}` });
    await waitFor(async () => (await queue.counts()).completed === 4);
  } finally {
    await worker.stop();
  }
  assert.deepEqual(
    [...runs.entries()].sort((a, b) => a[0] - b[0]),
    [1, 2, 3, 4, 5, 6, 7].map((n) => [n, 1]),
  );
});

Deno.test("poison payloads and hostile errors round-trip through Redis intact", async () => {
  await using stack = await startRedisStack();
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix: "poison" }) });
  const poison = [
    { text: '{"b":0,"m":99}' },
    { text: '"]},{"x":' },
    { text: "%d+ %s* ^$ [[ ]] -- Lua patterns and comments" },
    { text: "\u0000\u2028\ud83d\ude00 é \\ / \n\r\t" },
    { text: "x".repeat(200_000) },
    JSON.parse('{"__proto__":{"polluted":true},"text":"proto"}'),
    { text: "deep", nested: JSON.parse("[".repeat(200) + "]".repeat(200)) },
  ];
  const seen: unknown[] = [];
  const job = defineJob({
    name: "poison",
    schema: v.looseObject({ text: v.string() }),
    maxRetries: 0,
    handle(payload) {
      seen.push(payload);
      if (payload.text.startsWith('"]')) {
        throw new Error('message with "quotes", ]] and \n newlines');
      }
      if (payload.text.startsWith("%d")) throw "a thrown string";
    },
  });
  for (const payload of poison) await queue.dispatch(job, payload);
  const summary = await quietWorker(queue, { jobs: [job] }).drain();
  assert.equal(summary.completed, 5);
  assert.equal(summary.failed, 2);
  assert.equal(seen.length, poison.length);
  // The schema's output drops the "__proto__" key rather than setting a prototype.
  const expected = poison.map((p) => JSON.parse(JSON.stringify(p)));
  delete expected[5]["__proto__"];
  assert.deepEqual(seen.map((p) => JSON.parse(JSON.stringify(p))), expected);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const failed = await queue.failed.list();
  const messages = failed.map((job) => job.errors[0].message).sort();
  assert.deepEqual(messages, ["a thrown string", 'message with "quotes", ]] and \n newlines']);
});
