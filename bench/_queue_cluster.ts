/**
 * `bench/queue.ts --cluster`: one queue on a real 3-master Redis Cluster behind the
 * gateway's `--cluster` mode, in one partition and in six, alternating rounds in the
 * same run. Each run dispatches `jobs` no-op jobs, then times several workers (each with
 * its own Queue, as separate processes would have) draining them: end-to-end jobs/s.
 * Beside it, the CPU each part spent per job (this process, the gateway, each master),
 * which tells what bounds the figure.
 *
 * @module
 */
import * as v from "valibot";
import { createClient } from "redis";
import { defineJob, Queue, RedisBackend, silentLogger, Worker } from "../src/queue/mod.ts";
import { startClusterStack } from "../tests/cluster/_cluster_stack.ts";

/** What the cluster run measures. */
export interface PartitionBenchOptions {
  readonly jobs: number;
  readonly concurrency: number;
  readonly rounds: number;
  readonly workers: number;
  readonly partitions: readonly number[];
}

const noop = defineJob({
  name: "noop",
  schema: v.object({ n: v.number() }),
  queue: "reports",
  maxRetries: 0,
  handle() {},
});

/** A process's CPU time so far (user and system), in µs, from /proc. */
async function processCpu(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return (ticks / 100) * 1e6; // USER_HZ is 100 on Linux
}

/** Each master's redis-server CPU time so far, in µs, by URL. */
async function mastersCpu(urls: readonly string[]): Promise<number[]> {
  return await Promise.all(urls.map(async (url) => {
    const client = createClient({ url });
    await client.connect();
    try {
      const info = await client.info("cpu");
      const seconds = (field: string) => Number(new RegExp(`${field}:([\\d.]+)`).exec(info)?.[1]);
      return (seconds("used_cpu_user") + seconds("used_cpu_sys")) * 1e6;
    } finally {
      client.destroy();
    }
  }));
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Warms up, runs the rounds and answers the figures, with the load average before and after. */
export async function benchPartitions(options: PartitionBenchOptions) {
  await using stack = await startClusterStack();
  const masters = (await stack.cluster.masters()).map((node) => node.url);
  let runNumber = 0;
  const run = async (partitions: number, jobs = options.jobs) => {
    const payloads = Array.from({ length: jobs }, (_, n) => ({ n }));
    const prefix = `bench-part-${runNumber++}`;
    const make = () =>
      new Queue({
        backend: new RedisBackend({ redis: stack.redis, prefix }),
        partitions: { reports: partitions },
        retain: { completed: false },
        search: false,
        metrics: false,
      });
    await make().dispatchMany(noop, payloads);
    const workers = Array.from({ length: options.workers }, () =>
      new Worker(make(), {
        jobs: [noop],
        queues: ["reports"],
        concurrency: options.concurrency,
        logger: silentLogger,
      }));
    const cpu = {
      self: await processCpu(Deno.pid),
      gateway: await processCpu(stack.gatewayProcess.pid),
      masters: await mastersCpu(masters),
    };
    const started = performance.now();
    const summaries = await Promise.all(workers.map((worker) => worker.drain()));
    const seconds = (performance.now() - started) / 1_000;
    const completed = summaries.reduce((sum, s) => sum + s.completed, 0);
    if (completed !== jobs) throw new Error(`completed ${completed} of ${jobs}`);
    const perJob = (before: number, after: number) => round((after - before) / jobs);
    const mastersAfter = await mastersCpu(masters);
    const busiest = Math.max(...mastersAfter.map((after, i) => after - cpu.masters[i]));
    return {
      jobsPerSecond: Math.round(jobs / seconds),
      // What the busiest master could carry if it alone were the limit: the shard cap.
      busiestMasterCeilingJobsPerSecond: Math.round(jobs / (busiest / 1e6)),
      cpuMicrosecondsPerJob: {
        workersProcess: perJob(cpu.self, await processCpu(Deno.pid)),
        gateway: perJob(cpu.gateway, await processCpu(stack.gatewayProcess.pid)),
        eachMaster: mastersAfter.map((after, i) => perJob(cpu.masters[i], after)),
      },
    };
  };
  // Untimed: the gateway's connections to every master and the scripts on each are made here.
  for (const partitions of options.partitions) await run(partitions, 2_000);
  const loadBefore = (await Deno.readTextFile("/proc/loadavg")).trim();
  const runs: Record<string, Awaited<ReturnType<typeof run>>[]> = {};
  for (let r = 0; r < options.rounds; r++) {
    for (const partitions of options.partitions) {
      (runs[`partitions${partitions}`] ??= []).push(await run(partitions));
    }
  }
  const median = (name: string) => {
    const sorted = runs[name].map((x) => x.jobsPerSecond).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  };
  const [first, ...others] = options.partitions;
  return {
    benchmark:
      "partitioned queue on a 3-master Redis Cluster (gateway --cluster, alternating rounds)",
    jobs: options.jobs,
    workers: options.workers,
    concurrencyPerWorker: options.concurrency,
    runtime: `deno ${Deno.version.deno}`,
    cpus: navigator.hardwareConcurrency,
    loadAverage: { before: loadBefore, after: (await Deno.readTextFile("/proc/loadavg")).trim() },
    medianJobsPerSecond: Object.fromEntries(Object.keys(runs).map((name) => [name, median(name)])),
    ratioToPartitions1: Object.fromEntries(
      others.map((
        p,
      ) => [`partitions${p}`, round(median(`partitions${p}`) / median(`partitions${first}`), 2)]),
    ),
    runs,
  };
}
