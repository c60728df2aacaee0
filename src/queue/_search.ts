/**
 * Job search across a queue's backend: checks a query, pages through one
 * queue after another, and hands out cursors that only the same query accepts.
 *
 * @module
 */
import type { BackendJobQuery, JobInfo, JobPosition, JobState, QueueBackend } from "./backend.ts";
import { InvalidCursorError } from "./errors.ts";

/** A job search, as {@linkcode import("./queue.ts").Queue.jobs} takes it. */
export interface JobQuery {
  /** Only this queue. @default every queue that has had jobs, one after another */
  queue?: string;
  /** Only jobs in this state. */
  state?: JobState;
  /** Only jobs of this definition. */
  name?: string;
  /** Only jobs carrying this tag (`defineJob({ tags })`). */
  tag?: string;
  /** Only the job with this id. */
  id?: string;
  /** Only jobs dispatched at or after this time, in epoch milliseconds. */
  since?: number;
  /** Only jobs dispatched before this time, in epoch milliseconds. */
  until?: number;
  /** At most this many jobs per page, 1 to 1,000. @default 50 */
  limit?: number;
  /** Where the previous page ended: its `cursor`. */
  cursor?: string;
}

/** A page of jobs, newest first. */
export interface JobPage {
  /** The jobs. */
  jobs: JobInfo[];
  /** Pass it back as `cursor` for the next page; `null` on the last. */
  cursor: string | null;
}

const STATES: readonly JobState[] = ["waiting", "delayed", "active", "completed", "failed"];

/** The most jobs one page holds. */
export const MAX_PAGE = 1_000;

interface Cursor {
  readonly v: 1;
  /** The query's filters, so a cursor cannot be replayed against another search. */
  readonly f: string;
  /** The queue the page ended in. */
  readonly q: string;
  /** The last job's sort value and id, or `null` to start at the top of queue `q`. */
  readonly t: number | null;
  readonly i: string;
}

/** The filters of a query, checked; throws `TypeError`/`RangeError` naming the bad field. */
export function checkQuery(query: JobQuery): void {
  if (query === null || typeof query !== "object") throw new TypeError("query must be an object");
  for (const field of ["queue", "name", "tag", "id", "cursor"] as const) {
    const value = query[field];
    if (value !== undefined && (typeof value !== "string" || value.length === 0)) {
      throw new TypeError(`${field} must be a non-empty string`);
    }
  }
  if (query.state !== undefined && !STATES.includes(query.state)) {
    throw new TypeError(`state must be one of ${STATES.join(", ")}, got ${String(query.state)}`);
  }
  for (const field of ["since", "until"] as const) {
    const value = query[field];
    if (value !== undefined && !Number.isSafeInteger(value)) {
      throw new RangeError(`${field} must be epoch milliseconds, got ${value}`);
    }
  }
  const limit = query.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)) {
    throw new RangeError(`limit must be an integer from 1 to ${MAX_PAGE}, got ${limit}`);
  }
}

function fingerprint(query: JobQuery): string {
  return JSON.stringify([
    query.queue,
    query.state,
    query.name,
    query.tag,
    query.id,
    query.since,
    query.until,
  ]);
}

function encodeCursor(query: JobQuery, queue: string, at: JobPosition | null): string {
  const cursor: Cursor = {
    v: 1,
    f: fingerprint(query),
    q: queue,
    t: at?.value ?? null,
    i: at?.id ?? "",
  };
  const bytes = new TextEncoder().encode(JSON.stringify(cursor));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

function decodeCursor(query: JobQuery, text: string): Cursor {
  let cursor: Cursor;
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    cursor = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new InvalidCursorError("it is not a cursor this search handed out");
  }
  if (
    cursor === null || typeof cursor !== "object" || cursor.v !== 1 ||
    typeof cursor.q !== "string" || typeof cursor.i !== "string" ||
    (cursor.t !== null && (typeof cursor.t !== "number" || !Number.isFinite(cursor.t)))
  ) {
    throw new InvalidCursorError("it is malformed");
  }
  if (cursor.f !== fingerprint(query)) {
    throw new InvalidCursorError("it belongs to a search with other filters");
  }
  return cursor;
}

/**
 * Reads one page of a search: the queues in name order (or the one asked
 * for), each newest first, starting where the cursor says.
 */
export async function searchPage(backend: QueueBackend, query: JobQuery): Promise<JobPage> {
  checkQuery(query);
  const limit = query.limit ?? 50;
  const start = query.cursor === undefined ? undefined : decodeCursor(query, query.cursor);
  const names = query.queue !== undefined ? [query.queue] : await backend.queues();
  const jobs: JobInfo[] = [];
  for (const queue of names) {
    if (start !== undefined && queue < start.q) continue;
    // The page is full at the end of the last queue: the next page starts at this one's top.
    if (jobs.length === limit) return { jobs, cursor: encodeCursor(query, queue, null) };
    const after = start !== undefined && queue === start.q && start.t !== null
      ? { value: start.t, id: start.i }
      : undefined;
    const request: BackendJobQuery = {
      state: query.state,
      name: query.name,
      tag: query.tag,
      id: query.id,
      since: query.since,
      until: query.until,
      limit: limit - jobs.length,
      after,
    };
    const page = await backend.findJobs(queue, request);
    jobs.push(...page.jobs);
    if (page.next !== null) return { jobs, cursor: encodeCursor(query, queue, page.next) };
  }
  return { jobs, cursor: null };
}

/** Calls `act` with each page of a search's matches, per queue, until the search is over. */
export async function forEachPage(
  backend: QueueBackend,
  query: JobQuery,
  act: (queue: string, ids: string[]) => Promise<number>,
): Promise<number> {
  let done = 0;
  let cursor: string | undefined = query.cursor;
  do {
    const page = await searchPage(backend, { ...query, limit: MAX_PAGE, cursor });
    const byQueue = new Map<string, string[]>();
    for (const job of page.jobs) {
      const ids = byQueue.get(job.queue) ?? [];
      ids.push(job.id);
      byQueue.set(job.queue, ids);
    }
    for (const [queue, ids] of byQueue) done += await act(queue, ids);
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return done;
}
