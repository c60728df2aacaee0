/**
 * How chains and batches are written for, and read back from, the Redis
 * scripts (lua/includes/workflows.lua describes the keys).
 *
 * @module
 */
import type {
  AttemptError,
  BatchInfo,
  ChainFailure,
  ChainInfo,
  JobWorkflow,
  NewJob,
  WorkflowMark,
} from "./backend.ts";
import type { RedisReply } from "../redis/redis_like.ts";
import { unexpected } from "./_replies.ts";

/** A job encoded in full for a script to enqueue later: id, record, band, labels ("" unindexed). */
export interface Template {
  readonly i: string;
  readonly r: string;
  readonly b: number;
  readonly l: string;
}

/** A job's template: `labels` as jobs.lua's labelsOf() builds them (name, 13-digit time, tags). */
export function template(job: NewJob, record: string, band: number): Template {
  const labels = job.indexed === false
    ? ""
    : [job.name, String(job.createdAt).padStart(13, "0"), ...job.tags ?? []].join("\0");
  return { i: job.id, r: record, b: band, l: labels };
}

/** The workflow fields of a stored record: `w` (the mark), `pv`, `cf` and `bx` (added by scripts). */
export interface WorkflowFields {
  readonly w?: {
    readonly c?: string;
    readonly p?: number;
    readonly n?: number;
    readonly b?: string;
  };
  readonly pv?: unknown;
  readonly cf?: ChainFailure;
  readonly bx?: number;
}

/** The mark a record keeps (short keys: it is stored with every step and member). */
export function markFields(mark: WorkflowMark): WorkflowFields["w"] {
  return {
    ...(mark.chain ? { c: mark.chain.id, p: mark.chain.step, n: mark.chain.steps } : {}),
    ...(mark.batch !== undefined ? { b: mark.batch } : {}),
  };
}

/** What a handler sees of its record's workflow fields. */
export function jobWorkflowOf(fields: WorkflowFields): JobWorkflow {
  const w = fields.w ?? {};
  return {
    ...(w.c !== undefined
      ? { chain: { id: w.c, step: w.p ?? 0, steps: w.n ?? 0, failed: fields.cf ?? null } }
      : {}),
    ...(w.c !== undefined && (w.p ?? 0) > 1 ? { previous: fields.pv ?? null } : {}),
    ...(w.b !== undefined ? { batch: { id: w.b, cancelled: fields.bx === 1 } } : {}),
  };
}

function text(reply: RedisReply): string | null {
  return reply === null || reply === undefined ? null : String(reply);
}

/** A stored record's JSON: a record no dispatcher wrote is a `RedisError` (`REDIS_UNEXPECTED_REPLY`). */
function parsed<T>(what: string, json: string, valid: (value: T) => boolean): T {
  let value: T;
  try {
    value = JSON.parse(json);
  } catch {
    throw unexpected(what, json);
  }
  if (value === null || typeof value !== "object" || !valid(value)) throw unexpected(what, json);
  return value;
}

/** The id of a chain's catch after `retries` operator retries of its failed step (workflows.lua). */
export function catchId(id: string, retries: number): string {
  return retries > 0 ? `${id}-${retries + 1}` : id;
}

/** A chain's info from HMGET of its record, step, state, finish time, failure and retries. */
export function decodeChainInfo(queue: string, id: string, row: RedisReply[]): ChainInfo | null {
  const [record, step, state, finished, failed, retries] = row.map(text);
  if (record === null) return null;
  const chain = parsed<{ steps: Template[]; catch?: Template; createdAt: number }>(
    "chainInfo",
    record,
    (value) => Array.isArray(value.steps),
  );
  return {
    id,
    queue,
    state: (state ?? "running") as ChainInfo["state"],
    step: Number(step ?? 1),
    steps: chain.steps.length,
    jobIds: chain.steps.map((t) => t.i),
    catchId: chain.catch ? catchId(chain.catch.i, Number(retries ?? 0)) : null,
    failed: failed === null ? null : parsed<ChainFailure>("chainInfo", failed, () => true),
    createdAt: chain.createdAt,
    finishedAt: finished === null ? null : Number(finished),
  };
}

/** A batch's info from HMGET of its settings, total, pending, completed, failed, cancel and finish times. */
export function decodeBatchInfo(queue: string, id: string, row: RedisReply[]): BatchInfo | null {
  const [settings, total, pending, completed, failed, cancelled, finished] = row.map(text);
  if (settings === null) return null;
  const batch = parsed<{ name: string | null; createdAt: number }>(
    "batchInfo",
    settings,
    () => true,
  );
  return batchInfo({
    id,
    queue,
    name: batch.name,
    total: Number(total ?? 0),
    pending: Math.max(0, Number(pending ?? 0)),
    completed: Number(completed ?? 0),
    failed: Number(failed ?? 0),
    cancelled: cancelled !== null,
    createdAt: batch.createdAt,
    finishedAt: finished === null ? null : Number(finished),
  });
}

/** A batch's info with its progress worked out from its counters. */
export function batchInfo(counts: Omit<BatchInfo, "progress">): BatchInfo {
  const ended = counts.completed + counts.failed;
  return {
    ...counts,
    progress: counts.total === 0 ? 100 : Math.round((ended / counts.total) * 100),
  };
}

/** The error kept for a step removed before it ran (manage-29.lua writes the same). */
export function removedError(now: number): AttemptError {
  return {
    attempt: 0,
    name: "JobRemovedError",
    message: "The job was removed before it ran",
    at: now,
  };
}
