/**
 * A process for the loading test: runs one job with the queue's default
 * tracing (`default`) or `tracing: false` (`off`), under whatever import map it
 * was started with, and prints what it saw as JSON: how often
 * `@opentelemetry/api` was loaded before the first dispatch and after the run
 * (counted by `_otel_spy.ts` when the map points there), the stored trace
 * context and the run's summary.
 *
 * Usage: deno run --no-config --import-map=<map> -A _tracing_probe.ts default|off
 *
 * @module
 */
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue, silentLogger, Worker } from "../../src/queue/mod.ts";

const loads = () => (globalThis as { kilnOtelLoads?: number }).kilnOtelLoads ?? 0;
const job = defineJob({ name: "probe", schema: v.number(), handle: (n) => n + 1 });
const queue = new Queue({
  backend: new MemoryBackend(),
  ...(Deno.args[0] === "off" ? { tracing: false as const } : {}),
});
const before = loads();
const { id } = await queue.dispatch(job, 1);
const stored = await queue.job(id);
const summary = await new Worker(queue, { jobs: [job], logger: silentLogger }).drain();
console.log(JSON.stringify({
  before,
  after: loads(),
  trace: stored?.trace ?? null,
  completed: summary.completed,
  failed: summary.failed,
}));
