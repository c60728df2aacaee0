/**
 * A worker in its own process for the workflow crash tests: it runs a batch's
 * members and a chain's steps, counting each run with HINCRBY on
 * `<prefix>:runs` (fields `<n>` and `s<n>`), and the member or step whose
 * payload is `<hang>` counts its run and then waits for ever, so the test can
 * SIGKILL the process after that job's work and before its completion (and
 * with it the batch's callbacks or the chain's next step) is reported.
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
const step = defineJob({
  name: "step",
  schema: v.number(),
  maxRetries: 0,
  async handle(n) {
    await redis.pipeline([["HINCRBY", `${prefix}:runs`, `s${n}`, 1]]);
    if (n === Number(hang)) await new Promise(() => {});
    return n * 10;
  },
});
const queue = new Queue({ backend: new RedisBackend({ redis, prefix }) });
// Long leases: the test ends them itself once the process is dead.
const worker = new Worker(queue, {
  jobs: [member, step],
  concurrency: 4,
  leaseDuration: 60_000,
  logger: silentLogger,
});
await worker.start();
console.log("started");
