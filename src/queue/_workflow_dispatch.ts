/**
 * Dispatching chains and batches for `Queue`: checks the jobs, prepares each
 * one as `dispatch()` does (schema, JSON, size), marks it with its workflow,
 * and hands them to the backend in requests it can take in one step.
 *
 * @module
 */
import type { NewJob, QueueBackend, Retention, WorkflowMark } from "./backend.ts";
import type { AnyJob } from "./job.ts";
import type { BatchOptions, ChainOptions, Workflow, WorkflowJob } from "./workflow.ts";
import { PayloadTooLargeError } from "./errors.ts";

/** Prepares one job of a workflow, as `dispatch()` would, with the given id and mark. */
export type PrepareJob = (
  job: AnyJob,
  payload: unknown,
  id: string,
  mark: WorkflowMark,
) => Promise<{ job: NewJob; bytes: number }>;

/** What dispatching a workflow needs from its queue. */
export interface WorkflowQueue {
  readonly backend: QueueBackend;
  readonly retain: Retention;
  readonly maxPayloadBytes: number;
  /** The most jobs one request carries. */
  readonly batchSize: number;
  now(): number;
  prepare: PrepareJob;
}

/** The most steps one chain has (its record is read whole at each step). */
export const MAX_CHAIN_STEPS = 1_000;

/** A new chain's or batch's id: sorts by time, unique without coordination. */
function workflowId(now: number): string {
  return `${now.toString(36).padStart(9, "0")}-${crypto.randomUUID().slice(0, 18)}`;
}

/** A caller's chain or batch id: it names jobs and keys, so no control characters (NUL separates key parts). */
function chosenId(what: string, id: unknown): string | undefined {
  if (id === undefined) return undefined;
  // deno-lint-ignore no-control-regex
  if (typeof id !== "string" || id.length === 0 || id.length > 200 || /[\u0000-\u001f]/.test(id)) {
    throw new TypeError(`${what}: id must be 1 to 200 characters, none of them control characters`);
  }
  return id;
}

/** Checks `[job, payload]` pairs and that every job (callbacks too) runs on one queue. */
function queueOf(what: string, pairs: readonly (WorkflowJob | undefined)[]): string {
  let queue: string | undefined;
  for (const pair of pairs) {
    if (pair === undefined) continue;
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0]?.handle !== "function") {
      throw new TypeError(`${what}: each job must be a [job, payload] pair`);
    }
    queue ??= pair[0].queue;
    if (pair[0].queue !== queue) {
      throw new TypeError(
        `${what}: every job must run on one queue (one atomic step advances it), got ${queue} and ${
          pair[0].queue
        }`,
      );
    }
  }
  return queue ?? "default";
}

/** Starts a chain: every step stored with it, the first enqueued. */
export async function startChain(
  q: WorkflowQueue,
  steps: readonly WorkflowJob[],
  options: ChainOptions,
): Promise<Workflow> {
  if (!Array.isArray(steps) || steps.length === 0) {
    throw new TypeError("chain: steps must be a non-empty array of [job, payload] pairs");
  }
  // The whole chain is one record, rewritten by no one but read at each step: keep it small.
  if (steps.length > MAX_CHAIN_STEPS) {
    throw new RangeError(`chain: at most ${MAX_CHAIN_STEPS} steps, got ${steps.length}`);
  }
  const queue = queueOf("chain", [...steps, options.catch]);
  const chosen = chosenId("chain", options.id);
  const now = q.now();
  const id = chosen ?? workflowId(now);
  const mark = (step: number) => ({ chain: { id, step, steps: steps.length } });
  const prepared = await Promise.all(
    steps.map(([job, payload], i) => q.prepare(job, payload, `${id}-${i + 1}`, mark(i + 1))),
  );
  const caught = options.catch
    ? await q.prepare(options.catch[0], options.catch[1], `${id}-catch`, mark(0))
    : undefined;
  // The chain is stored, and sent, as one record: its payloads together keep the limit.
  const bytes = prepared.reduce((sum, p) => sum + p.bytes, caught?.bytes ?? 0);
  if (bytes > q.maxPayloadBytes) {
    throw new PayloadTooLargeError(steps[0][0].name, bytes, q.maxPayloadBytes);
  }
  const started = await q.backend.workflow(queue, {
    action: "chain",
    id,
    now,
    retain: q.retain,
    steps: prepared.map((p) => p.job),
    ...(caught ? { catch: caught.job } : {}),
  });
  if (!started && chosen !== undefined) {
    // Refused: the chain exists (answer it, as it was dispatched), or its id is taken.
    const existing = await q.backend.chainInfo(queue, id);
    if (existing === null) throw takenError("chain", id);
    return { id, queue, jobIds: existing.jobIds };
  }
  return { id, queue, jobIds: prepared.map((p) => p.job.id) };
}

