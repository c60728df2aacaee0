/**
 * The overview's figures: counts per queue and over all queues, and the live
 * workers. The same object is the JSON of `GET /api/overview` and of each
 * `snapshot` event.
 *
 * @module
 */
import type { QueueSummary, WorkerInfo } from "../queue/mod.ts";
import type { DashboardParts } from "./_state.ts";

/** The overview at one moment. */
export interface Overview {
  /** When it was read, epoch milliseconds. */
  at: number;
  /** Every queue with its counts. */
  queues: readonly QueueSummary[];
  /** Jobs per state over all queues. */
  totals: Record<string, number>;
  /** The live workers. */
  workers: readonly WorkerInfo[];
  /** Open realtime connections on this instance, when a hub is watched. */
  connections?: number;
  /** Uploads not yet complete, when uploads are watched. */
  uploading?: number;
}

/** Reads the overview. */
export async function readOverview(parts: DashboardParts): Promise<Overview> {
  const [queues, workers] = await Promise.all([parts.queue.queues(), parts.queue.workers()]);
  const totals: Record<string, number> = {};
  for (const queue of queues) {
    for (const [state, count] of Object.entries(queue.counts)) {
      if (typeof count === "number") totals[state] = (totals[state] ?? 0) + count;
    }
  }
  const overview: Overview = { at: parts.clock.now(), queues, totals, workers };
  if (parts.realtime) overview.connections = parts.realtime.connections;
  if (parts.uploads) overview.uploading = parts.uploads.list().filter((u) => !u.complete).length;
  return overview;
}
