/**
 * The in-memory queue backend: one process, no persistence, the same
 * semantics as Redis. For development, tests and single-process apps.
 *
 * @module
 */
import type {
  AttemptError,
  DispatchResult,
  FailedJob,
  FailRequest,
  FailResult,
  JobInfo,
  Lease,
  NewJob,
  QueueBackend,
  QueueCounts,
  StoredJob,
  TakeRequest,
  TakeResult,
} from "./backend.ts";
import type { Priority } from "./job.ts";
import { Deque } from "./_structures.ts";
import { MinHeap } from "../_min_heap.ts";
import {
  assertFailedLimit,
  BANDS,
  DEFAULT_FAILED_LIMIT,
  DEFAULT_MAX_STALLS,
  STALL_ERROR_NAME,
  stallErrorMessage,
} from "./_constants.ts";

/** Options for {@linkcode MemoryBackend}. */
export interface MemoryBackendOptions {
  /** How many failed jobs each queue keeps; the oldest are trimmed beyond it. @default 10000 */
  failedLimit?: number;
}

type State = "ready" | "delayed" | "active" | "failed";

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
  attempts: number;
  stalls: number;
  progress: number | null;
  /** The last outcome reported by `fail`, so a replay of that call answers the same. */
  lastOutcome: { token: string; result: FailResult } | undefined;
  errors: AttemptError[];
  state: State;
  runAt: number;
  token: string;
  deadline: number;
  failedAt: number;
}

class QueueState {
  readonly jobs = new Map<string, Entry>();
  readonly bands = [new Deque<Entry>(), new Deque<Entry>(), new Deque<Entry>()];
  readonly delayed = new MinHeap<Entry>();
  readonly active = new Map<string, Entry>();
  readonly failed = new Map<string, Entry>();
  readonly unique = new Map<string, string>();
  completed = 0;
  /** A lower bound of the earliest lease deadline, so most reserves skip the scan. */
  minDeadline = Infinity;

  ready(entry: Entry, front = false): void {
    entry.state = "ready";
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
}

/**
 * Keeps queues in this process's memory, with the same semantics as
 * {@linkcode import("./redis_backend.ts").RedisBackend}: priorities, delays,
 * leases, retries, the failed store. Jobs are lost when the process ends.
 * One process has one clock, so leases are timed on the `now` its callers
 * pass (the queue's clock), where `RedisBackend` times them on Redis's: a test
 * expires a lease by moving the injected clock.
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
  #failedLimit: number;

  /**
   * Creates an empty backend.
   *
   * @param options The failed-store retention limit.
   * @throws {RangeError} When `failedLimit` is not a positive integer.
   */
  constructor(options: MemoryBackendOptions = {}) {
    this.#failedLimit = options.failedLimit ?? DEFAULT_FAILED_LIMIT;
    assertFailedLimit(this.#failedLimit);
  }

  #state(queue: string): QueueState {
    let state = this.#queues.get(queue);
    if (!state) {
      state = new QueueState();
      this.#queues.set(queue, state);
    }
    return state;
  }

