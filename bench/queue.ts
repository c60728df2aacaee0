/**
 * Benchmarks Kiln's queue (RedisBackend over the HTTP gateway, and
 * MemoryBackend) beside BullMQ over TCP, all on one redis-server started for
 * the run, and prints one JSON document.
 *
 * Measured for each: single `dispatch` latency (p50/p99), bulk dispatch
 * throughput (`dispatchMany` vs BullMQ's `addBulk`), and end-to-end
 * processing of 20,000 no-op jobs at concurrency 50. Kiln over HTTP runs
 * twice: with the operating features on (completed jobs retained, tags, and
 * an `events()` reader, search index and metrics) and off
 * (`retain: { completed: false }`, `search: false`, `metrics: false`, no tags,
 * no reader; heartbeats stay on). Then, on Redis: a tag
 * search over 100,000 retained jobs, the memory a retained completed job
 * costs (200-byte payload), and the memory of one queue-day of metrics.
 *
 * With `--rounds N`, it instead alternates N runs (dispatchMany, then drain,
 * of `--jobs` no-op jobs) of Kiln off, Kiln on, Kiln on without the events
 * reader and on without search (what each part costs), BullMQ and, with
 * `--before <path to another checkout's src/queue/mod.ts>`, that version of
 * Kiln, measuring each phase's jobs/s and redis-server's CPU time per job
 * (`INFO cpu`, steadier than jobs/s on a loaded machine), with the medians and
 * each setup's median drain jobs/s over before's in the same round: the
 * issue's budget.
 *
 * With `--flow`, it runs instead `--jobs` jobs of 1 ms over 100 keys under
 * `concurrency: { limit: 5 }` (dispatched key after key, the worst order for
 * a per-key limit), beside the same jobs without a limit, and reports jobs/s
 * and the most jobs of one key seen running at once (it fails above 5). Give
 * the worker more slots than 100 keys × 5 can fill (`--concurrency 500`) so the
 * limit binds: with fewer slots than keys, fairness alone keeps each key near one.
 *
 * With `--cluster`, it runs instead one queue on a real 3-master Redis Cluster
 * (tests/support/redis_cluster.ts, the gateway in `--cluster` mode) in one partition
 * and in six (`QueueOptions.partitions`), alternating `--rounds` (default 3) runs of
 * `--workers` workers (default 3, each its own Queue) draining `--jobs` no-op jobs,
 * with the CPU per job of the workers' process, the gateway and each master
 * (bench/_queue_cluster.ts).
 *
 * ```sh
 * deno run -A bench/queue.ts [--jobs 20000] [--samples 2000] [--search 100000]
 * deno run -A bench/queue.ts --flow --jobs 10000 --concurrency 500
 * deno run -A bench/queue.ts --cluster --jobs 20000 --rounds 3
 * git worktree add /tmp/q_before dc8e823^
 * deno run -A bench/queue.ts --jobs 10000 --rounds 3 --before /tmp/q_before/src/queue/mod.ts
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Redis } from "@upstash/redis";
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
import { createClient } from "redis";
import { benchPartitions } from "./_queue_cluster.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string", default: "20000" },
    samples: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "50" },
    search: { type: "string", default: "100000" },
    rounds: { type: "string", default: "0" },
    before: { type: "string" },
    flow: { type: "boolean", default: false },
    cluster: { type: "boolean", default: false },
    workers: { type: "string", default: "3" },
  },
});
const SEARCH_JOBS = Number(values.search);
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
const schema = v.object({ n: v.number() });
const noop = defineJob({ name: "noop", schema, maxRetries: 0, handle() {} });
const taggedNoop = defineJob({
  name: "noop",
  schema,
  maxRetries: 0,
  tags: (payload) => [`user:${payload.n % 1_000}`],
  handle() {},
});

/** Operating features on (the defaults, tags, a live reader) or off. */
type Mode = "on" | "off";