/** A caller's id a workflow of the other kind holds, or whose first job exists (its workflow forgotten). */
function takenError(what: "chain" | "batch", id: string): TypeError {
  const other = what === "chain" ? "batch" : "chain";
  return new TypeError(
    `${what}: the id ${
      JSON.stringify(id)
    } is taken (by a ${other}, or by jobs of a ${what} retention has forgotten)`,
  );
}

/** Splits prepared jobs into requests of at most `batchSize` jobs and `maxBytes` of payload. */
function chunks(
  prepared: readonly { job: NewJob; bytes: number }[],
  batchSize: number,
  maxBytes: number,
): NewJob[][] {
  const out: NewJob[][] = [[]];
  let bytes = 0;
  for (const p of prepared) {
    const last = out[out.length - 1];
    if (last.length === batchSize || (last.length > 0 && bytes + p.bytes > maxBytes)) {
      out.push([]);
      bytes = 0;
    }
    out[out.length - 1].push(p.job);
    bytes += p.bytes;
  }
  return out;
}

/** Starts a batch; sent in several requests, it holds itself open until the last is in. */
export async function startBatch(
  q: WorkflowQueue,
  jobs: readonly WorkflowJob[],
  options: BatchOptions,
): Promise<Workflow> {
  if (!Array.isArray(jobs)) {
    throw new TypeError("batch: jobs must be an array of [job, payload] pairs");
  }
  if (
    options.name !== undefined && (typeof options.name !== "string" || options.name.length > 200)
  ) {
    throw new TypeError("batch: name must be a string of at most 200 characters");
  }
  const queue = queueOf("batch", [...jobs, options.then, options.catch, options.finally]);
  const chosen = chosenId("batch", options.id);
  const now = q.now();
  const id = chosen ?? workflowId(now);
  const mark = { batch: id };
  const callback = (pair: WorkflowJob | undefined, name: string) =>
    pair ? q.prepare(pair[0], pair[1], `${id}-${name}`, mark) : undefined;
  const callbacks = await Promise.all([
    callback(options.then, "then"),
    callback(options.catch, "catch"),
    callback(options.finally, "finally"),
  ]);
  const prepared = await Promise.all(
    jobs.map(([job, payload], i) => q.prepare(job, payload, `${id}-${i}`, mark)),
  );
  const parts = chunks(prepared, q.batchSize, q.maxPayloadBytes);
  if (chosen !== undefined) {
    if (parts.length > 1) {
      throw new TypeError(
        `batch: an id is only for a batch sent in one request (at most ${q.batchSize} jobs and ${q.maxPayloadBytes} bytes of payload), this one takes ${parts.length}`,
      );
    }
    return await chosenBatch(q, queue, id, options, callbacks, parts[0]);
  }
  const hold = parts.length > 1 ? crypto.randomUUID() : null;
  try {
    await sendBatch(q, queue, id, now, options, callbacks, parts[0], hold);
    for (let i = 1; i < parts.length; i++) {
      await q.backend.workflow(queue, {
        action: "add",
        id,
        now: q.now(),
        retain: q.retain,
        jobs: parts[i],
        open: null,
        close: i === parts.length - 1 ? hold : null,
      });
    }
  } catch (error) {
    // The caller is told the batch failed and holds no id: any request of it may have
    // got in (its answer lost), and left open it would wait for its missing jobs
    // forever, or run beside the batch the caller sends again. Cancelled, its sent
    // jobs go and `finally` runs (a batch that never got in refuses the cancel).
    await q.backend.workflow(queue, { action: "cancel", id, now: q.now(), retain: q.retain })
      .catch(() => {});
    throw error;
  }
  return { id, queue, jobIds: prepared.map((p) => p.job.id) };
}

