/**
 * Fairness across keys with real workers and real run times (issue 16's "done
 * when"): while a key with 1,000 queued jobs keeps every slot busy, another
 * key's single job starts within one job's run time of being dispatched (each
 * slot frees once per run time, and the quiet job is next in line), on
 * MemoryBackend and on RedisBackend through the HTTP gateway. The bound is far
 * below what a first-in-first-out queue would take (995 jobs / slots x run time).
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue, RedisBackend } from "../../src/queue/mod.ts";
import type { QueueBackend } from "../../src/queue/backend_mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker, waitFor } from "./_helpers.ts";

/** How long each job runs (real time). */
const RUN = 150;
/**
 * What round trips to the backend and a busy event loop may add on a loaded
 * machine (measured: 0 to 20 ms); a queue without fairness would make the
 * quiet jobs wait for about 250 run times (37 s), far past it.
 */
const SLACK = 500;

async function fairness(backend: QueueBackend, limit: number, slots: number) {
  const queue = new Queue({ backend });
  const started = new Map<string, number>();
  let running = 0;
  let most = 0;
  const job = defineJob({
    name: "work",
    schema: v.object({ tenant: v.string(), n: v.number() }),
    concurrency: { key: (payload) => payload.tenant, limit },
    async handle({ tenant, n }) {
      started.set(`${tenant}:${n}`, Date.now());
      if (tenant === "busy") most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, RUN));
      if (tenant === "busy") running--;
    },
  });
  await queue.dispatchMany(
    job,
    Array.from({ length: 1_000 }, (_, n) => ({ tenant: "busy", n })),
  );
  // Two workers share the slots, as two processes would.
  const workers = [0, 1].map(() =>
    quietWorker(queue, { jobs: [job], concurrency: slots / 2, maxPollInterval: 50 })
  );
  for (const worker of workers) await worker.start();
  try {
    // Every slot busy with the busy key (the quiet jobs have no free slot to take).
    await waitFor(() => running === slots, 10_000);
    const dispatched = Date.now();
    await queue.dispatchMany(job, [1, 2, 3].map((n) => ({ tenant: `quiet${n}`, n })));
    await waitFor(() => [1, 2, 3].every((n) => started.has(`quiet${n}:${n}`)), 10_000);
    const waits = [1, 2, 3].map((n) => started.get(`quiet${n}:${n}`)! - dispatched);
    const busyDone = [...started.keys()].filter((k) => k.startsWith("busy:")).length;
    console.log(`limit ${limit}, ${slots} slots: quiet jobs waited ${waits.join(", ")} ms`);
    for (const wait of waits) {
      assert.ok(wait <= RUN + SLACK, `waited ${wait} ms (run time ${RUN} ms): ${waits.join()}`);
    }
    assert.ok(busyDone < 1_000 - 100, "the busy key still had hundreds of jobs queued");
    assert.ok(most <= limit, `the busy key ran ${most} at once, over its limit ${limit}`);
  } finally {
    await Promise.all(workers.map((worker) => worker.stop({ gracePeriod: 2_000 })));
  }
}

Deno.test("fairness with timed workers on MemoryBackend: the busy key at its limit of 4 slots", async () => {
  await fairness(new MemoryBackend(), 4, 4);
});

Deno.test("fairness with timed workers on MemoryBackend: the busy key's limit (8) above the slots (4)", async () => {
  await fairness(new MemoryBackend(), 8, 4);
});

Deno.test("fairness with timed workers on RedisBackend through the gateway", async (t) => {
  await using stack = await startRedisStack();
  await t.step("the busy key at its limit of 4 slots", async () => {
    await fairness(new RedisBackend({ redis: stack.redis, prefix: "fair1" }), 4, 4);
  });
  await t.step("the busy key's limit (8) above the slots (4)", async () => {
    await fairness(new RedisBackend({ redis: stack.redis, prefix: "fair2" }), 8, 4);
  });
});
