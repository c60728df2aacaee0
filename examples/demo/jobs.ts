/**
 * The demo's sample jobs, and the feed that shows each one moving from
 * waiting to active to completed, retried or failed.
 *
 * @module
 */
import * as v from "valibot";
import { defineJob, type Worker } from "@kiln/core/queue";

/** A slow job: works for `seconds`, reporting progress. */
export const resizeImage = defineJob({
  name: "resize-image",
  schema: v.object({ seconds: v.pipe(v.number(), v.minValue(0), v.maxValue(30)) }),
  queue: "media",
  tags: () => ["demo", "kind:slow"],
  async handle(payload, ctx) {
    const steps = 10;
    for (let step = 1; step <= steps; step++) {
      await sleep((payload.seconds * 1_000) / steps, ctx.signal);
      await ctx.progress(step * 10);
      ctx.log(`resized tile ${step} of ${steps}`);
    }
    return { width: 640, height: 480 };
  },
});

/** A job that always fails: retried once, then kept in the failed store. */
export const sendReport = defineJob({
  name: "send-report",
  schema: v.object({ to: v.string() }),
  queue: "mail",
  tags: (payload) => ["demo", "kind:failing", `to:${payload.to}`],
  maxRetries: 1,
  backoff: { type: "fixed", delay: 1_000 },
  handle(payload, ctx) {
    ctx.log(`connecting to smtp.example.com for ${payload.to}`);
    throw new Error(`SMTP server refused the report for ${payload.to}`);
  },
});

/** A job that fails its first attempt and completes its second. */
export const syncContacts = defineJob({
  name: "sync-contacts",
  schema: v.object({ account: v.string() }),
  queue: "default",
  tags: (payload) => ["demo", "kind:flaky", `account:${payload.account}`],
  maxRetries: 2,
  backoff: { type: "fixed", delay: 1_500 },
  handle(payload, ctx) {
    if (ctx.attempt === 1) throw new Error(`CRM timed out for ${payload.account}`);
    return { synced: 42 };
  },
});

/** A job dispatched with a delay. */
export const sendReminder = defineJob({
  name: "send-reminder",
  schema: v.object({ note: v.string() }),
  queue: "mail",
  tags: () => ["demo", "kind:delayed"],
  handle: () => ({ sent: true }),
});

/** Dispatched when an upload finishes. */
export const processUpload = defineJob({
  name: "process-upload",
  schema: v.object({ upload: v.string(), bytes: v.number() }),
  queue: "media",
  handle: async (_payload, ctx) => {
    await sleep(500, ctx.signal);
    return { scanned: true };
  },
});

/** Dispatched every minute by the scheduler. */
export const dailyDigest = defineJob({
  name: "digest",
  schema: v.object({ for: v.string() }),
  queue: "mail",
  handle: () => ({ mailed: 3 }),
});

/** Every job the demo's worker runs. */
export const DEMO_JOBS = [
  resizeImage,
  sendReport,
  syncContacts,
  sendReminder,
  processUpload,
  dailyDigest,
];

/** One job as the demo page shows it. */
export interface JobView {
  id: string;
  name: string;
  queue: string;
  state: "waiting" | "delayed" | "active" | "completed" | "retrying" | "failed";
  attempt: number;
  progress: number | null;
  error?: string;
  at: number;
}

/** The most recent jobs, kept in memory and pushed to listening pages. */
export class JobFeed {
  #jobs = new Map<string, JobView>();
  #listeners = new Set<(job: JobView) => void>();

  /** Records a dispatch. */
  dispatched(id: string, name: string, queue: string, delayed: boolean): void {
    this.#put({
      id,
      name,
      queue,
      state: delayed ? "delayed" : "waiting",
      attempt: 0,
      progress: null,
      at: Date.now(),
    });
  }

  /** Follows a worker's jobs: started (through middleware), progress, retries, outcomes. */
  follow(worker: Worker): void {
    worker.use(async (ctx, next) => {
      this.#update(ctx.job.id, ctx.job.name, ctx.job.queue, {
        state: "active",
        attempt: ctx.attempt,
      });
      return await next();
    });
    worker.on(
      "progress",
      ({ job, value }) => this.#update(job.id, job.name, job.queue, { progress: value }),
    );
    worker.on(
      "completed",
      ({ job }) => this.#update(job.id, job.name, job.queue, { state: "completed", progress: 100 }),
    );
    worker.on(
      "retrying",
      ({ job, error }) =>
        this.#update(job.id, job.name, job.queue, { state: "retrying", error: messageOf(error) }),
    );
    worker.on(
      "failed",
      ({ job, error }) =>
        this.#update(job.id, job.name, job.queue, { state: "failed", error: messageOf(error) }),
    );
  }

  /** The recent jobs, newest first. */
  list(): JobView[] {
    return [...this.#jobs.values()].reverse();
  }

  /** How many listen now. */
  get size(): number {
    return this.#listeners.size;
  }

  /** Calls `listener` with every change; returns the function that stops it. */
  listen(listener: (job: JobView) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #update(id: string, name: string, queue: string, change: Partial<JobView>): void {
    const known = this.#jobs.get(id) ??
      { id, name, queue, state: "waiting", attempt: 0, progress: null, at: Date.now() };
    this.#put({ ...known, ...change, at: Date.now() });
  }

  #put(job: JobView): void {
    this.#jobs.delete(job.id);
    this.#jobs.set(job.id, job);
    if (this.#jobs.size > 30) this.#jobs.delete(this.#jobs.keys().next().value!);
    for (const listener of this.#listeners) listener(job);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
