/**
 * What traces cost the queue (#16), beside BullMQ's own OpenTelemetry
 * integration (`bullmq-otel`, by BullMQ's authors), all on one redis-server
 * started for the run. Prints one JSON document.
 *
 * For each contender, in alternating rounds (`--rounds`, medians reported):
 * the latency of single dispatches (`--samples`), and the time to run
 * `--jobs` no-op jobs dispatched beforehand (drain at concurrency 50; BullMQ's
 * worker until the last completes). Kiln runs on MemoryBackend (CPU only, where
 * a cost per job shows most) and on RedisBackend over the HTTP gateway:
 * - `before`: Kiln before traces (`--before <another checkout's src/queue/mod.ts>`; `--after`
 *   likewise replaces this checkout's, to compare two commits alone);
 * - `off`: no `tracing` option, what an application that does not trace gets;
 * - `noop`: `tracing: otel` but no SDK registered (non-recording spans);
 * - `sdk`: an SDK registered (a batch span processor, as in production), every span
 *   recorded and handed to an exporter that drops it.
 * BullMQ runs over TCP without telemetry (`plain`) and with `BullMQOtel` under the same SDK (`sdk`).
 *
 * ```sh
 * mkdir /tmp/q_before && git archive 89448c6 | tar -x -C /tmp/q_before
 * deno run -A bench/queue_traces.ts --rounds 5 --before /tmp/q_before/src/queue/mod.ts
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as otel from "@opentelemetry/api";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { Queue as BullQueue, Worker as BullWorker } from "bullmq";
import { BullMQOtel } from "bullmq-otel";
import * as v from "valibot";
import { startRedisStack } from "../tests/support/redis_stack.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string", default: "10000" },
    samples: { type: "string", default: "1000" },
    rounds: { type: "string", default: "3" },
    before: { type: "string" },
    after: { type: "string" },
  },
});
const JOBS = Number(values.jobs);
const SAMPLES = Number(values.samples);
const CONCURRENCY = 50;
const payloads = Array.from({ length: JOBS }, (_, n) => ({ n }));

type QueueModule = typeof import("../src/queue/mod.ts");
type Tracing = "before" | "off" | "noop" | "sdk";

let provider: BasicTracerProvider | undefined;

/**
 * Registers an SDK as production would (a batch span processor), whose exporter
 * drops every span (`sdk`), or none at all.
 */
