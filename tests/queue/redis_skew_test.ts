/**
 * Leases under clock skew: lease deadlines are decided on Redis's clock, so a
 * worker whose clock is off by 30 seconds can neither reclaim another
 * worker's live lease nor hand out a lease that is already expired.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend, systemClock } from "../../src/queue/mod.ts";
import type { QueueBackend } from "../../src/queue/backend_mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker, waitFor } from "./_helpers.ts";

const SKEW_MS = 30_000;
const LEASE_MS = 3_000;

/** Wraps a backend, counting the take() calls that came back. */
function countingTakes(backend: QueueBackend): { backend: QueueBackend; takes: () => number } {
  let takes = 0;
  const spied = new Proxy(backend, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (property === "take") {
        return async (...args: Parameters<QueueBackend["take"]>) => {
          const result = await target.take(...args);
          takes++;
          return result;
        };
      }
      return value.bind(target);
    },
  });
  return { backend: spied, takes: () => takes };
}

for (
  const [holderSkew, pollerSkew, story] of [
    [0, SKEW_MS, "a worker whose clock runs 30 s ahead"],
    [-SKEW_MS, 0, "a worker polling while the holder's clock runs 30 s behind"],
  ] as const
) {
  Deno.test(`${story} never reclaims a live lease: a job running longer than half its lease runs exactly once`, async () => {
    await using stack = await startRedisStack();
    const prefix = `skew${holderSkew}`;
    const holderQueue = new Queue({
      backend: new RedisBackend({ redis: stack.newRedis(), prefix }),
      clock: { ...systemClock, now: () => Date.now() + holderSkew },
    });
    const poller = countingTakes(new RedisBackend({ redis: stack.newRedis(), prefix }));
    const pollerQueue = new Queue({
      backend: poller.backend,
      clock: { ...systemClock, now: () => Date.now() + pollerSkew },
    });

    let runs = 0;
    let holderHasIt!: () => void;
    const taken = new Promise<void>((resolve) => (holderHasIt = resolve));
    const job = defineJob({
      name: "slow",
      schema: v.null(),
      maxRetries: 0,
      async handle() {
        runs++;
        holderHasIt();
        const started = performance.now();
        const takesBefore = poller.takes();
        // Past half the lease (so past a renewal) and until the other worker has polled a few times.
        await waitFor(
          () => performance.now() - started > LEASE_MS * 0.6 && poller.takes() >= takesBefore + 5,
          30_000,
        );
      },
    });
    await holderQueue.dispatch(job, null);
    const holder = quietWorker(holderQueue, { jobs: [job], leaseDuration: LEASE_MS });
    const draining = holder.drain();
    await taken;
    const other = quietWorker(pollerQueue, {
      jobs: [job],
      leaseDuration: LEASE_MS,
      minPollInterval: 10,
      maxPollInterval: 20,
    });
    const stalled: string[] = [];
    other.on("stalled", (event) => stalled.push(event.jobId));
    await other.start();
    let summary;
    try {
      summary = await draining;
    } finally {
      await other.stop();
    }
    assert.equal(runs, 1, "the job ran twice");
    assert.deepEqual(stalled, []);
    assert.equal(summary.completed, 1);
    assert.deepEqual(await holderQueue.counts(), {
      ready: 0,
      delayed: 0,
      active: 0,
      failed: 0,
      completed: 1,
      paused: false,
    });
  });
}

Deno.test("a lease expires on Redis's clock: a crashed worker's job comes back after its lease, whatever the clocks", async () => {
  await using stack = await startRedisStack();
  const backend = new RedisBackend({ redis: stack.redis, prefix: "expiry" });
  const queue = new Queue({ backend });
  const job = defineJob({ name: "j", schema: v.null(), maxRetries: 0, handle() {} });
  const { id } = await queue.dispatch(job, null);
  // A worker with its clock 30 s ahead reserves the job with a 200 ms lease, then dies.
  const crashed = await backend.take({
    queue: "default",
    now: Date.now() + SKEW_MS,
    complete: [],
    reserve: 1,
    leaseDuration: 200,
    token: "crashed",
  });
  assert.deepEqual(crashed.jobs.map((j) => j.id), [id]);
  // Its lease ends 200 ms of Redis time later, not 30 s later: a worker 30 s behind gets the job.
  let stalled: readonly string[] = [];
  await waitFor(async () => {
    const taken = await backend.take({
      queue: "default",
      now: Date.now() - SKEW_MS,
      complete: [],
      reserve: 1,
      leaseDuration: 60_000,
      token: "rescuer",
    });
    stalled = taken.stalled;
    return taken.jobs.length === 1;
  }, SKEW_MS); // were the caller's clocks used, it would take 60 s
  assert.deepEqual(stalled, [id]);
});