/** Reads the default queue's events while `on` (a live view); `stop()` answers how many came. */
async function readEvents(queue: Pick<Queue, "events">, on: boolean) {
  const controller = new AbortController();
  const reader = on ? queue.events({ queues: ["default"], signal: controller.signal }) : undefined;
  await reader?.ready;
  let heard = 0;
  const reading = (async () => {
    if (reader) { for await (const _ of reader) heard++; }
  })();
  return {
    async stop(): Promise<number> {
      controller.abort();
      await reading;
      return heard;
    },
  };
}

async function benchKiln(makeBackend: (name: string) => QueueBackend, mode: Mode = "off") {
  const options = mode === "on"
    ? {}
    : { retain: { completed: false as const }, search: false, metrics: false };
  const job = mode === "on" ? taggedNoop : noop;
  const single = new Queue({ backend: makeBackend("single"), ...options });
  const dispatch = await latency(() => single.dispatch(job, { n: 1 }));

  const bulkQueue = new Queue({ backend: makeBackend("bulk"), ...options });
  const bulkSeconds = await timed(() => bulkQueue.dispatchMany(job, payloads));

  const e2eQueue = new Queue({ backend: makeBackend("e2e"), ...options });
  await e2eQueue.dispatchMany(job, payloads);
  const worker = new Worker(e2eQueue, {
    jobs: [job],
    concurrency: CONCURRENCY,
    logger: silentLogger,
  });
  const events = await readEvents(e2eQueue, mode === "on");
  let completed = 0;
  const e2eSeconds = await timed(async () => {
    completed = (await worker.drain()).completed;
  });
  const heard = await events.stop();
  if (completed !== JOBS) throw new Error(`Kiln completed ${completed} of ${JOBS}`);
  return {
    ...(mode === "on" ? { eventsHeard: heard } : {}),
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

/** The Redis memory of every key matching a pattern, in bytes (MEMORY USAGE, all samples). */
async function memoryOf(redisUrl: string, pattern: string): Promise<number> {
  const client = createClient({ url: redisUrl });
  await client.connect();
  try {
    let bytes = 0;
    for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 1_000 })) {
      for (const key of keys) bytes += (await client.memoryUsage(key, { SAMPLES: 0 })) ?? 0;
    }
    return bytes;
  } finally {
    client.destroy();
  }
}

/** A tag search over many retained completed jobs, and what one retained job costs. */
async function benchRetention(redis: Redis, redisUrl: string) {
  const big = { n: 0, text: "x".repeat(185) }; // {"n":…,"text":"…"}: 200 bytes of JSON
  const wide = defineJob({
    name: "wide",
    schema: v.object({ n: v.number(), text: v.string() }),
    maxRetries: 0,
    tags: (payload) => [`user:${payload.n % 1_000}`],
    handle() {},
  });
  const measure = async (prefix: string, retain: boolean, count: number) => {
    const queue = new Queue({
      backend: new RedisBackend({ redis, prefix }),
      retain: { completed: retain ? { count, age: 86_400_000 } : false },
    });
    for (let i = 0; i < count; i += 1_000) {
      await queue.dispatchMany(
        wide,
        Array.from({ length: Math.min(1_000, count - i) }, (_, k) => ({ ...big, n: i + k })),
      );
    }
    await new Worker(queue, { jobs: [wide], concurrency: 200, logger: silentLogger }).drain();
    return queue;
  };
  const queue = await measure("bench-search", true, SEARCH_JOBS);
  const search = await latency(() => queue.jobs({ tag: "user:42", limit: 50 }));
  const sample = 10_000;
  await measure("bench-kept", true, sample);
  await measure("bench-dropped", false, sample);
  const kept = await memoryOf(redisUrl, "bench-kept:*");
  const dropped = await memoryOf(redisUrl, "bench-dropped:*");
  return {
    tagSearchOverRetainedJobs: { jobs: SEARCH_JOBS, matching: SEARCH_JOBS / 1_000, ms: search },
    bytesPerRetainedCompletedJob: Math.round((kept - dropped) / sample),
  };
}