/** A batch's `then`, `catch` and `finally` jobs, each prepared if the caller gave it. */
type Callbacks = readonly ({ job: NewJob } | undefined)[];

/** Sends the request that starts batch `id` with its first `jobs`, held open by `open` if named. */
function sendBatch(
  q: WorkflowQueue,
  queue: string,
  id: string,
  now: number,
  options: BatchOptions,
  [then, caught, last]: Callbacks,
  jobs: readonly NewJob[],
  open: string | null,
): Promise<boolean> {
  return q.backend.workflow(queue, {
    action: "batch",
    id,
    now,
    retain: q.retain,
    name: options.name ?? null,
    allowFailures: options.allowFailures ?? false,
    ...(then ? { then: then.job } : {}),
    ...(caught ? { catch: caught.job } : {}),
    ...(last ? { finally: last.job } : {}),
    jobs,
    open,
    close: null,
  });
}

/**
 * Starts a batch under the caller's id, in one request: it gets in whole or not at all,
 * so a failure leaves nothing to cancel, and the caller may send it again.
 */
async function chosenBatch(
  q: WorkflowQueue,
  queue: string,
  id: string,
  options: BatchOptions,
  callbacks: Callbacks,
  jobs: NewJob[],
): Promise<Workflow> {
  const started = await sendBatch(q, queue, id, q.now(), options, callbacks, jobs, null);
  // Refused: the batch exists (answered as dispatched: its jobs' ids follow from the id).
  if (!started && (await q.backend.batchInfo(queue, id)) === null) throw takenError("batch", id);
  return { id, queue, jobIds: jobs.map((job) => job.id) };
}

/** Adds jobs to a running batch; `false` when the batch is unknown, finished or cancelled. */
export async function addJobs(
  q: WorkflowQueue,
  id: string,
  jobs: readonly WorkflowJob[],
): Promise<boolean> {
  if (typeof id !== "string" || id.length === 0) throw new TypeError("id must be a batch's id");
  if (!Array.isArray(jobs) || jobs.length === 0) {
    throw new TypeError("addToBatch: jobs must be a non-empty array of [job, payload] pairs");
  }
  const queue = queueOf("addToBatch", jobs);
  // A whole UUID: a member whose id is taken is skipped, so two calls' ids must never meet
  // (8 hex digits met once in ~65,000 calls, and those jobs were silently dropped).
  const tag = crypto.randomUUID();
  const prepared = await Promise.all(
    jobs.map(([job, payload], i) => q.prepare(job, payload, `${id}-${tag}-${i}`, { batch: id })),
  );
  const parts = chunks(prepared, q.batchSize, q.maxPayloadBytes);
  // Named, so releasing it after a failure releases it once, whether or not the
  // failed call got in (it may have, its answer lost).
  const hold = parts.length > 1 ? tag : null;
  const send = (jobs: NewJob[], open: string | null, close: string | null) =>
    q.backend.workflow(queue, {
      action: "add",
      id,
      now: q.now(),
      retain: q.retain,
      jobs,
      open,
      close,
    });
  try {
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      const done = await send(parts[i], i === 0 ? hold : null, i > 0 && last ? hold : null);
      if (!done) return false;
    }
  } catch (error) {
    // Left held, the batch would wait forever for jobs that are not coming.
    if (hold !== null) await send([], null, hold).catch(() => {});
    throw error;
  }
  return true;
}