  /** {@inheritDoc QueueBackend.enqueue} */
  enqueue(queue: string, jobs: readonly NewJob[], now: number): Promise<DispatchResult[]> {
    const state = this.#state(queue);
    const results: DispatchResult[] = [];
    const seen = new Set<string>();
    for (const job of jobs) {
      const existing = state.jobs.get(job.id);
      if (existing !== undefined) {
        // The same dispatch call again (a replay) answers as it did the first time.
        const replay = !seen.has(job.id) && job.dispatchToken !== undefined &&
          existing.dispatchToken === job.dispatchToken;
        seen.add(job.id);
        results.push({ id: job.id, created: replay });
        continue;
      }
      seen.add(job.id);
      if (job.uniqueKey !== undefined) {
        const holder = state.unique.get(job.uniqueKey);
        if (holder !== undefined && state.jobs.has(holder)) {
          results.push({ id: holder, created: false });
          continue;
        }
        state.unique.set(job.uniqueKey, job.id);
      }
      const entry: Entry = {
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
        attempts: 0,
        stalls: 0,
        progress: null,
        lastOutcome: undefined,
        errors: [],
        state: "ready",
        runAt: job.runAt,
        token: "",
        deadline: 0,
        failedAt: 0,
      };
      state.jobs.set(job.id, entry);
      if (job.runAt > now) state.delay(entry, job.runAt);
      else state.ready(entry);
      results.push({ id: job.id, created: true });
    }
    if (results.some((result) => result.created)) {
      for (const listener of this.#listeners) listener(queue);
    }
    return Promise.resolve(results);
  }

  /** {@inheritDoc QueueBackend.take} */
  take(request: TakeRequest): Promise<TakeResult> {
    const state = this.#state(request.queue);
    const { now } = request;
    const lost: string[] = [];
    for (const { id, token } of request.complete) {
      const entry = state.jobs.get(id);
      if (entry === undefined || entry.state !== "active" || entry.token !== token) {
        lost.push(id);
        continue;
      }
      state.jobs.delete(id);
      state.active.delete(id);
      state.releaseUnique(entry);
      state.completed++;
    }
    const stalled: string[] = [];
    const stalledOut: string[] = [];
    const jobs: StoredJob[] = [];
    if (request.reserve > 0) {
      if (now >= state.minDeadline) {
        this.#reclaim(state, now, request.maxStalls ?? DEFAULT_MAX_STALLS, stalled, stalledOut);
      }
      state.cleanDelayed();
      while (state.delayed.size > 0 && state.delayed.peekKey()! <= now) {
        const entry = state.delayed.pop()!;
        if (entry.state === "delayed") state.ready(entry);
        state.cleanDelayed();
      }
      const deadline = now + request.leaseDuration;
      for (const band of state.bands) {
        while (jobs.length < request.reserve && band.size > 0) {
          const entry = band.shift()!;
          entry.attempts++;
          entry.state = "active";
          entry.token = request.token;
          entry.deadline = deadline;
          state.active.set(entry.id, entry);
          jobs.push(toStored(entry));
        }
      }
      if (jobs.length > 0) state.minDeadline = Math.min(state.minDeadline, deadline);
    }
    state.cleanDelayed();
    const nextDelayed = state.delayed.peekKey() ?? Infinity;
    const next = Math.min(nextDelayed, state.active.size > 0 ? state.minDeadline : Infinity);
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
    stalled: string[],
    stalledOut: string[],
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
        this.#deadLetter(state, entry, now);
        stalledOut.push(entry.id);
      } else {
        state.ready(entry);
      }
    }
    state.minDeadline = min;
  }

  #deadLetter(state: QueueState, entry: Entry, now: number): void {
    entry.state = "failed";
    entry.failedAt = now;
    state.failed.set(entry.id, entry);
    state.releaseUnique(entry);
    while (state.failed.size > this.#failedLimit) {
      const oldest = state.failed.keys().next().value!;
      state.failed.delete(oldest);
      state.jobs.delete(oldest);
    }
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
    if (request.error) entry.errors.push(request.error);
    let result: FailResult;
    if (request.outcome === "dead") {
      this.#deadLetter(state, entry, request.now);
      result = "failed";
    } else {
      if (request.undoAttempt) entry.attempts = Math.max(0, entry.attempts - 1);
      if (request.runAt > request.now) state.delay(entry, request.runAt);
      else state.ready(entry, request.outcome === "release");
      result = request.outcome === "release" ? "released" : "retried";
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
    if (entry === undefined) return Promise.resolve(null);
    return Promise.resolve({ ...toStored(entry), state: entry.state, progress: entry.progress });
  }

  /** {@inheritDoc QueueBackend.extend} */
  extend(
    queue: string,
    leases: readonly Lease[],
    leaseDuration: number,
    now: number,
  ): Promise<string[]> {
    const state = this.#state(queue);
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
    let delayed = 0;
    for (const entry of state.jobs.values()) if (entry.state === "delayed") delayed++;
    return Promise.resolve({
      ready,
      delayed,
      active: state.active.size,
      failed: state.failed.size,
      completed: state.completed,
    });
  }

  /** {@inheritDoc QueueBackend.queues} */
  queues(): Promise<string[]> {
    return Promise.resolve([...this.#queues.keys()]);
  }

  /** {@inheritDoc QueueBackend.listFailed} */
  listFailed(queue: string, offset: number, limit: number): Promise<FailedJob[]> {
    const entries = [...this.#state(queue).failed.values()].reverse();
    return Promise.resolve(
      entries.slice(offset, offset + limit).map((entry) => ({
        ...toStored(entry),
        failedAt: entry.failedAt,
      })),
    );
  }

  /** {@inheritDoc QueueBackend.retryFailed} */
  retryFailed(queue: string, ids: readonly string[] | "all", _now: number): Promise<number> {
    const state = this.#state(queue);
    const chosen = ids === "all" ? [...state.failed.keys()] : ids;
    let moved = 0;
    for (const id of chosen) {
      const entry = state.failed.get(id);
      if (entry === undefined) continue;
      state.failed.delete(id);
      entry.errors = [];
      entry.attempts = 0;
      entry.stalls = 0;
      entry.progress = null;
      if (entry.uniqueKey !== undefined && !state.unique.has(entry.uniqueKey)) {
        state.unique.set(entry.uniqueKey, entry.id);
      }
      state.ready(entry);
      moved++;
    }
    if (moved > 0) { for (const listener of this.#listeners) listener(queue); }
    return Promise.resolve(moved);
  }

  /** {@inheritDoc QueueBackend.forgetFailed} */
  forgetFailed(queue: string, ids: readonly string[] | "all"): Promise<number> {
    const state = this.#state(queue);
    const chosen = ids === "all" ? [...state.failed.keys()] : ids;
    let deleted = 0;
    for (const id of chosen) {
      if (!state.failed.delete(id)) continue;
      state.jobs.delete(id);
      deleted++;
    }
    return Promise.resolve(deleted);
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
  };
}
