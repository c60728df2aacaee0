/**
 * Flow control and pause with two round trips on their way: a worker with 8
 * slots whose replies come late, over MemoryBackend and over RedisBackend.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue, RedisBackend } from "../../src/queue/mod.ts";
import type { QueueBackend, TakeRequest } from "../../src/queue/backend.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker, sleep, waitFor } from "./_helpers.ts";

/**
 * `backend`, with every take's reply 3 ms late, so a worker's round trips
 * overlap, and the most takes it saw on their way at once.
 */
function late(backend: QueueBackend): { backend: QueueBackend; mostInFlight: () => number } {
  let inFlight = 0;
  let most = 0;
  const take = async (request: TakeRequest) => {
    most = Math.max(most, ++inFlight);
    try {
      const result = await backend.take(request);
      await sleep(3);
      return result;
    } finally {
      inFlight--;
    }
  };
  const wrapped = new Proxy(backend, {
    get(target, property) {
      if (property === "take") return take;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { backend: wrapped, mostInFlight: () => most };
}

async function limitsHold(backend: QueueBackend): Promise<void> {
  const slow = late(backend);
  const queue = new Queue({ backend: slow.backend });
  const running = new Map<string, number>();
  const most = new Map<string, number>();
  const started: number[] = [];
  const keyed = defineJob({
    name: "keyed",
    schema: v.object({ key: v.string(), n: v.number() }),
    concurrency: { key: (payload) => payload.key, limit: 2 },
    async handle({ key }) {
      started.push(Date.now());
      running.set(key, (running.get(key) ?? 0) + 1);
      most.set(key, Math.max(most.get(key) ?? 0, running.get(key)!));
      await sleep(2);
      running.set(key, running.get(key)! - 1);
    },
  });
  const payloads = Array.from({ length: 300 }, (_, n) => ({ key: `k${n % 3}`, n }));
  await queue.dispatchMany(keyed, payloads);
  const worker = quietWorker(queue, { jobs: [keyed], concurrency: 8, maxPollInterval: 50 });
  await worker.start();
  try {
    await waitFor(() => started.length >= 60);
    await queue.pause("default");
    const pausedAt = Date.now();
    // Round trips that looked before the pause may still start what they reserved: give
    // them time to land, then nothing more starts.
    await sleep(300);
    const after = started.filter((at) => at > pausedAt + 150);
    assert.deepEqual(after, [], `${after.length} jobs started well after the pause`);
  } finally {
    await worker.stop();
  }
  assert.equal(slow.mostInFlight(), 2, "two round trips were on their way at once");
  // Never more than 2 of a key; and the limit was reached, or this proved nothing. Not
  // every key must reach it: on a loaded machine (test files run two at a time) a key's
  // jobs may happen not to overlap in the ~60 that run before the pause.
  const mosts = [...most.values()];
  assert.ok(mosts.every((n) => n <= 2), `at most 2 of a key at once: ${mosts}`);
  assert.ok(mosts.includes(2), `some key had 2 running at once: ${mosts}`);
  const counts = await queue.counts();
  assert.equal(counts.active, 0);
  assert.equal(counts.ready + started.length, 300);
}

Deno.test("with 8 slots and late replies, a per-key limit of 2 holds and a paused queue starts nothing more (MemoryBackend)", async () => {
  await limitsHold(new MemoryBackend());
});

Deno.test("with 8 slots and late replies, a per-key limit of 2 holds and a paused queue starts nothing more (RedisBackend)", async () => {
  await using stack = await startRedisStack();
  await limitsHold(new RedisBackend({ redis: stack.redis, prefix: "overlapflow" }));
});
