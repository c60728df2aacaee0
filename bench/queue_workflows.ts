/**
 * Queue workflows: a chain of 10 no-op steps and a batch of
 * 10,000 no-op jobs, time from dispatch to the chain's last step and to the
 * batch's `then`, on Kiln (RedisBackend over the HTTP gateway, and
 * MemoryBackend) beside BullMQ's FlowProducer over TCP (a chain is a flow 10
 * deep, each parent waiting for its child; a batch is one parent waiting for
 * 10,000 children), on the same redis-server. Workers start before the
 * dispatch, at the same concurrency. Several rounds, alternating contenders;
 * prints one JSON document with the load average at the start and the end.
 * bench/queue.ts's other modes stay as they were (this is its `--workflows`).
 *
 * ```sh
 * deno run -A bench/queue_workflows.ts [--rounds 3] [--concurrency 50] [--batch 10000]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as v from "valibot";
import { type FlowJob, FlowProducer, Worker as BullWorker } from "bullmq";
import {
  defineJob,
  MemoryBackend,
  Queue,
  RedisBackend,
  silentLogger,
  Worker,
} from "../src/queue/mod.ts";
import type { RedisLike } from "../src/redis/mod.ts";
import type { Redis } from "@upstash/redis";
import { startRedisStack } from "../tests/support/redis_stack.ts";

/** What the workflow bench runs with. */
interface WorkflowBenchOptions {
  readonly redis: Redis | RedisLike;
  readonly redisPort: number;
  readonly concurrency: number;
  readonly steps: number;
  readonly batchSize: number;
  readonly rounds: number;
}

type Contender = (kind: "chain" | "batch", round: number) => Promise<number>;

/** Milliseconds from calling `dispatch` until `done` is called (by a handler). */
async function untilDone(dispatch: (done: () => void) => Promise<unknown>): Promise<number> {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const start = performance.now();
  await dispatch(finish);
  await finished;
  return performance.now() - start;
}

function kiln(
  makeBackend: (name: string) => ConstructorParameters<typeof Queue>[0]["backend"],
  o: WorkflowBenchOptions,
): Contender {
  return async (kind, round) => {
    const queue = new Queue({
      backend: makeBackend(`${kind}-${round}`),
      retain: { completed: false },
      search: false,
      metrics: false,
    });
    let done = () => {};
    const step = defineJob({
      name: "step",
      schema: v.number(),
      maxRetries: 0,
      handle: (n) => {
        if (n === o.steps) done();
      },
    });
    const member = defineJob({ name: "member", schema: v.number(), maxRetries: 0, handle() {} });
    const then = defineJob({ name: "then", schema: v.null(), handle: () => done() });
    const worker = new Worker(queue, {
      jobs: [step, member, then],
      concurrency: o.concurrency,
      logger: silentLogger,
      minPollInterval: 10,
    });
    await worker.start();
    try {
      return await untilDone(async (finish) => {
        done = finish;
        if (kind === "chain") {
          await queue.chain(Array.from({ length: o.steps }, (_, i) => [step, i + 1] as const));
        } else {
          await queue.batch(
            Array.from({ length: o.batchSize }, (_, i) => [member, i] as const),
            { then: [then, null] },
          );
        }
      });
    } finally {
      await worker.stop();
    }
  };
}

function bullmq(o: WorkflowBenchOptions): Contender {
  const connection = { host: "127.0.0.1", port: o.redisPort, maxRetriesPerRequest: null };
  const opts = { removeOnComplete: true, removeOnFail: true };
  return async (kind, round) => {
    const name = `wf-${kind}-${round}`;
    let done = () => {};
    const worker = new BullWorker(name, (job) => {
      if (job.name === "last") done();
      return Promise.resolve();
    }, { connection, concurrency: o.concurrency });
    await worker.waitUntilReady();
    const flows = new FlowProducer({ connection });
    try {
      return await untilDone(async (finish) => {
        done = finish;
        if (kind === "chain") {
          // The last step is the root; each parent runs once its one child completed.
          let tree: FlowJob = { name: "step", queueName: name, data: { n: 1 }, opts };
          for (let n = 2; n <= o.steps; n++) {
            tree = {
              name: n === o.steps ? "last" : "step",
              queueName: name,
              data: { n },
              opts,
              children: [tree],
            };
          }
          await flows.add(tree);
        } else {
          await flows.add({
            name: "last",
            queueName: name,
            data: null,
            opts,
            children: Array.from({ length: o.batchSize }, (_, n) => ({
              name: "member",
              queueName: name,
              data: { n },
              opts,
            })),
          });
        }
      });
    } finally {
      await worker.close();
      await flows.close();
    }
  };
}

/** Runs the rounds and reports each contender's times in milliseconds, and their medians. */
async function benchWorkflows(o: WorkflowBenchOptions) {
  const contenders: [string, Contender][] = [
    [
      "kilnRedisOverHttp",
      kiln((name) => new RedisBackend({ redis: o.redis, prefix: `bench-wf-${name}` }), o),
    ],
    ["kilnMemory", kiln(() => new MemoryBackend(), o)],
    ["bullmqFlowProducerOverTcp", bullmq(o)],
  ];
  const results: Record<string, { chainMs: number[]; batchMs: number[] }> = {};
  for (let round = 0; round < o.rounds; round++) {
    for (const [name, run] of contenders) {
      const entry = results[name] ??= { chainMs: [], batchMs: [] };
      entry.chainMs.push(Math.round(await run("chain", round)));
      entry.batchMs.push(Math.round(await run("batch", round)));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return {
    chainSteps: o.steps,
    batchJobs: o.batchSize,
    concurrency: o.concurrency,
    rounds: o.rounds,
    "dispatch to last step / then, ms": results,
    medians: Object.fromEntries(
      Object.entries(results).map(([name, r]) => [name, {
        chainMs: median(r.chainMs),
        batchMs: median(r.batchMs),
      }]),
    ),
  };
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "50" },
    batch: { type: "string", default: "10000" },
  },
});
const loadAverage = async () => (await Deno.readTextFile("/proc/loadavg").catch(() => "")).trim();
await using stack = await startRedisStack();
const loadBefore = await loadAverage();
const results = await benchWorkflows({
  redis: stack.redis,
  redisPort: stack.redisPort,
  concurrency: Number(values.concurrency),
  steps: 10,
  batchSize: Number(values.batch),
  rounds: Number(values.rounds),
});
console.log(JSON.stringify(
  {
    benchmark: "queue workflows (dispatch to a chain's last step, to a batch's then)",
    runtime: `deno ${Deno.version.deno}`,
    loadAverage: { before: loadBefore, after: await loadAverage() },
    ...results,
  },
  null,
  2,
));
