/**
 * The in-memory queue backend: one process, no persistence, the same
 * semantics as Redis. For development, tests and single-process apps.
 *
 * @module
 */
import type {
  AttemptError,
  BackendJobPage,
  BackendJobQuery,
  BatchInfo,
  ChainInfo,
  DispatchResult,
  FailRequest,
  FailResult,
  Heartbeat,
  JobAction,
  JobEvent,
  JobInfo,
  JobState,
  JobWorkflow,
  Lease,
  ManageRequest,
  MetricBucket,
  NewJob,
  QueueBackend,
  QueueCounts,
  RetainLimit,
  StoredJob,
  TakeRequest,
  TakeResult,
  WorkerInfo,
  WorkflowRequest,
} from "./backend.ts";
import { WorkflowBook } from "./_workflow_book.ts";
import {
  jobWorkflowOf,
  markFields,
  removedError,
  type WorkflowFields,
} from "./_workflow_records.ts";
import { MetricStore } from "./_metrics.ts";
import type { JobFlow } from "./flow.ts";
import { MemoryFlow } from "./_memory_flow.ts";
import type { Priority } from "./job.ts";
import { Deque } from "./_structures.ts";
import { MinHeap } from "../_min_heap.ts";
import {
  BACKEND_RETENTION,
  BANDS,
  CANCELLED_ERROR_NAME,
  CANCELLED_MESSAGE,
  DEFAULT_MAX_STALLS,
  MAX_LOG_LINES,
  STALL_ERROR_NAME,
  stallErrorMessage,
} from "./_constants.ts";

interface Entry {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly payload: string;
  readonly priority: Priority;
  readonly maxRetries: number;
  readonly maxStalls: number | undefined;
  readonly createdAt: number;
  readonly uniqueKey?: string;
  readonly dispatchToken: string | undefined;
  readonly tags: readonly string[];
  /** Whether searches by name, tag or dispatch time find it (`NewJob.indexed`). */
  readonly indexed: boolean;
  readonly dedupeFor: number;
  /** Its trace context (`NewJob.trace`), if traced. */
  readonly trace: Readonly<Record<string, string>> | undefined;
  /** When it was due at dispatch (the wait-time metric counts from here). */
  readonly dueAt: number;
  attempts: number;
  stalls: number;
  progress: number | null;
  /** The last outcome reported by `fail`, so a replay of that call answers the same. */
  lastOutcome: { token: string; result: FailResult } | undefined;
  errors: AttemptError[];
  state: JobState;
  runAt: number;
  /** Its place in its band: later is higher; a released job goes first with 0. */
  seq: number;
  token: string;
  deadline: number;
  startedAt: number | null;
  workerId: string | null;
  finishedAt: number | null;
  resultJson: string | undefined;
  logs: string[];
  /** Its chain or batch, as its handler sees it. */
  readonly workflow: JobWorkflow | undefined;
  /** Its flow rules (per-key limits, debounce, throttle), if any. */
  readonly flow: JobFlow | undefined;
}

/** Where a call counts its metrics: the queue's store, or nowhere (`metrics: false`). */
type Counting = Pick<MetricStore, "count" | "sample">;
const NOT_COUNTED: Counting = { count() {}, sample() {} };

/** The lease token of a job an operator cancelled: no worker's token matches it. */
const CANCELLED = "!cancelled";

class QueueState {
  constructor(readonly emit: (id: string, state: JobEvent["state"], at: number) => void) {}
  /** Its chains and batches (set by the backend, which owns how jobs are enqueued). */
  workflows!: WorkflowBook;
  readonly metrics = new MetricStore();
  readonly workers = new Map<string, WorkerInfo>();
  readonly jobs = new Map<string, Entry>();
  readonly bands = [new Deque<Entry>(), new Deque<Entry>(), new Deque<Entry>()];
  readonly delayed = new MinHeap<Entry>();
  readonly active = new Map<string, Entry>();
  /** Kept completed and failed jobs, oldest finished first (Map keeps insertion order). */
  readonly completed = new Map<string, Entry>();
  readonly failed = new Map<string, Entry>();
  readonly unique = new Map<string, string>();
  /** Open dedupe windows: "i" or "u", a NUL, the id or unique key → when it closes. */
  readonly dedupe = new Map<string, number>();
  completedCount = 0;
  seq = 0;
  paused = false;
  /** A lower bound of the earliest lease deadline, so most reserves skip the scan. */
  minDeadline = Infinity;
  /** Flow control per key: the same lines and turns as flow.lua. */
  readonly flow: MemoryFlow<Entry> = new MemoryFlow<Entry>({
    ready: (entry) => this.ready(entry),
    delay: (entry, at, now) => {
      this.delay(entry, at);
      this.emit(entry.id, "delayed", now);
    },
    exists: (entry) => this.jobs.get(entry.id) === entry,
  });

