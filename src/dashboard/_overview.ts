/**
 * The overview's figures: counts per queue, live workers, and throughput
 * series when the queue keeps metrics. The same object is the JSON of
 * `GET /api/overview` and of each `snapshot` event.
 *
 * @module
 */
import type { ThroughputPoint } from "./_chart.ts";
import type { DashboardParts } from "./_state.ts";
import type { QueueSummary } from "./sources.ts";

/** The overview at one moment. */
export interface Overview {
  /** When it was read, epoch milliseconds. */
  at: number;
  /** Every queue with its counts. */
  queues: readonly QueueSummary[];
  /** Jobs per state over all queues. */
  totals: Record<string, number>;
  /** Live workers, or `null` when the queue cannot list them. */
  workers: readonly unknown[] | null;
  /** Open realtime connections on this instance, when a hub is watched. */
  connections?: number;
  /** Uploads not yet complete, when uploads are watched. */
  uploading?: number;
}

/** Reads the overview. */
export async function readOverview(parts: DashboardParts): Promise<Overview> {
  const [queues, workers] = await Promise.all([
    parts.queue.queues(),
    parts.queue.workers ? parts.queue.workers() : Promise.resolve(null),
  ]);
  const totals: Record<string, number> = {};
  for (const queue of queues) {
    for (const [state, count] of Object.entries(queue.counts)) {
      totals[state] = (totals[state] ?? 0) + (typeof count === "number" ? count : 0);
    }
  }
  const overview: Overview = { at: parts.clock.now(), queues, totals, workers };
  if (parts.realtime) overview.connections = parts.realtime.connections;
  if (parts.uploads) overview.uploading = parts.uploads.list().filter((u) => !u.complete).length;
  return overview;
}

/** Latency percentiles of one bucket, in milliseconds (`null` when nothing was measured). */
export interface Latency {
  /** The median. */
  p50: number | null;
  /** The 95th percentile. */
  p95: number | null;
}

/** One bucket of `queue.metrics()` as the overview uses it. */
export interface MetricSample extends ThroughputPoint {
  /** From due to start. */
  wait?: Latency;
  /** How long handlers ran. */
  run?: Latency;
}

/** The buckets of a `queue.metrics()` answer (an array of `{ at, completed, failed, wait?, run? }`). */
export function samplesOf(answer: unknown): MetricSample[] | null {
  if (!Array.isArray(answer)) return null;
  const samples: MetricSample[] = [];
  for (const item of answer) {
    const bucket = item as Record<string, unknown>;
    if (typeof bucket.at !== "number" || typeof bucket.completed !== "number") return null;
    const sample: MetricSample = {
      at: bucket.at,
      completed: bucket.completed,
      failed: Number(bucket.failed ?? 0),
    };
    const wait = latencyOf(bucket.wait);
    if (wait) sample.wait = wait;
    const run = latencyOf(bucket.run);
    if (run) sample.run = run;
    samples.push(sample);
  }
  return samples;
}

function latencyOf(value: unknown): Latency | undefined {
  const latency = value as { p50?: unknown; p95?: unknown } | undefined;
  if (typeof latency !== "object" || latency === null) return undefined;
  const number = (n: unknown) => (typeof n === "number" ? n : null);
  return { p50: number(latency.p50), p95: number(latency.p95) };
}
