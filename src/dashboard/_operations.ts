/**
 * The dashboard's reads and actions over a queue, in one place: each uses the
 * operating call when the queue has it, the older call where one does the same
 * job (the failed store), and otherwise refuses with 501 naming the missing
 * call, so a page never shows made-up data.
 *
 * @module
 */
import { HTTPException } from "hono/http-exception";
import type { DashboardJob, DashboardQueue, JobPage, JobQuery, QueueSummary } from "./sources.ts";

/** The actions on one job. */
export type JobAction = "retry" | "remove" | "promote" | "cancel";

/** The actions on what a search matches. */
export type BulkAction = "retry" | "remove";

/** Thrown when the queue lacks the call an answer needs (HTTP 501, code `NOT_SUPPORTED`). */
export function notSupported(what: string, call: string): HTTPException {
  return new HTTPException(501, {
    message: `${what} needs ${call}, which this queue does not have`,
  });
}

/** Every queue seen, with its counts and paused flag (`paused` absent when unknown). */
export async function queueSummaries(queue: DashboardQueue): Promise<QueueSummary[]> {
  if (queue.queues) return [...await queue.queues()];
  const names = await queue.backend.queues();
  const counts = await Promise.all(names.map((name) => queue.counts(name)));
  return names.map((name, index) => ({ name, counts: counts[index] }));
}

/** A page of jobs matching a search. */
export async function searchJobs(queue: DashboardQueue, query: JobQuery): Promise<JobPage> {
  if (queue.jobs) return await queue.jobs(query);
  if (query.id !== undefined) {
    const job = await queue.job(query.id, query.queue);
    const matches = job !== null && (query.state === undefined || stateOf(job) === query.state);
    return { jobs: matches ? [job] : [], cursor: null };
  }
  if (query.state === "failed" && onlyQueueAndState(query)) {
    const offset = query.cursor === undefined ? 0 : Number(query.cursor);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new HTTPException(400, { message: "cursor is not one this dashboard gave" });
    }
    const limit = query.limit ?? 50;
    const jobs = await queue.failed.list({ queue: query.queue, limit: limit + 1, offset });
    const more = jobs.length > limit;
    return { jobs: jobs.slice(0, limit), cursor: more ? String(offset + limit) : null };
  }
  throw notSupported("Searching jobs by state, name, tag or time", "queue.jobs()");
}

/** One job, or a 404. */
export async function findJob(
  queue: DashboardQueue,
  id: string,
  queueName?: string,
): Promise<DashboardJob> {
  const job = await queue.job(id, queueName);
  if (job === null) throw new HTTPException(404, { message: `No job ${id}` });
  return job;
}

/** Runs an action on one job; answers whether it did anything. */
export async function actOnJob(
  queue: DashboardQueue,
  action: JobAction,
  id: string,
  queueName?: string,
): Promise<boolean> {
  switch (action) {
    case "retry":
      if (queue.retry) return truthy(await queue.retry(id));
      return await queue.failed.retry(id, queueName);
    case "remove":
      if (queue.remove) return truthy(await queue.remove(id));
      if (await queue.failed.forget(id, queueName)) return true;
      if (await queue.job(id, queueName) === null) return false;
      throw notSupported("Removing a job that has not failed", "queue.remove()");
    case "promote":
      if (!queue.promote) throw notSupported("Promoting a delayed job", "queue.promote()");
      return truthy(await queue.promote(id));
    case "cancel":
      // Removing an active job is how it is cancelled: its handler's signal aborts.
      if (!queue.remove) throw notSupported("Cancelling an active job", "queue.remove()");
      return truthy(await queue.remove(id));
  }
}

/** Runs an action on every job a search matches; answers how many. */
export async function actOnSearch(
  queue: DashboardQueue,
  action: BulkAction,
  query: JobQuery,
): Promise<number> {
  const { limit: _limit, cursor: _cursor, ...all } = query;
  if (action === "retry") {
    if (queue.retryAll) return await queue.retryAll(all);
    if (all.state === "failed" && onlyQueueAndState(all)) {
      return await queue.failed.retryAll(all.queue);
    }
    throw notSupported("Retrying what a search matches", "queue.retryAll()");
  }
  if (!queue.removeAll) throw notSupported("Removing what a search matches", "queue.removeAll()");
  return await queue.removeAll(all);
}

/** Pauses or resumes a queue. */
export async function setPaused(
  queue: DashboardQueue,
  name: string,
  paused: boolean,
): Promise<void> {
  const call = paused ? queue.pause : queue.resume;
  if (!call) {
    throw notSupported(
      paused ? "Pausing a queue" : "Resuming a queue",
      `queue.${paused ? "pause" : "resume"}()`,
    );
  }
  await call.call(queue, name);
}

/** A job's state in the search's words (`ready` is what a search calls `waiting`). */
export function stateOf(job: DashboardJob): string {
  if (job.state === undefined) return job.failedAt === undefined ? "unknown" : "failed";
  return job.state === "ready" ? "waiting" : job.state;
}

function onlyQueueAndState(query: JobQuery): boolean {
  return query.name === undefined && query.tag === undefined && query.since === undefined &&
    query.until === undefined && query.id === undefined;
}

/** `remove()` and friends may answer a boolean, a count or nothing; nothing means done. */
function truthy(answer: unknown): boolean {
  if (typeof answer === "number") return answer > 0;
  return answer !== false && answer !== null;
}