/** One queue-day of metrics: four jobs every minute for 24 hours, on a moving clock. */
async function benchMetricsDay(redis: Redis, redisUrl: string) {
  const start = Date.UTC(2026, 0, 1);
  let now = start;
  const backend = new RedisBackend({ redis, prefix: "bench-metrics" });
  const queue = new Queue({
    backend,
    clock: { setTimeout, clearTimeout, now: () => now },
    retain: { completed: false },
  });
  for (let minute = 0; minute < 1_440; minute++) {
    now = start + minute * 60_000;
    await queue.dispatchMany(noop, [{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }]);
    const token = crypto.randomUUID();
    const take = { queue: "default", leaseDuration: 60_000, complete: [], token };
    const { jobs } = await backend.take({ ...take, now: now + 2_000, reserve: 4 });
    await backend.take({
      ...take,
      now: now + 6_000,
      reserve: 0,
      token: crypto.randomUUID(),
      // Run times across four histogram bins, as a varied workload would spread them.
      complete: jobs.map((job, i) => ({ id: job.id, token, runTime: [3, 40, 700, 4_000][i] })),
    });
  }
  return {
    bytesPerQueueDayOfMetrics: await memoryOf(redisUrl, "bench-metrics:{default}:metrics:*"),
  };
}

/** redis-server's CPU time so far (user and system), in microseconds. */
async function redisCpu(client: ReturnType<typeof createClient>): Promise<number> {
  const info = await client.info("cpu");
  const seconds = (field: string) => Number(new RegExp(`${field}:([\\d.]+)`).exec(info)?.[1]);
  return (seconds("used_cpu_user") + seconds("used_cpu_sys")) * 1e6;
}

type QueueModule = typeof import("../src/queue/mod.ts");

/** What one alternating run of a contender measured. */
interface RoundFigures {
  /** Jobs/s of the drain alone (after `dispatchMany`): the end-to-end figure. */
  drainJobsPerSecond: number;
  /** redis-server CPU (`INFO cpu`) per job over the drain. */
  drainRedisCpuMicros: number;
  /** Jobs/s of `dispatchMany` (BullMQ: `addBulk` in chunks). */
  dispatchJobsPerSecond: number;
  /** redis-server CPU per job over the dispatch. */
  dispatchRedisCpuMicros: number;
}

/** A Kiln setup in the alternating rounds: `on` one part at a time off shows what each costs. */
type RoundMode = Mode | "before" | "onWithoutEvents" | "onWithoutSearch";

/**
 * Alternates runs of each contender (dispatch, then drain, of `--jobs` no-op
 * jobs), `--rounds` times, on one redis-server, and answers each run's
 * figures with the medians over the rounds.
 */
