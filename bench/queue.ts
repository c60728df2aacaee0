/**
 * Benchmarks Kiln's queue (RedisBackend over the HTTP gateway, and
 * MemoryBackend) beside BullMQ over TCP, all on one redis-server started for
 * the run, and prints one JSON document.
 *
 * Measured for each: single `dispatch` latency (p50/p99), bulk dispatch
 * throughput (`dispatchMany` vs BullMQ's `addBulk`), and end-to-end
 * processing of 20,000 no-op jobs at concurrency 50.
 *
 * ```sh
 * deno run -A bench/queue.ts [--jobs 20000] [--samples 2000]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as v from "valibot";
import { Queue as BullQueue, Worker as BullWorker } from "bullmq";
import {
  defineJob,
  MemoryBackend,
  Queue,
  RedisBackend,
  silentLogger,
  Worker,
} from "../src/queue/mod.ts";
import type { QueueBackend } from "../src/queue/backend_mod.ts";
import { startRedisStack } from "../tests/support/redis_stack.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string", default: "20000" },
    samples: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "50" },
  },
});
const JOBS = Number(values.jobs);
const SAMPLES = Number(values.samples);
const CONCURRENCY = Number(values.concurrency);
const BULK_CHUNK = 1_000;

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

async function latency(op: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 200; i++) await op();
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const start = performance.now();
    await op();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return {
    p50: round(samples[Math.floor(samples.length * 0.5)]),
    p99: round(samples[Math.floor(samples.length * 0.99)]),
  };
}

async function timed(op: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await op();
  return (performance.now() - start) / 1000;
}

const payloads = Array.from({ length: JOBS }, (_, n) => ({ n }));
const noop = defineJob({
  name: "noop",
  schema: v.object({ n: v.number() }),
  maxRetries: 0,
  handle() {},
});

async function benchKiln(makeBackend: (name: string) => QueueBackend) {
  const single = new Queue({ backend: makeBackend("single") });
  const dispatch = await latency(() => single.dispatch(noop, { n: 1 }));

  const bulkQueue = new Queue({ backend: makeBackend("bulk") });
  const bulkSeconds = await timed(() => bulkQueue.dispatchMany(noop, payloads));

  const e2eQueue = new Queue({ backend: makeBackend("e2e") });
  await e2eQueue.dispatchMany(noop, payloads);
  const worker = new Worker(e2eQueue, {
    jobs: [noop],
    concurrency: CONCURRENCY,
    logger: silentLogger,
  });
  let completed = 0;
  const e2eSeconds = await timed(async () => {
    completed = (await worker.drain()).completed;
  });
  if (completed !== JOBS) throw new Error(`Kiln completed ${completed} of ${JOBS}`);
  return {
    dispatchLatencyMs: dispatch,
    bulkDispatchJobsPerSecond: Math.round(JOBS / bulkSeconds),
    endToEndJobsPerSecond: Math.round(JOBS / e2eSeconds),
    endToEndSeconds: round(e2eSeconds),
  };
}

async function benchBullmq(redisPort: number) {
  const connection = { host: "127.0.0.1", port: redisPort, maxRetriesPerRequest: null };
  const opts = { removeOnComplete: true, removeOnFail: true };
  const single = new BullQueue("single", { connection });
  const bulk = new BullQueue("bulk", { connection });
  const e2e = new BullQueue("e2e", { connection });
  try {
    const dispatch = await latency(() => single.add("noop", { n: 1 }, opts));
    const bulkSeconds = await timed(async () => {
      for (let i = 0; i < JOBS; i += BULK_CHUNK) {
        await bulk.addBulk(
          payloads.slice(i, i + BULK_CHUNK).map((data) => ({ name: "noop", data, opts })),
        );
      }
    });
    for (let i = 0; i < JOBS; i += BULK_CHUNK) {
      await e2e.addBulk(
        payloads.slice(i, i + BULK_CHUNK).map((data) => ({ name: "noop", data, opts })),
      );
    }
    let completed = 0;
    let worker: BullWorker | undefined;
    const e2eSeconds = await timed(() =>
      new Promise<void>((resolve) => {
        worker = new BullWorker("e2e", async () => {}, { connection, concurrency: CONCURRENCY });
        worker.on("completed", () => {
          if (++completed === JOBS) resolve();
        });
      })
    );
    await worker?.close();
    return {
      dispatchLatencyMs: dispatch,
      bulkDispatchJobsPerSecond: Math.round(JOBS / bulkSeconds),
      endToEndJobsPerSecond: Math.round(JOBS / e2eSeconds),
      endToEndSeconds: round(e2eSeconds),
    };
  } finally {
    await Promise.all([single.close(), bulk.close(), e2e.close()]);
  }
}

await using stack = await startRedisStack();
const results = {
  benchmark: "queue",
  jobs: JOBS,
  concurrency: CONCURRENCY,
  runtime: `deno ${Deno.version.deno}`,
  kilnRedisOverHttp: await benchKiln((name) =>
    new RedisBackend({ redis: stack.redis, prefix: `bench-${name}` })
  ),
  kilnMemory: await benchKiln(() => new MemoryBackend()),
  bullmqOverTcp: await benchBullmq(stack.redisPort),
};
console.log(JSON.stringify(results, null, 2));