async function useSdk(on: boolean): Promise<void> {
  await provider?.shutdown();
  provider = undefined;
  otel.trace.disable();
  otel.propagation.disable();
  if (!on) return;
  const exporter = {
    export: (_spans: unknown, done: (result: { code: number }) => void) => done({ code: 0 }),
    shutdown: () => Promise.resolve(),
  };
  provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  otel.trace.setGlobalTracerProvider(provider);
  otel.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

function median(list: number[]): number {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** One round of a contender: the p50 of single dispatches (µs) and jobs per second run. */
interface Round {
  dispatchP50Us: number;
  runJobsPerSecond: number;
}

async function measure(
  dispatch: (n: number) => Promise<unknown>,
  fill: () => Promise<unknown>,
  run: () => Promise<number>,
): Promise<Round> {
  for (let i = 0; i < 100; i++) await dispatch(i);
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const start = performance.now();
    await dispatch(i);
    samples.push(performance.now() - start);
  }
  await fill();
  const start = performance.now();
  const ran = await run();
  const seconds = (performance.now() - start) / 1000;
  if (ran !== JOBS + SAMPLES + 100) throw new Error(`ran ${ran} of ${JOBS + SAMPLES + 100}`);
  return { dispatchP50Us: Math.round(median(samples) * 1000), runJobsPerSecond: ran / seconds };
}

let n = 0;

function kiln(
  mod: QueueModule,
  tracing: Tracing,
  backend: (name: string) => import("../src/queue/backend_mod.ts").QueueBackend,
) {
  return async () => {
    await useSdk(tracing === "sdk");
    const job = mod.defineJob({
      name: "noop",
      schema: v.object({ n: v.number() }),
      maxRetries: 0,
      handle() {},
    });
    const options = {
      backend: backend(`traces-${n++}`),
      retain: { completed: false as const },
      search: false,
      metrics: false,
    };
    const queue = new mod.Queue(
      tracing === "before" || tracing === "off" ? options : { ...options, tracing: otel },
    );
    return measure(
      (i) => queue.dispatch(job, { n: i }),
      () => queue.dispatchMany(job, payloads),
      async () => {
        const worker = new mod.Worker(queue, {
          jobs: [job],
          concurrency: CONCURRENCY,
          logger: mod.silentLogger,
        });
        return (await worker.drain()).completed;
      },
    );
  };
}

function bullmq(redisPort: number, telemetry: boolean) {
  return async () => {
    await useSdk(telemetry);
    const connection = { host: "127.0.0.1", port: redisPort, maxRetriesPerRequest: null };
    const opts = { removeOnComplete: true, removeOnFail: true };
    const extra = telemetry ? { telemetry: new BullMQOtel("bench") } : {};
    const name = `traces-${n++}`;
    const queue = new BullQueue(name, { connection, ...extra });
    return measure(
      (i) => queue.add("noop", { n: i }, opts),
      async () => {
        for (let i = 0; i < JOBS; i += 1_000) {
          await queue.addBulk(
            payloads.slice(i, i + 1_000).map((data) => ({ name: "noop", data, opts })),
          );
        }
      },
      async () => {
        let worker: BullWorker | undefined;
        const total = JOBS + SAMPLES + 100;
        await new Promise<void>((resolve) => {
          let completed = 0;
          worker = new BullWorker(name, async () => {}, {
            connection,
            concurrency: CONCURRENCY,
            ...extra,
          });
          worker.on("completed", () => {
            if (++completed === total) resolve();
          });
        });
        await worker?.close();
        await queue.close();
        return total;
      },
    );
  };
}

await using stack = await startRedisStack();
const current = values.after
  ? await import(values.after) as QueueModule
  : await import("../src/queue/mod.ts");
const before = values.before ? await import(values.before) as QueueModule : undefined;
const memory = (mod: QueueModule) => () => new mod.MemoryBackend();
const redis = (mod: QueueModule) => (prefix: string) =>
  new mod.RedisBackend({ redis: stack.redis, prefix });
const contenders: [string, () => Promise<Round>][] = [];
for (const [place, backendOf] of [["memory", memory], ["redis", redis]] as const) {
  if (before) contenders.push([`kiln.${place}.before`, kiln(before, "before", backendOf(before))]);
  for (const tracing of ["off", "noop", "sdk"] as const) {
    contenders.push([`kiln.${place}.${tracing}`, kiln(current, tracing, backendOf(current))]);
  }
}
contenders.push(["bullmq.plain", bullmq(stack.redisPort, false)]);
contenders.push(["bullmq.sdk", bullmq(stack.redisPort, true)]);

const loadBefore = (await Deno.readTextFile("/proc/loadavg")).trim();
const rounds: Record<string, Round[]> = {};
for (let round = 0; round < Number(values.rounds); round++) {
  // Each round in another order, so no contender always runs on the same side of a neighbour.
  const order = round % 2 === 0 ? contenders : [...contenders].reverse();
  for (const [name, run] of order) (rounds[name] ??= []).push(await run());
}
await useSdk(false);
const results = Object.fromEntries(
  Object.entries(rounds).map(([name, list]) => [name, {
    dispatchP50Us: median(list.map((r) => r.dispatchP50Us)),
    runJobsPerSecond: Math.round(median(list.map((r) => r.runJobsPerSecond))),
  }]),
);
const ratio = (a: string, b: string, field: keyof Round) =>
  results[a] && results[b] ? Math.round(results[a][field] / results[b][field] * 1000) / 1000 : null;
const ratios: Record<string, unknown> = {};
for (const place of ["memory", "redis"]) {
  const base = before ? `kiln.${place}.before` : `kiln.${place}.off`;
  for (const tracing of ["off", "noop", "sdk"]) {
    ratios[`kiln.${place}.${tracing} / ${base}`] = {
      dispatchP50: ratio(`kiln.${place}.${tracing}`, base, "dispatchP50Us"),
      runJobsPerSecond: ratio(`kiln.${place}.${tracing}`, base, "runJobsPerSecond"),
    };
  }
}
ratios["bullmq.sdk / bullmq.plain"] = {
  dispatchP50: ratio("bullmq.sdk", "bullmq.plain", "dispatchP50Us"),
  runJobsPerSecond: ratio("bullmq.sdk", "bullmq.plain", "runJobsPerSecond"),
};
console.log(JSON.stringify(
  {
    jobs: JOBS,
    samples: SAMPLES,
    rounds: Number(values.rounds),
    loadavg: { before: loadBefore, after: (await Deno.readTextFile("/proc/loadavg")).trim() },
    results,
    ratios,
  },
  null,
  2,
));
