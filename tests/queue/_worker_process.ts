/**
 * A worker in its own process, for the crash and multi-process tests.
 *
 * Usage: deno run -A _worker_process.ts <gatewayUrl> <token> <prefix> <mode>
 * - mode "hang": handlers count their run, then wait for ever (the test kills the process).
 * - mode "drain": handlers count their run and return; the process drains until the
 *   queue is empty, then exits.
 * Each run is counted with HINCRBY on `<prefix>:runs`, batched per tick.
 *
 * @module
 */
import * as v from "valibot";
import { UpstashRedis } from "../../src/redis/mod.ts";
import { defineJob, Queue, RedisBackend, silentLogger, Worker } from "../../src/queue/mod.ts";

const [url, token, prefix, mode] = Deno.args;
const redis = new UpstashRedis({ url, token });
const runsKey = `${prefix}:runs`;

let batch: { field: string; done: () => void }[] = [];
let scheduled = false;
function countRun(field: string): Promise<void> {
  return new Promise((resolve) => {
    batch.push({ field, done: resolve });
    if (scheduled) return;
    scheduled = true;
    setTimeout(async () => {
      const sending = batch;
      batch = [];
      scheduled = false;
      await redis.pipeline(sending.map(({ field }) => ["HINCRBY", runsKey, field, 1] as const));
      for (const { done } of sending) done();
    }, 0);
  });
}

const job = defineJob({
  name: "count",
  schema: v.number(),
  maxRetries: 0,
  async handle(n) {
    await countRun(String(n));
    if (mode === "hang") await new Promise(() => {});
  },
});
const queue = new Queue({ backend: new RedisBackend({ redis, prefix }) });
const worker = new Worker(queue, {
  jobs: [job],
  concurrency: mode === "hang" ? 3 : 50,
  leaseDuration: mode === "hang" ? 500 : 30_000,
  logger: silentLogger,
});
if (mode === "hang") {
  await worker.start();
  console.log("started");
} else {
  for (;;) {
    await worker.drain();
    const counts = await queue.counts();
    if (counts.ready + counts.delayed + counts.active === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  console.log("drained");
}
