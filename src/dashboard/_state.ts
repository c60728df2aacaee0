/**
 * What every page and API route of one dashboard shares.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { RealtimeActivity } from "./_realtime_activity.ts";
import type { DashboardQueue, DashboardScheduler } from "./sources.ts";
import type { UploadActivity } from "./upload_activity.ts";

/** The parts a dashboard shows. */
export interface DashboardParts {
  /** The queue. */
  queue: DashboardQueue;
  /** The scheduler, if given. */
  scheduler?: DashboardScheduler;
  /** The hub's channels, if a hub was given. */
  realtime?: RealtimeActivity;
  /** Uploads, if given. */
  uploads?: UploadActivity;
  /** Time. */
  clock: Clock;
}