async function redisCpuRounds(redisUrl: string, redisPort: number, redis: Redis) {
  const client = createClient({ url: redisUrl });
  await client.connect();
  const phase = async (run: () => Promise<unknown>) => {
    const cpu = await redisCpu(client);
    const seconds = await timed(run);
    return {
      perSecond: Math.round(JOBS / seconds),
      cpu: round(((await redisCpu(client)) - cpu) / JOBS, 1),
    };
  };
  const figures = async (dispatch: () => Promise<unknown>, drain: () => Promise<unknown>) => {
    const d = await phase(dispatch);
    const e = await phase(drain);
    return {
      drainJobsPerSecond: e.perSecond,
      drainRedisCpuMicros: e.cpu,
      dispatchJobsPerSecond: d.perSecond,
      dispatchRedisCpuMicros: d.cpu,
    };
  };
  let n = 0;
  const kiln = (m: QueueModule, mode: RoundMode) => async (): Promise<RoundFigures> => {
    const on = mode === "on" || mode === "onWithoutEvents" || mode === "onWithoutSearch";
    const job = m.defineJob({
      name: "noop",
      schema,
      maxRetries: 0,
      handle() {},
      ...(on ? { tags: (payload: { n: number }) => [`user:${payload.n % 1_000}`] } : {}),
    });
    const queue = new m.Queue({
      backend: new m.RedisBackend({ redis, prefix: `bench-cpu-${n++}` }),
      ...(mode === "off" ? { retain: { completed: false }, search: false, metrics: false } : {}),
      ...(mode === "onWithoutSearch" ? { search: false } : {}),
    });
    const events = await readEvents(queue, mode === "on" || mode === "onWithoutSearch");
    const worker = new m.Worker(queue, {
      jobs: [job],
      concurrency: CONCURRENCY,
      logger: m.silentLogger,
    });
    let completed = 0;
    const result = await figures(
      () => queue.dispatchMany(job, payloads),
      async () => ({ completed } = await worker.drain()),
    );
    await events.stop();
    if (completed !== JOBS) throw new Error(`Kiln (${mode}) completed ${completed} of ${JOBS}`);
    return result;
  };
  const bullmq = async (): Promise<RoundFigures> => {
    const connection = { host: "127.0.0.1", port: redisPort, maxRetriesPerRequest: null };
    const opts = { removeOnComplete: true, removeOnFail: true };
    const name = `bench-cpu-${n++}`;
    const queue = new BullQueue(name, { connection });
    let worker: BullWorker | undefined;
    try {
      return await figures(
        async () => {
          for (let i = 0; i < JOBS; i += BULK_CHUNK) {
            await queue.addBulk(
              payloads.slice(i, i + BULK_CHUNK).map((data) => ({ name: "noop", data, opts })),
            );
          }
        },
        () =>
          new Promise<void>((resolve) => {
            let completed = 0;
            worker = new BullWorker(name, async () => {}, { connection, concurrency: CONCURRENCY });
            worker.on("completed", () => {
              if (++completed === JOBS) resolve();
            });
          }),
      );
    } finally {
      await worker?.close();
      await queue.close();
    }
  };
  const current = await import("../src/queue/mod.ts");
  const before = values.before ? await import(values.before) as QueueModule : undefined;
  const contenders: [string, () => Promise<RoundFigures>][] = [
    ...(before
      ? [["kilnBefore", kiln(before, "before")] as [string, () => Promise<RoundFigures>]]
      : []),
    ["kilnOff", kiln(current, "off")],
    ["kilnOn", kiln(current, "on")],
    ["kilnOnWithoutEvents", kiln(current, "onWithoutEvents")],
    ["kilnOnWithoutSearch", kiln(current, "onWithoutSearch")],
    ["bullmq", bullmq],
  ];
  const runs: Record<string, RoundFigures[]> = {};
  try {
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const [name, run] of contenders) (runs[name] ??= []).push(await run());
    }
  } finally {
    client.destroy();
  }
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const medians = Object.fromEntries(
    Object.entries(runs).map(([name, list]) => [
      name,
      Object.fromEntries(
        (Object.keys(list[0]) as (keyof RoundFigures)[]).map((
          k,
        ) => [k, median(list.map((r) => r[k]))]),
      ),
    ]),
  );
  // The budget, round by round: each Kiln setup's drain jobs/s over before's in the same round.
  const ratios = before === undefined ? {} : Object.fromEntries(
    Object.keys(runs).filter((name) => name !== "kilnBefore").map((name) => [
      name,
      median(
        runs[name].map((r, i) => r.drainJobsPerSecond / runs.kilnBefore[i].drainJobsPerSecond),
      ),
    ]),
  );
  return {
    jobs: JOBS,
    rounds: Number(values.rounds),
    loadAverage: (await Deno.readTextFile("/proc/loadavg").catch(() => "")).trim(),
    medians,
    medianDrainRatioToBefore: ratios,
    runs,
  };
}

