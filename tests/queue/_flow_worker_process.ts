/**
 * A worker in its own process for the flow control tests (flow_process_test.ts).
 *
 * Usage: deno run -A _flow_worker_process.ts <gatewayUrl> <token> <prefix> <mode>
 * The job "tenant" runs at most 2 at once per tenant (`concurrency`). Each run adds one
 * to `<prefix>:running` for its tenant on entry and takes it off on exit, and records the
 * count it saw on entry in `<prefix>:levels` (a list): a count over 2 is a broken limit,
 * since a run sits inside its job's lease. Runs are counted per job in `<prefix>:runs`.
 * - mode "drain": runs take 10 ms; drains until no job is left waiting, then exits.
 * - mode "hang": runs wait for ever once counted (the test kills the process); long leases.
 *
 * @module
 */
import * as v from "valibot";
import { UpstashRedis } from "../../src/redis/mod.ts";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { serveAs } from "./_processes.ts";

const [url, token, prefix, mode] = Deno.args;
const redis = new UpstashRedis({ url, token });

const job = defineJob({
  name: "tenant",
  schema: v.object({ tenant: v.string(), n: v.number() }),
  concurrency: { key: (payload) => payload.tenant, limit: 2 },
  maxRetries: 0,
  async handle({ tenant, n }) {
    const [entered] = await redis.pipeline([
      ["HINCRBY", `${prefix}:running`, tenant, 1],
      ["HINCRBY", `${prefix}:runs`, `${tenant}:${n}`, 1],
    ]);
    if (!entered.ok) throw new Error(entered.error);
    await redis.pipeline([["RPUSH", `${prefix}:levels`, `${tenant}:${entered.reply}`]]);
    if (mode === "hang") await new Promise(() => {});
    await new Promise((resolve) => setTimeout(resolve, 10));
    await redis.pipeline([["HINCRBY", `${prefix}:running`, tenant, -1]]);
  },
});
const queue = new Queue({ backend: new RedisBackend({ redis, prefix }) });
// Jobs parked behind another process's running ones stay "ready": drain again until
// none is left, pausing between rounds rather than spinning.
await serveAs(mode, queue, [job], { concurrency: 8, pause: 20 });
