/**
 * Reading a job search from a URL's query string, with every field checked:
 * a search is also what a bulk retry or remove acts on, so nothing loose gets
 * through.
 *
 * @module
 */
import { HTTPException } from "hono/http-exception";
import type { JobQuery, JobState } from "../queue/mod.ts";

/** The states a search may name. */
export const SEARCH_STATES: readonly JobState[] = [
  "waiting",
  "delayed",
  "active",
  "completed",
  "failed",
];

/** The most jobs one page may hold. */
export const MAX_PAGE = 200;
const DEFAULT_PAGE = 50;
const MAX_TEXT = 256;

/**
 * Reads `queue`, `state`, `name`, `tag`, `id`, `since`, `until`, `limit` and
 * `cursor`; empty fields count as absent.
 *
 * @throws {HTTPException} 400 naming the field that is wrong.
 */
export function jobQueryFrom(params: URLSearchParams): JobQuery {
  const query: JobQuery = { limit: DEFAULT_PAGE };
  for (const field of ["queue", "name", "tag", "id", "cursor"] as const) {
    const value = text(params, field);
    if (value !== undefined) query[field] = value;
  }
  const state = text(params, "state");
  if (state !== undefined) {
    if (!(SEARCH_STATES as readonly string[]).includes(state)) {
      throw bad(`state must be one of ${SEARCH_STATES.join(", ")}`);
    }
    query.state = state as JobState;
  }
  const since = time(params, "since");
  if (since !== undefined) query.since = since;
  const until = time(params, "until");
  if (until !== undefined) query.until = until;
  const limit = text(params, "limit");
  if (limit !== undefined) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
      throw bad(`limit must be an integer from 1 to ${MAX_PAGE}`);
    }
    query.limit = n;
  }
  return query;
}

/** The query as URL parameters again (for links to the next page and for bulk actions). */
export function searchParamsOf(query: JobQuery): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && key !== "limit") params.set(key, String(value));
  }
  return params;
}

function text(params: URLSearchParams, field: string): string | undefined {
  const value = params.get(field)?.trim();
  if (value === undefined || value === "") return undefined;
  if (value.length > MAX_TEXT) throw bad(`${field} is longer than ${MAX_TEXT} characters`);
  return value;
}

/** Epoch milliseconds, or an ISO date (a `datetime-local` field sends one without a zone). */
function time(params: URLSearchParams, field: string): number | undefined {
  const value = text(params, field);
  if (value === undefined) return undefined;
  const at = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(at)) throw bad(`${field} must be a date or epoch milliseconds`);
  return at;
}

function bad(message: string): HTTPException {
  return new HTTPException(400, { message });
}