/** Per-key concurrency: 100 keys, limit 5, jobs of 1 ms, beside the same jobs unlimited. */
async function benchFlow(redis: Redis) {
  const KEYS = 100;
  const LIMIT = 5;
  const perKey = Math.ceil(JOBS / KEYS);
  const flowPayloads = Array.from({ length: JOBS }, (_, n) => ({ n }));
  const run = async (limited: boolean, prefix: string) => {
    const running = new Map<number, number>();
    let most = 0;
    const job = defineJob({
      name: "flow",
      schema,
      maxRetries: 0,
      ...(limited
        ? {
          concurrency: { key: (p: { n: number }) => `k${Math.floor(p.n / perKey)}`, limit: LIMIT },
        }
        : {}),
      async handle({ n }) {
        const key = Math.floor(n / perKey);
        const now = (running.get(key) ?? 0) + 1;
        running.set(key, now);
        most = Math.max(most, now);
        await new Promise((resolve) => setTimeout(resolve, 1));
        running.set(key, running.get(key)! - 1);
      },
    });
    const queue = new Queue({
      backend: new RedisBackend({ redis, prefix }),
      retain: { completed: false },
      search: false,
      metrics: false,
    });
    await queue.dispatchMany(job, flowPayloads);
    const worker = new Worker(queue, {
      jobs: [job],
      concurrency: CONCURRENCY,
      logger: silentLogger,
    });
    let completed = 0;
    const seconds = await timed(async () => {
      completed = (await worker.drain()).completed;
    });
    if (completed !== JOBS) throw new Error(`completed ${completed} of ${JOBS}`);
    if (limited && most > LIMIT) throw new Error(`a key ran ${most} jobs at once (limit ${LIMIT})`);
    return { jobsPerSecond: Math.round(JOBS / seconds), mostRunningPerKey: most };
  };
  const plain = await run(false, "bench-flow-plain");
  const limited = await run(true, "bench-flow-limited");
  return {
    keys: KEYS,
    limit: LIMIT,
    unlimited: plain,
    limited,
    limitedVsUnlimited: round(limited.jobsPerSecond / plain.jobsPerSecond),
  };
}

if (values.cluster) {
  const rounds = Number(values.rounds) || 3;
  const figures = await benchPartitions({
    jobs: JOBS,
    concurrency: CONCURRENCY,
    rounds,
    workers: Number(values.workers),
    partitions: [1, 6],
  });
  console.log(JSON.stringify(figures, null, 2));
  Deno.exit(0);
}

await using stack = await startRedisStack();
const redisBackend = (tag: string) => (name: string) =>
  new RedisBackend({ redis: stack.redis, prefix: `bench-${tag}-${name}` });
const results = values.flow
  ? {
    benchmark: "queue flow control (100 keys, concurrency limit 5, Redis over HTTP)",
    jobs: JOBS,
    concurrency: CONCURRENCY,
    runtime: `deno ${Deno.version.deno}`,
    loadAverage: (await Deno.readTextFile("/proc/loadavg").catch(() => "")).trim(),
    ...await benchFlow(stack.redis),
  }
  : Number(values.rounds) > 0
  ? {
    benchmark: "queue (Redis CPU per job, alternating runs)",
    concurrency: CONCURRENCY,
    runtime: `deno ${Deno.version.deno}`,
    ...await redisCpuRounds(stack.redisUrl, stack.redisPort, stack.redis),
  }
  : {
    benchmark: "queue",
    jobs: JOBS,
    concurrency: CONCURRENCY,
    runtime: `deno ${Deno.version.deno}`,
    kilnRedisOverHttpOperatingOff: await benchKiln(redisBackend("off"), "off"),
    kilnRedisOverHttpOperatingOn: await benchKiln(redisBackend("on"), "on"),
    kilnMemory: await benchKiln(() => new MemoryBackend()),
    bullmqOverTcp: await benchBullmq(stack.redisPort),
    redisRetention: await benchRetention(stack.redis, stack.redisUrl),
    redisMetrics: await benchMetricsDay(stack.redis, stack.redisUrl),
  };
console.log(JSON.stringify(results, null, 2));
