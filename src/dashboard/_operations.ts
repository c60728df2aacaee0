/**
 * The dashboard's actions over a queue, in one place, with the answers a
 * request needs: a 404 for a job that is not there, a 409 for an action its
 * state does not allow.
 *
 * @module
 */
import { HTTPException } from "hono/http-exception";
import type { JobInfo, JobQuery } from "../queue/mod.ts";
import type { DashboardQueue } from "./sources.ts";

/** The actions on one job. */
export type JobAction = "retry" | "remove" | "promote" | "cancel";

/** The actions on what a search matches. */
export type BulkAction = "retry" | "remove";

/** One job, or a 404. */
export async function findJob(
  queue: DashboardQueue,
  id: string,
  queueName?: string,
): Promise<JobInfo> {
  const job = await queue.job(id, queueName);
  if (job === null) throw new HTTPException(404, { message: `No job ${id}` });
  return job;
}

/** Runs an action on one job; a 409 when its state does not allow it. */
export async function actOnJob(
  queue: DashboardQueue,
  action: JobAction,
  id: string,
  queueName?: string,
): Promise<void> {
  const job = await findJob(queue, id, queueName);
  const state = job.state;
  // Cancelling is removing an active job (its handler's signal aborts); removing never
  // cancels by surprise, so each button does what it says.
  const allowed = action === "cancel"
    ? state === "active"
    : action !== "remove" || state !== "active";
  const done = allowed &&
    await queue[action === "cancel" ? "remove" : action](job.id, job.queue);
  if (!done) {
    throw new HTTPException(409, { message: `Job ${id} cannot be ${PAST[action]} while ${state}` });
  }
}

const PAST: Record<JobAction, string> = {
  retry: "retried",
  remove: "removed",
  promote: "promoted",
  cancel: "cancelled",
};

/**
 * Runs an action on every job a search matches (every page of it); answers
 * how many. A search with no field at all is refused: one stray request must
 * not remove every job of every queue.
 */
export async function actOnSearch(
  queue: DashboardQueue,
  action: BulkAction,
  query: JobQuery,
): Promise<number> {
  const { limit: _limit, cursor: _cursor, ...all } = query;
  if (Object.values(all).every((value) => value === undefined)) {
    throw new HTTPException(400, {
      message: `${action}-all needs a search: queue, state, name, tag, id, since or until`,
    });
  }
  return action === "retry" ? await queue.retryAll(all) : await queue.removeAll(all);
}

/** Pauses or resumes a queue the queue knows (an unknown name is a 404, not a new queue). */
export async function setPaused(
  queue: DashboardQueue,
  name: string,
  paused: boolean,
): Promise<void> {
  if (!(await queue.queues()).some((summary) => summary.name === name)) {
    throw new HTTPException(404, { message: `No queue ${name}` });
  }
  await (paused ? queue.pause(name) : queue.resume(name));
}
