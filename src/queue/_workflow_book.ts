/**
 * Chains and batches in memory: the same rules as lua/includes/workflows.lua,
 * for `MemoryBackend`. One process runs one call at a time, so each change
 * here is as atomic as the script's.
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
  RetainLimit,
  WorkflowRequest,
} from "./backend.ts";
import { batchInfo, catchId, type WorkflowFields } from "./_workflow_records.ts";

interface ChainRecord {
  readonly steps: readonly NewJob[];
  readonly catch: NewJob | undefined;
  readonly createdAt: number;
  step: number;
  state: ChainInfo["state"];
  failed: ChainFailure | null;
  finishedAt: number | null;
  /** How many times an operator retried its failed step (names the next catch). */
  retries: number;
}

interface BatchRecord {
  readonly name: string | null;
  readonly allowFailures: boolean;
  readonly then: NewJob | undefined;
  readonly catch: NewJob | undefined;
  readonly finally: NewJob | undefined;
  readonly createdAt: number;
  readonly members: Set<string>;
  /** The holds keeping it open while its jobs arrive in several calls. */
  readonly holds: Set<string>;
  total: number;
  pending: number;
  completed: number;
  failed: number;
  cancelled: boolean;
  finishedAt: number | null;
  /** Whether its catch, its finally was enqueued: each at most once. */
  caught: boolean;
  finalized: boolean;
}

/** What the book needs from its queue's store. */
export interface WorkflowStore {
  /** Whether a job with this id exists. */
  has(id: string): boolean;
  /** Enqueues a job now, with the fields a script would append to its record. */
  enqueue(job: NewJob, extra: Omit<WorkflowFields, "w">): void;
  /** A job's last error, if it has one. */
  lastError(id: string): AttemptError | undefined;
  /** Cancels a running job, or removes a pending one (not counted as a member ending). */
  remove(id: string, now: number, keep: RetainLimit): void;
}

/** One queue's chains and batches. */
export class WorkflowBook {
  #store: WorkflowStore;
  /** The workflow of each live step and member: "c" or "b", and its id. */
  #of = new Map<string, { kind: "c" | "b"; id: string }>();
  #chains = new Map<string, ChainRecord>();
  #batches = new Map<string, BatchRecord>();
  /** Finished workflows, oldest first: "c\0id" or "b\0id" → when. */
  #finished = new Map<string, number>();

  constructor(store: WorkflowStore) {
    this.#store = store;
  }

