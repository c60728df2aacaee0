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

/**
 * Throughput buckets from a `queue.metrics()` answer: an array (or an object
 * with a `points`/`series` array) of buckets with a start time and counts.
 */
export function throughputOf(answer: unknown): ThroughputPoint[] | null {
  const list = Array.isArray(answer)
    ? answer
    : Array.isArray((answer as { points?: unknown })?.points)
    ? (answer as { points: unknown[] }).points
    : Array.isArray((answer as { series?: unknown })?.series)
    ? (answer as { series: unknown[] }).series
    : null;
  if (list === null) return null;
  const points: ThroughputPoint[] = [];
  for (const item of list) {
    const bucket = item as Record<string, unknown>;
    const at = bucket.at ?? bucket.start ?? bucket.time ?? bucket.minute;
    if (typeof at !== "number" || typeof bucket.completed !== "number") return null;
    points.push({ at, completed: bucket.completed, failed: Number(bucket.failed ?? 0) });
  }
  return points;
}
