/**
 * A worker in its own process, for the crash and multi-process tests.
 *
 * Usage: deno run -A _worker_process.ts <gatewayUrl> <token> <prefix> <mode>
 * - mode "hang": handlers count their run, then wait for ever (the test kills the process).
 *   Leases are long (a minute): the test ends them itself once the process is dead, so a
 *   busy machine cannot expire them early.
 * - mode "drain": handlers count their run and return; the process drains until nothing
 *   is left to take (jobs still active belong to the other, live, processes), then exits.
 * Each run is counted with HINCRBY on `<prefix>:runs`, batched per macrotask turn.
 *
 * @module
 */
import * as v from "valibot";
import { UpstashRedis } from "../../src/redis/mod.ts";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { serveAs } from "./_processes.ts";

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
// No job here fails or is delayed, so once drain() finds nothing ready, nothing is
// left for this process: no polling, no timer.
await serveAs(mode, queue, [job], { concurrency: 50 });