  /** {@inheritDoc QueueBackend.workflow} */
  apply(request: WorkflowRequest, keep: RetainLimit): boolean {
    const { id, now } = request;
    switch (request.action) {
      case "chain": {
        // A caller's id (a random one never meets these) must not take over another's jobs.
        if (
          this.#chains.has(id) || this.#batches.has(id) || this.#store.has(request.steps[0].id)
        ) return false;
        this.#chains.set(id, {
          steps: request.steps,
          catch: request.catch,
          createdAt: now,
          step: 1,
          state: "running",
          failed: null,
          finishedAt: null,
          retries: 0,
        });
        this.#of.set(request.steps[0].id, { kind: "c", id });
        this.#enqueue(request.steps[0], {}, now);
        return true;
      }
      case "batch": {
        const first = request.jobs[0];
        if (
          this.#batches.has(id) || this.#chains.has(id) ||
          (first !== undefined && this.#store.has(first.id))
        ) return false;
        this.#batches.set(id, {
          name: request.name,
          allowFailures: request.allowFailures,
          then: request.then,
          catch: request.catch,
          finally: request.finally,
          createdAt: now,
          members: new Set(),
          holds: new Set(),
          total: 0,
          pending: 0,
          completed: 0,
          failed: 0,
          cancelled: false,
          finishedAt: null,
          caught: false,
          finalized: false,
        });
        this.#add(id, request.jobs, request.open, request.close, now, keep);
        return true;
      }
      case "add": {
        const batch = this.#batches.get(id);
        if (batch === undefined || batch.finishedAt !== null) return false;
        this.#add(id, request.jobs, request.open, request.close, now, keep);
        return true;
      }
      case "cancel": {
        const batch = this.#batches.get(id);
        if (batch === undefined || batch.finishedAt !== null) return false;
        for (const member of batch.members) {
          this.#of.delete(member);
          this.#store.remove(member, now, keep);
        }
        batch.members.clear();
        batch.holds.clear();
        batch.cancelled = true;
        batch.pending = 0;
        if (batch.finally && !batch.finalized) this.#enqueue(batch.finally, { bx: 1 }, now);
        batch.finalized = true;
        this.#finish("b", id, now, keep);
        return true;
      }
    }
  }

  /**
   * A job ended: completed (`ok`, with its result JSON, if any) or not (with
   * its error, else its last one kept). Advances its chain or counts toward its batch.
   */
  ended(
    jobId: string,
    ok: boolean,
    data: string | AttemptError | undefined,
    now: number,
    keep: RetainLimit,
  ): void {
    const of = this.#of.get(jobId);
    if (of === undefined) return;
    this.#of.delete(jobId);
    if (of.kind === "c") this.#chainStep(of.id, jobId, ok, data, now, keep);
    else this.#batchMember(of.id, jobId, ok, now, keep);
  }

  /**
   * An operator retried the failed job `jobId` (of `workflow`, as its record is
   * marked): the step that failed its chain takes the chain up again; a failed
   * member of a batch not cancelled is pending again, reopening a finished batch.
   */
  retried(jobId: string, workflow: JobWorkflow | undefined): void {
    if (workflow?.chain !== undefined) {
      const id = workflow.chain.id;
      const chain = this.#chains.get(id);
      if (chain?.state !== "failed" || chain.failed?.jobId !== jobId) return;
      this.#reopen("c", id, chain);
      chain.state = "running";
      chain.failed = null;
      chain.retries++;
      this.#of.set(jobId, { kind: "c", id });
    } else if (workflow?.batch !== undefined) {
      const id = workflow.batch.id;
      const batch = this.#batches.get(id);
      if (batch === undefined || batch.cancelled || batch.failed < 1 || this.#of.has(jobId)) return;
      // Its callbacks carry its mark too, but were never members.
      if ([batch.then, batch.catch, batch.finally].some((job) => job?.id === jobId)) return;
      this.#reopen("b", id, batch);
      batch.failed--;
      batch.pending++;
      batch.members.add(jobId);
      this.#of.set(jobId, { kind: "b", id });
    }
  }

  /** Takes a finished workflow back to running, out of the finished ones retention trims. */
  #reopen(kind: "c" | "b", id: string, record: { finishedAt: number | null }): void {
    record.finishedAt = null;
    this.#finished.delete(`${kind}\0${id}`);
  }

  /** {@inheritDoc QueueBackend.chainInfo} */
  chainInfo(queue: string, id: string): ChainInfo | null {
    const chain = this.#chains.get(id);
    if (chain === undefined) return null;
    return {
      id,
      queue,
      state: chain.state,
      step: chain.step,
      steps: chain.steps.length,
      jobIds: chain.steps.map((step) => step.id),
      catchId: chain.catch ? catchId(chain.catch.id, chain.retries) : null,
      failed: chain.failed,
      createdAt: chain.createdAt,
      finishedAt: chain.finishedAt,
    };
  }

  /** {@inheritDoc QueueBackend.batchInfo} */
  batchInfo(queue: string, id: string): BatchInfo | null {
    const batch = this.#batches.get(id);
    if (batch === undefined) return null;
    return batchInfo({
      id,
      queue,
      name: batch.name,
      total: batch.total,
      pending: batch.pending,
      completed: batch.completed,
      failed: batch.failed,
      cancelled: batch.cancelled,
      createdAt: batch.createdAt,
      finishedAt: batch.finishedAt,
    });
  }

  /** Enqueues a job due `now`: its wait counts from here, not from the workflow's dispatch. */
  #enqueue(job: NewJob, extra: Omit<WorkflowFields, "w">, now: number): void {
    if (!this.#store.has(job.id)) this.#store.enqueue({ ...job, runAt: now }, extra);
  }

  #add(
    id: string,
    jobs: readonly NewJob[],
    open: string | null,
    close: string | null,
    now: number,
    keep: RetainLimit,
  ): void {
    const batch = this.#batches.get(id)!;
    let added = 0;
    for (const job of jobs) {
      if (this.#store.has(job.id)) continue;
      this.#enqueue(job, {}, now);
      this.#of.set(job.id, { kind: "b", id });
      batch.members.add(job.id);
      added++;
    }
    batch.total += added;
    let hold = 0;
    if (open !== null && !batch.holds.has(open)) {
      batch.holds.add(open);
      hold++;
    }
    if (close !== null && batch.holds.delete(close)) hold--;
    batch.pending += added + hold;
    if (batch.pending === 0) this.#batchDone(id, batch, now, keep);
  }

  #chainStep(
    id: string,
    jobId: string,
    ok: boolean,
    data: string | AttemptError | undefined,
    now: number,
    keep: RetainLimit,
  ): void {
    const chain = this.#chains.get(id);
    if (chain === undefined) return;
    if (ok) {
      if (chain.step < chain.steps.length) {
        const next = chain.steps[chain.step];
        chain.step++;
        this.#of.set(next.id, { kind: "c", id });
        const previous = typeof data === "string" && data !== "" ? JSON.parse(data) : null;
        this.#enqueue(next, { pv: previous }, now);
      } else {
        chain.state = "completed";
        this.#finish("c", id, now, keep);
      }
      return;
    }
    const error = typeof data === "object" ? data : this.#store.lastError(jobId) ?? {
      attempt: 0,
      name: "Error",
      message: "The step ended without an error kept",
      at: 0,
    };
    chain.state = "failed";
    chain.failed = { jobId, error };
    if (chain.catch) {
      // After an operator's retry failed again, catch runs again as a new job.
      const id = catchId(chain.catch.id, chain.retries);
      this.#enqueue({ ...chain.catch, id }, { cf: chain.failed }, now);
    }
    this.#finish("c", id, now, keep);
  }

  #batchMember(id: string, jobId: string, ok: boolean, now: number, keep: RetainLimit): void {
    const batch = this.#batches.get(id);
    if (batch === undefined) return;
    batch.members.delete(jobId);
    batch.pending--;
    if (ok) batch.completed++;
    else batch.failed++;
    if (!ok && batch.failed === 1 && !batch.allowFailures && !batch.caught) {
      batch.caught = true;
      if (batch.catch) this.#enqueue(batch.catch, {}, now);
    }
    if (batch.pending === 0) this.#batchDone(id, batch, now, keep);
  }

  #batchDone(id: string, batch: BatchRecord, now: number, keep: RetainLimit): void {
    if (batch.failed === 0 && batch.then) this.#enqueue(batch.then, {}, now);
    if (batch.finally && !batch.finalized) this.#enqueue(batch.finally, {}, now);
    batch.finalized = true;
    this.#finish("b", id, now, keep);
  }

  /** Marks a workflow finished, then forgets the oldest finished ones beyond `keep`. */
  #finish(kind: "c" | "b", id: string, now: number, keep: RetainLimit): void {
    const record = kind === "c" ? this.#chains.get(id) : this.#batches.get(id);
    if (record) record.finishedAt = now;
    this.#finished.set(`${kind}\0${id}`, now);
    for (const [key, at] of this.#finished) {
      const old = keep.age > 0 && at < now - keep.age;
      if (!old && this.#finished.size <= keep.count) break;
      this.#finished.delete(key);
      const name = key.slice(2);
      if (key.startsWith("c")) this.#chains.delete(name);
      else this.#batches.delete(name);
    }
  }
}
