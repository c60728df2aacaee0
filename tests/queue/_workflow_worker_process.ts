/**
 * A worker in its own process for the batch crash test: it runs a batch's
 * members, counting each run with HINCRBY on `<prefix>:runs`, and the member
 * whose payload is `<hang>` counts its run and then waits for ever, so the
 * test can SIGKILL the process after that job's work and before its
 * completion (and with it the batch's callbacks) is reported.
 *
 * Usage: deno run -A _workflow_worker_process.ts <gatewayUrl> <token> <prefix> <hang>
 *
 * @module
 */
import * as v from "valibot";
import { UpstashRedis } from "../../src/redis/mod.ts";
import { defineJob, Queue, RedisBackend, silentLogger, Worker } from "../../src/queue/mod.ts";

const [url, token, prefix, hang] = Deno.args;
const redis = new UpstashRedis({ url, token });

const member = defineJob({
  name: "member",
  schema: v.number(),
  maxRetries: 0,
  async handle(n) {
    await redis.pipeline([["HINCRBY", `${prefix}:runs`, String(n), 1]]);
    if (n === Number(hang)) await new Promise(() => {});
  },
});
const queue = new Queue({ backend: new RedisBackend({ redis, prefix }) });
// Long leases: the test ends them itself once the process is dead.
const worker = new Worker(queue, {
  jobs: [member],
  concurrency: 4,
  leaseDuration: 60_000,
  logger: silentLogger,
});
await worker.start();
console.log("started");
