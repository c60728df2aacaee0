/**
 * A process for the loading test: dispatches and runs one job on a queue
 * created without `tracing`, under whatever import map it was started with,
 * and prints what it saw as JSON: how often `@opentelemetry/api` was loaded
 * (counted by `_otel_spy.ts` when the map points there), the stored trace
 * context and the run's summary.
 *
 * Usage: deno run --no-config --import-map=<map> -A _tracing_probe.ts
 *
 * @module
 */
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue, silentLogger, Worker } from "../../src/queue/mod.ts";

const loads = () => (globalThis as { kilnOtelLoads?: number }).kilnOtelLoads ?? 0;
const job = defineJob({ name: "probe", schema: v.number(), handle: (n) => n + 1 });
const queue = new Queue({ backend: new MemoryBackend() });
const { id } = await queue.dispatch(job, 1);
const stored = await queue.job(id);
const summary = await new Worker(queue, { jobs: [job], logger: silentLogger }).drain();
console.log(JSON.stringify({
  loads: loads(),
  trace: stored?.trace ?? null,
  completed: summary.completed,
  failed: summary.failed,
}));