  ready(entry: Entry, front = false): void {
    entry.state = "waiting";
    entry.seq = front ? 0 : ++this.seq;
    const band = this.bands[BANDS[entry.priority]];
    if (front) band.unshift(entry);
    else band.push(entry);
  }

  delay(entry: Entry, runAt: number): void {
    entry.state = "delayed";
    entry.runAt = runAt;
    this.delayed.push(runAt, entry);
  }

  /** Drops heap tops that are no longer delayed (retried or moved since). */
  cleanDelayed(): void {
    for (;;) {
      const top = this.delayed.peek();
      if (top === undefined || (top.state === "delayed" && top.runAt === this.delayed.peekKey())) {
        return;
      }
      this.delayed.pop();
    }
  }

  releaseUnique(entry: Entry): void {
    if (entry.uniqueKey !== undefined && this.unique.get(entry.uniqueKey) === entry.id) {
      this.unique.delete(entry.uniqueKey);
    }
  }

  /** Whether a dedupe window is open at `now`, closing it if it is over. */
  reserved(kind: "i" | "u", value: string, now: number): boolean {
    const key = `${kind}\0${value}`;
    const until = this.dedupe.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.dedupe.delete(key);
    return false;
  }

  /** A job ended: open its dedupe window, or free its unique key. */
  ended(entry: Entry, now: number): void {
    entry.finishedAt = now;
    if (entry.dedupeFor > 0) {
      this.dedupe.set(`i\0${entry.id}`, now + entry.dedupeFor);
      if (entry.uniqueKey !== undefined) {
        this.dedupe.set(`u\0${entry.uniqueKey}`, now + entry.dedupeFor);
      }
    } else {
      this.releaseUnique(entry);
    }
  }

  /** Whether the job counts as pending for its unique key. */
  pending(id: string): boolean {
    const state = this.jobs.get(id)?.state;
    return state !== undefined && state !== "completed" && state !== "failed";
  }

  /** Keeps at most `limit.count` jobs of a finished set, none older than `limit.age`. */
  trim(set: Map<string, Entry>, limit: RetainLimit, now: number): void {
    for (const entry of set.values()) {
      const old = limit.age > 0 && entry.finishedAt! < now - limit.age;
      if (!old && set.size <= limit.count) break;
      set.delete(entry.id);
      this.jobs.delete(entry.id);
    }
  }

  deadLetter(
    entry: Entry,
    now: number,
    limit: RetainLimit,
    metrics: Counting = this.metrics,
  ): void {
    metrics.count("failed", 1, now);
    this.emit(entry.id, "failed", now);
    entry.state = "failed";
    this.failed.delete(entry.id);
    this.failed.set(entry.id, entry);
    this.ended(entry, now);
    // Its chain reads its last error before retention may drop it (retain.failed count 0).
    this.workflows.ended(entry.id, false, undefined, now, limit);
    this.trim(this.failed, limit, now);
  }

  /** Takes a job out of whatever holds it and deletes it. */
  drop(entry: Entry): void {
    if (entry.state === "waiting") this.bands[BANDS[entry.priority]].delete(entry);
    this.active.delete(entry.id);
    this.completed.delete(entry.id);
    this.failed.delete(entry.id);
    entry.state = "completed"; // no longer "delayed": the heap drops it lazily
    this.jobs.delete(entry.id);
  }
}

/**
 * Keeps queues in this process's memory, with the same semantics as
 * {@linkcode import("./redis_backend.ts").RedisBackend}: priorities, delays,
 * leases, retries, retention, search, the failed store. Jobs are lost when
 * the process ends. One process has one clock, so leases are timed on the
 * `now` its callers pass (the queue's clock), where `RedisBackend` times them
 * on Redis's: a test expires a lease by moving the injected clock.
 *
 * @example Running a job in memory
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue, Worker } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * const greet = defineJob({
 *   name: "greet",
 *   schema: v.object({ name: v.string() }),
 *   handle: (payload) => void seen.push(payload.name),
 * });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * await queue.dispatch(greet, { name: "Ada" });
 * const summary = await new Worker(queue, { jobs: [greet] }).drain();
 * assert.equal(summary.completed, 1);
 * assert.deepEqual(seen, ["Ada"]);
 * ```
 */
export class MemoryBackend implements QueueBackend {
  #queues = new Map<string, QueueState>();
  #locks = new Map<string, { token: string; expiresAt: number }>();
  #windows = new Map<string, Map<string, number>>();
  #listeners = new Set<(queue: string) => void>();
  #watchers = new Map<string, Set<(event: JobEvent) => void>>();

  #state(queue: string): QueueState {
    let state = this.#queues.get(queue);
    if (!state) {
      const created = new QueueState((id, change, at) => {
        for (const watcher of this.#watchers.get(queue) ?? []) {
          watcher({ queue, id, state: change, at });
        }
      });
      created.workflows = new WorkflowBook({
        has: (id) => created.jobs.has(id),
        enqueue: (job, extra) => {
          const entry = newEntry(queue, job, extra);
          created.jobs.set(job.id, entry);
          created.ready(entry);
          created.emit(job.id, "waiting", job.createdAt);
        },
        lastError: (id) => created.jobs.get(id)?.errors.at(-1),
        remove: (id, now, keep) => {
          const entry = created.jobs.get(id);
          if (
            entry?.state === "active" || entry?.state === "waiting" || entry?.state === "delayed"
          ) {
            act(created, entry, "remove", now, keep);
          }
        },
      });
      state = created;
      this.#queues.set(queue, state);
    }
    return state;
  }

  #wake(queue: string): void {
    for (const listener of this.#listeners) listener(queue);
  }

  /** {@inheritDoc QueueBackend.enqueue} */
  enqueue(queue: string, jobs: readonly NewJob[], now: number): Promise<DispatchResult[]> {
    const state = this.#state(queue);
    const results: DispatchResult[] = [];
    const seen = new Set<string>();
    for (const job of jobs) {
      const existing = state.jobs.get(job.id);
      if (seen.has(job.id)) {
        results.push({ id: job.id, created: false });
        continue;
      }
      if (existing !== undefined) {
        // The same dispatch call again (a replay) answers as it did the first time.
        const replay = job.dispatchToken !== undefined &&
          existing.dispatchToken === job.dispatchToken;
        if (replay || existing.state !== "completed" || state.reserved("i", job.id, now)) {
          seen.add(job.id);
          results.push({ id: job.id, created: replay });
          continue;
        }
        // A completed job kept for viewing no longer holds its id: the new job replaces it.
        state.releaseUnique(existing);
        state.drop(existing);
      } else if (state.reserved("i", job.id, now)) {
        results.push({ id: job.id, created: false });
        continue;
      }
      seen.add(job.id);
      if (job.uniqueKey !== undefined) {
        const holder = state.unique.get(job.uniqueKey);
        if (
          holder !== undefined &&
          (state.pending(holder) || state.reserved("u", job.uniqueKey, now))
        ) {
          results.push({ id: holder, created: false });
          continue;
        }
        state.unique.set(job.uniqueKey, job.id);
      }
      // Flow control: a throttled job within its key's window is dropped, and a debounced
      // one folds into its key's delayed job, which then looks like this dispatch. A
      // replay of a folded dispatch is answered with its job and changes nothing.
      const replayOf = state.flow.foldedBy(job.flow, job.dispatchToken, now);
      const throttledBy = replayOf ?? state.flow.throttledBy(job.flow, now);
      const folded = throttledBy === undefined ? state.flow.debouncing(job.flow) : undefined;
      if (throttledBy !== undefined || folded !== undefined) {
        if (job.uniqueKey !== undefined) state.unique.delete(job.uniqueKey);
        if (folded !== undefined) {
          const runAt = state.flow.foldRunAt(job.flow, job.runAt);
          fold(folded, job, runAt);
          state.flow.folded(job.dispatchToken, folded.id, now);
          state.delay(folded, runAt);
          state.emit(folded.id, "delayed", now);
        }
        results.push({ id: throttledBy ?? folded!.id, created: false });
        continue;
      }
      const entry = newEntry(queue, job, {});
      state.jobs.set(job.id, entry);
      if (job.runAt > now) state.delay(entry, job.runAt);
      else if (entry.flow === undefined) state.ready(entry);
      else {
        entry.seq = ++state.seq;
        if (!state.flow.enqueue(entry, BANDS[entry.priority] * 1e13 + entry.seq, now)) {
          state.ready(entry);
        }
      }
      state.flow.created(entry, now);
      state.emit(job.id, entry.state, now);
      results.push({ id: job.id, created: true });
    }
    if (results.some((result) => result.created)) this.#wake(queue);
    return Promise.resolve(results);
  }

  /** {@inheritDoc QueueBackend.take} */
  take(request: TakeRequest): Promise<TakeResult> {
    const state = this.#state(request.queue);
    const { now } = request;
    const retain = request.retain ?? BACKEND_RETENTION;
    const metrics = request.metrics === false ? NOT_COUNTED : state.metrics;
    const lost: string[] = [];
    for (const completion of request.complete) {
      const entry = state.jobs.get(completion.id);
      if (entry === undefined || entry.state !== "active" || entry.token !== completion.token) {
        lost.push(completion.id);
        continue;
      }
      state.active.delete(entry.id);
      state.flow.release(entry, now);
      state.completedCount++;
      metrics.count("completed", 1, now);
      if (completion.runTime !== undefined) metrics.sample("r", completion.runTime, now);
      state.emit(entry.id, "completed", now);
      appendLogs(entry, completion.logs);
      state.ended(entry, now);
      state.workflows.ended(entry.id, true, completion.resultJson ?? "", now, retain.failed);
      if (retain.completed === false) {
        state.jobs.delete(entry.id);
        continue;
      }
      entry.state = "completed";
      entry.resultJson = completion.resultJson;
      state.completed.set(entry.id, entry);
      state.trim(state.completed, retain.completed, now);
    }
    if (request.complete.length > 0) state.trim(state.failed, retain.failed, now);
    if (request.heartbeat !== undefined) beat(state, request.heartbeat, now);
    const stalled: string[] = [];
    const stalledOut: string[] = [];
    const jobs: StoredJob[] = [];
    if (request.reserve > 0 && !state.paused) {
      if (now >= state.minDeadline) {
        const maxStalls = request.maxStalls ?? DEFAULT_MAX_STALLS;
        this.#reclaim(state, now, maxStalls, retain.failed, stalled, stalledOut, metrics);
      }
      state.cleanDelayed();
      // A set: a job delayed twice to the same run-at (a debounce capped by maxWait) has
      // two heap entries, both current.
      const due = new Set<Entry>();
      while (state.delayed.size > 0 && state.delayed.peekKey()! <= now) {
        const entry = state.delayed.pop()!;
        if (entry.state === "delayed") due.add(entry);
        state.cleanDelayed();
      }
      // In RedisBackend's order: by run-at, then by id (a sorted set's order for ties).
      const byRunAt = [...due].sort((a, b) =>
        a.runAt - b.runAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
      );
      for (const entry of byRunAt) {
        state.ready(entry);
        state.emit(entry.id, "waiting", now);
      }
      const deadline = now + request.leaseDuration;
      // The best band each time: a key's next job, put in line as one starts, may rank first.
      while (jobs.length < request.reserve) {
        const band = state.bands.find((jobs) => jobs.size > 0);
        if (band === undefined) break;
        const entry = band.shift()!;
        const order = BANDS[entry.priority] * 1e13 + entry.seq;
        if (entry.flow !== undefined && !state.flow.admit(entry, order, now)) continue;
        entry.attempts++;
        if (entry.attempts === 1) metrics.sample("w", Math.max(0, now - entry.dueAt), now);
        state.emit(entry.id, "active", now);
        entry.state = "active";
        entry.token = request.token;
        entry.deadline = deadline;
        if (request.runs !== false) {
          entry.startedAt = now;
          entry.workerId = request.worker ?? null;
        }
        state.active.set(entry.id, entry);
        jobs.push(toStored(entry));
      }
      if (jobs.length > 0) state.minDeadline = Math.min(state.minDeadline, deadline);
    }
    state.cleanDelayed();
    // As RedisBackend: nothing comes due for a call that reserves nothing (or a paused
    // queue), so a worker on a paused queue with a due job idles instead of spinning.
    const reserving = request.reserve > 0 && !state.paused;
    const nextDelayed = reserving ? state.delayed.peekKey() ?? Infinity : Infinity;
    const nextLease = reserving && state.active.size > 0 ? state.minDeadline : Infinity;
    const next = Math.min(nextDelayed, nextLease);
    return Promise.resolve({
      lost,
      jobs,
      stalled,
      stalledOut,
      nextDueAt: Number.isFinite(next) ? next : null,
    });
  }

  #reclaim(
    state: QueueState,
    now: number,
    defaultMaxStalls: number,
    keepFailed: RetainLimit,
    stalled: string[],
    stalledOut: string[],
    metrics: Counting,
  ): void {
    let min = Infinity;
    for (const entry of state.active.values()) {
      if (entry.deadline > now) {
        min = Math.min(min, entry.deadline);
        continue;
      }
      state.active.delete(entry.id);
      stalled.push(entry.id);
      // A stall is not a failed attempt: it costs no retry, only a stall.
      entry.stalls++;
      const limit = entry.maxStalls ?? defaultMaxStalls;
      if (entry.stalls > limit) {
        entry.errors.push({
          attempt: entry.attempts,
          name: STALL_ERROR_NAME,
          message: stallErrorMessage(entry.stalls, limit),
          at: now,
        });
        state.deadLetter(entry, now, keepFailed, metrics);
        stalledOut.push(entry.id);
      } else {
        state.ready(entry);
        state.emit(entry.id, "waiting", now);
      }
      state.flow.release(entry, now);
    }
    metrics.count("stalled", stalled.length, now);
    state.minDeadline = min;
  }

  /** {@inheritDoc QueueBackend.fail} */
  fail(request: FailRequest): Promise<FailResult> {
    const state = this.#state(request.queue);
    const entry = state.jobs.get(request.id);
    if (entry === undefined) return Promise.resolve("lost");
    if (entry.state !== "active" || entry.token !== request.token) {
      const last = entry.lastOutcome;
      return Promise.resolve(last?.token === request.token ? last.result : "lost");
    }
    state.active.delete(entry.id);
    const unstarted = request.outcome === "release" && request.undoAttempt === true;
    state.flow.release(entry, request.now, unstarted);
    if (request.error) entry.errors.push(request.error);
    appendLogs(entry, request.logs);
    const metrics = request.metrics === false ? NOT_COUNTED : state.metrics;
    if (request.runTime !== undefined) metrics.sample("r", request.runTime, request.now);
    let result: FailResult;
    if (request.outcome === "dead") {
      const keep = (request.retain ?? BACKEND_RETENTION).failed;
      state.deadLetter(entry, request.now, keep, metrics);
      result = "failed";
    } else {
      if (request.undoAttempt) entry.attempts = Math.max(0, entry.attempts - 1);
      if (request.runAt > request.now) state.delay(entry, request.runAt);
      else state.ready(entry, request.outcome === "release");
      result = request.outcome === "release" ? "released" : "retried";
      if (result === "retried") metrics.count("retried", 1, request.now);
      state.emit(entry.id, entry.state, request.now);
    }
    entry.lastOutcome = { token: request.token, result };
    return Promise.resolve(result);
  }

  /** {@inheritDoc QueueBackend.progress} */
  progress(queue: string, lease: Lease, value: number): Promise<boolean> {
    const entry = this.#state(queue).jobs.get(lease.id);
    if (entry === undefined || entry.state !== "active" || entry.token !== lease.token) {
      return Promise.resolve(false);
    }
    entry.progress = value;
    return Promise.resolve(true);
  }

  /** {@inheritDoc QueueBackend.getJob} */
  getJob(queue: string, id: string): Promise<JobInfo | null> {
    const entry = this.#queues.get(queue)?.jobs.get(id);
    return Promise.resolve(entry === undefined ? null : toInfo(entry));
  }

  /** {@inheritDoc QueueBackend.findJobs} */
  findJobs(queue: string, query: BackendJobQuery): Promise<BackendJobPage> {
    const state = this.#queues.get(queue);
    if (state === undefined || query.limit <= 0) return Promise.resolve({ jobs: [], next: null });
    // The same order as RedisBackend's sources: a state's own order for a plain state
    // listing, else dispatch time; ties by id, both descending.
    const byState = query.state !== undefined && query.id === undefined &&
      query.tag === undefined && query.name === undefined && query.since === undefined &&
      query.until === undefined;
    const valueOf = (entry: Entry): number => byState ? stateOrder(entry) : entry.createdAt;
    const candidates = query.id !== undefined
      ? [state.jobs.get(query.id)].filter((entry) => entry !== undefined)
      // A plain waiting listing reads the line, as RedisBackend's ready set: not the
      // jobs parked behind a busy key, which searches by name, tag or time still find.
      : [...state.jobs.values()].filter((entry) => !(byState && state.flow.isParked(entry)));
    const sorted = candidates
      .map((entry) => ({ entry, value: valueOf(entry) }))
      .sort((a, b) => b.value - a.value || (a.entry.id < b.entry.id ? 1 : -1));
    const after = query.after;
    const jobs: JobInfo[] = [];
    let next: BackendJobPage["next"] = null;
    for (const { entry, value } of sorted) {
      if (after && (value > after.value || (value === after.value && entry.id >= after.id))) {
        continue;
      }
      if (!matches(entry, query)) continue;
      jobs.push(toInfo(entry));
      if (jobs.length === query.limit) {
        next = { value, id: entry.id };
        break;
      }
    }
    return Promise.resolve({ jobs, next });
  }

  /** {@inheritDoc QueueBackend.manage} */
  manage(queue: string, request: ManageRequest): Promise<number> {
    const { action, ids, now, retain = BACKEND_RETENTION } = request;
    const state = this.#state(queue);
    const chosen = ids === "all" ? [...state.failed.keys()] : ids;
    let changed = 0;
    for (const id of chosen) {
      const entry = state.jobs.get(id);
      if (entry === undefined || !act(state, entry, action, now, retain.failed)) continue;
      changed++;
    }
    if (changed > 0 && (action === "retry" || action === "promote")) this.#wake(queue);
    return Promise.resolve(changed);
  }

  /** {@inheritDoc QueueBackend.workflow} */
  workflow(queue: string, request: WorkflowRequest): Promise<boolean> {
    const state = this.#state(queue);
    const done = state.workflows.apply(request, (request.retain ?? BACKEND_RETENTION).failed);
    if (done) this.#wake(queue);
    return Promise.resolve(done);
  }

  /** {@inheritDoc QueueBackend.chainInfo} */
  chainInfo(queue: string, id: string): Promise<ChainInfo | null> {
    return Promise.resolve(this.#queues.get(queue)?.workflows.chainInfo(queue, id) ?? null);
  }

  /** {@inheritDoc QueueBackend.batchInfo} */
  batchInfo(queue: string, id: string): Promise<BatchInfo | null> {
    return Promise.resolve(this.#queues.get(queue)?.workflows.batchInfo(queue, id) ?? null);
  }

  /** {@inheritDoc QueueBackend.setPaused} */
  setPaused(queue: string, paused: boolean): Promise<void> {
    this.#state(queue).paused = paused;
    if (!paused) this.#wake(queue);
    return Promise.resolve();
  }

  /** {@inheritDoc QueueBackend.workers} */
  workers(queue: string, now: number): Promise<WorkerInfo[]> {
    const state = this.#queues.get(queue);
    return Promise.resolve(
      [...state?.workers.values() ?? []].filter((worker) => worker.lastSeen + ttlOf(worker) > now)
        .map(({ ...worker }) => worker),
    );
  }

  /** {@inheritDoc QueueBackend.metrics} */
  metrics(
    queue: string,
    resolution: "minute" | "hour",
    from: number,
    to: number,
  ): Promise<MetricBucket[]> {
    return Promise.resolve(this.#queues.get(queue)?.metrics.read(resolution, from, to) ?? []);
  }

  /** {@inheritDoc QueueBackend.watch} */
  watch(queue: string, listener: (event: JobEvent) => void): Promise<() => Promise<void>> {
    let set = this.#watchers.get(queue);
    if (!set) {
      set = new Set();
      this.#watchers.set(queue, set);
    }
    set.add(listener);
    return Promise.resolve(() => {
      set.delete(listener);
      return Promise.resolve();
    });
  }

  /** {@inheritDoc QueueBackend.extend} */
  extend(
    queue: string,
    leases: readonly Lease[],
    leaseDuration: number,
    now: number,
    heartbeat?: Heartbeat,
  ): Promise<string[]> {
    const state = this.#state(queue);
    if (heartbeat !== undefined) beat(state, heartbeat, now);
    const lost: string[] = [];
    for (const { id, token } of leases) {
      const entry = state.jobs.get(id);
      if (entry === undefined || entry.state !== "active" || entry.token !== token) {
        lost.push(id);
      } else {
        entry.deadline = now + leaseDuration;
        // A shorter lease (0 ends it now) must not hide behind the reclaim scan's lower bound.
        state.minDeadline = Math.min(state.minDeadline, entry.deadline);
      }
    }
    return Promise.resolve(lost);
  }

  /** {@inheritDoc QueueBackend.counts} */
  counts(queue: string): Promise<QueueCounts> {
    const state = this.#state(queue);
    let ready = 0;
    for (const band of state.bands) ready += band.size;
    ready += state.flow.parked; // jobs waiting on a busy key wait too
    let delayed = 0;
    for (const entry of state.jobs.values()) if (entry.state === "delayed") delayed++;
    return Promise.resolve({
      ready,
      delayed,
      active: state.active.size,
      failed: state.failed.size,
      completed: state.completedCount,
      paused: state.paused,
    });
  }

  /** {@inheritDoc QueueBackend.queues} */
  queues(): Promise<string[]> {
    return Promise.resolve([...this.#queues.keys()].sort());
  }

  /** {@inheritDoc QueueBackend.onEnqueue} */
  onEnqueue(listener: (queue: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** {@inheritDoc Limiter.lock} */
  lock(key: string, token: string, ttl: number, now: number): Promise<boolean> {
    const held = this.#locks.get(key);
    if (held && held.expiresAt > now && held.token !== token) return Promise.resolve(false);
    this.#locks.set(key, { token, expiresAt: now + ttl });
    return Promise.resolve(true);
  }

  /** {@inheritDoc Limiter.unlock} */
  unlock(key: string, token: string): Promise<void> {
    if (this.#locks.get(key)?.token === token) this.#locks.delete(key);
    return Promise.resolve();
  }

  /** {@inheritDoc Limiter.hit} */
  hit(
    key: string,
    token: string,
    max: number,
    window: number,
    now: number,
  ): Promise<{ allowed: boolean; retryAfter: number }> {
    let hits = this.#windows.get(key);
    if (!hits) {
      hits = new Map();
      this.#windows.set(key, hits);
    }
    for (const [hit, at] of hits) if (at <= now - window) hits.delete(hit);
    if (hits.has(token) || hits.size < max) {
      hits.set(token, hits.get(token) ?? now);
      return Promise.resolve({ allowed: true, retryAfter: 0 });
    }
    const oldest = Math.min(...hits.values());
    return Promise.resolve({ allowed: false, retryAfter: Math.max(1, oldest + window - now) });
  }
}

/** A new job's entry, waiting to be placed; `extra`: the fields a script appends for a workflow. */
function newEntry(queue: string, job: NewJob, extra: Omit<WorkflowFields, "w">): Entry {
  return {
    id: job.id,
    name: job.name,
    queue,
    payload: job.payload,
    priority: job.priority,
    maxRetries: job.maxRetries,
    maxStalls: job.maxStalls,
    createdAt: job.createdAt,
    uniqueKey: job.uniqueKey,
    dispatchToken: job.dispatchToken,
    tags: job.tags ?? [],
    indexed: job.indexed !== false,
    dedupeFor: job.dedupeFor ?? 0,
    dueAt: job.runAt,
    attempts: 0,
    stalls: 0,
    progress: null,
    lastOutcome: undefined,
    errors: [],
    state: "waiting",
    runAt: job.runAt,
    seq: 0,
    token: "",
    deadline: 0,
    startedAt: null,
    workerId: null,
    finishedAt: null,
    resultJson: undefined,
    logs: [],
    trace: job.trace,
    flow: job.flow,
    workflow: job.workflow ? jobWorkflowOf({ w: markFields(job.workflow), ...extra }) : undefined,
  };
}

/**
 * A debounced dispatch folds into its key's delayed job: the job takes what the
 * dispatch says it is (payload, priority, tags, trace, retries, flow rules, whether
 * it is indexed) and runs at `runAt`, and keeps what makes it the same job: its
 * id, dispatch time and dispatch token (a replay of its first dispatch answers
 * `created`). enqueue-28.lua's foldRecord() does the same to a Redis record. Not
 * its unique key or dedupe window: debounce takes neither (Queue refuses them).
 */
function fold(entry: Entry, job: NewJob, runAt: number): void {
  const into = entry as { -readonly [K in keyof Entry]: Entry[K] };
  into.payload = job.payload;
  into.priority = job.priority;
  into.maxRetries = job.maxRetries;
  into.maxStalls = job.maxStalls;
  into.tags = job.tags ?? [];
  into.indexed = job.indexed !== false;
  into.trace = job.trace;
  into.flow = job.flow;
  into.dueAt = runAt;
}

/** The state each action needs; `remove` takes any (an active job is cancelled). */
const NEEDS: Partial<Record<JobAction, JobState>> = {
  promote: "delayed",
  retry: "failed",
  forget: "failed",
};

/** Does one operator action on one job; `false` when its state does not allow it. */
function act(
  state: QueueState,
  entry: Entry,
  action: JobAction,
  now: number,
  keepFailed: RetainLimit,
): boolean {
  const needs = NEEDS[action];
  if (needs !== undefined && entry.state !== needs) return false;
  if (action === "remove" && entry.state === "active") {
    // Cancel: no worker's token holds the lease any more, so its outcome is refused.
    state.active.delete(entry.id);
    entry.token = CANCELLED;
    entry.errors.push({
      attempt: entry.attempts,
      name: CANCELLED_ERROR_NAME,
      message: CANCELLED_MESSAGE,
      at: now,
    });
    state.deadLetter(entry, now, keepFailed);
    state.flow.release(entry, now);
    return true;
  }
  if (action === "retry") {
    state.failed.delete(entry.id);
    Object.assign(entry, { errors: [], attempts: 0, stalls: 0, progress: null, logs: [] });
    entry.finishedAt = null;
    if (entry.uniqueKey !== undefined && !state.unique.has(entry.uniqueKey)) {
      state.unique.set(entry.uniqueKey, entry.id);
    }
    state.workflows.retried(entry.id, entry.workflow);
  }
  if (action === "promote" || action === "retry") {
    state.ready(entry);
    state.emit(entry.id, "waiting", now);
    return true;
  }
  if (action === "remove") state.releaseUnique(entry);
  state.drop(entry);
  // A job waiting on its key (flow control) leaves its line, and hands on its turn.
  if (entry.flow !== undefined) state.flow.forget(entry, now);
  state.emit(entry.id, "removed", now);
  // A removed chain step fails its chain; a removed batch member counts as failed.
  if (action === "remove") {
    state.workflows.ended(entry.id, false, removedError(now), now, keepFailed);
  }
  return true;
}

/** Heartbeats expire after their ttl, kept beside the worker's details. */
const ttls = new WeakMap<WorkerInfo, number>();

function ttlOf(worker: WorkerInfo): number {
  return ttls.get(worker) ?? 0;
}

/** Records a worker's heartbeat, and forgets workers whose heartbeat has run out. */
function beat(state: QueueState, heartbeat: Heartbeat, now: number): void {
  const info: WorkerInfo = { ...heartbeat.info, lastSeen: now };
  ttls.set(info, heartbeat.ttl);
  state.workers.set(info.id, info);
  for (const [id, worker] of state.workers) {
    if (worker.lastSeen + ttlOf(worker) <= now) state.workers.delete(id);
  }
}

/** A job's place in its state's own listing, as RedisBackend's state sets score it. */
function stateOrder(entry: Entry): number {
  switch (entry.state) {
    case "waiting":
      return BANDS[entry.priority] * 1e13 + entry.seq;
    case "delayed":
      return entry.runAt;
    case "active":
      return entry.deadline;
    default:
      return entry.finishedAt ?? 0;
  }
}

function matches(entry: Entry, query: BackendJobQuery): boolean {
  const byLabels = query.name !== undefined || query.tag !== undefined ||
    query.since !== undefined || query.until !== undefined;
  // An unindexed job has no labels to match on Redis either (NewJob.indexed).
  return (entry.indexed || !byLabels) &&
    (query.state === undefined || entry.state === query.state) &&
    (query.name === undefined || entry.name === query.name) &&
    (query.tag === undefined || entry.tags.includes(query.tag)) &&
    (query.since === undefined || entry.createdAt >= query.since) &&
    (query.until === undefined || entry.createdAt < query.until);
}

function appendLogs(entry: Entry, lines: readonly string[] | undefined): void {
  if (lines === undefined || lines.length === 0) return;
  entry.logs.push(...lines);
  if (entry.logs.length > MAX_LOG_LINES) entry.logs.splice(0, entry.logs.length - MAX_LOG_LINES);
}

function toStored(entry: Entry): StoredJob {
  return {
    id: entry.id,
    name: entry.name,
    queue: entry.queue,
    payload: JSON.parse(entry.payload),
    priority: entry.priority,
    maxRetries: entry.maxRetries,
    createdAt: entry.createdAt,
    attempts: entry.attempts,
    stalls: entry.stalls,
    errors: entry.errors.slice(),
    ...(entry.uniqueKey !== undefined ? { uniqueKey: entry.uniqueKey } : {}),
    ...(entry.tags.length > 0 ? { tags: entry.tags } : {}),
    ...(entry.dedupeFor > 0 ? { dedupeFor: entry.dedupeFor } : {}),
    ...(entry.trace !== undefined ? { trace: entry.trace } : {}),
    ...(entry.workflow !== undefined ? { workflow: entry.workflow } : {}),
    ...(entry.flow !== undefined ? { flow: entry.flow } : {}),
  };
}

function toInfo(entry: Entry): JobInfo {
  const ended = entry.state === "completed" || entry.state === "failed";
  return {
    ...toStored(entry),
    state: entry.state,
    progress: entry.progress,
    result: entry.state === "completed" && entry.resultJson !== undefined
      ? JSON.parse(entry.resultJson)
      : null,
    logs: entry.logs.slice(),
    tags: entry.tags.slice(),
    startedAt: entry.startedAt,
    finishedAt: ended ? entry.finishedAt : null,
    runAt: entry.state === "delayed" ? entry.runAt : null,
    workerId: entry.workerId,
  };
}
