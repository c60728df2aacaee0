/**
 * Flow control per key: the options that limit how many of a key's jobs run
 * at once or start per window (`defineJob`), and that debounce or throttle a
 * dispatch (`queue.dispatch`). Both backends enforce them in the step that
 * starts a job, so a job over its key's limit is never taken.
 *
 * @module
 */

/**
 * At most `limit` jobs with the same key run at once, across every worker and
 * process. The others wait, without failing or using a retry, while jobs with
 * other keys overtake them.
 *
 * @example Two reports per tenant at once
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const report = defineJob({
 *   name: "report",
 *   schema: v.object({ tenant: v.string() }),
 *   concurrency: { key: (payload) => payload.tenant, limit: 2 },
 *   handle() {},
 * });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * await queue.dispatchMany(report, [{ tenant: "a" }, { tenant: "a" }, { tenant: "a" }]);
 * const taken = await queue.backend.take({
 *   queue: "default",
 *   now: Date.now(),
 *   complete: [],
 *   reserve: 10,
 *   leaseDuration: 30_000,
 *   token: crypto.randomUUID(),
 * });
 * assert.equal(taken.jobs.length, 2); // the third waits for one of them to end
 * ```
 */
export interface JobConcurrency<P = unknown> {
  /** The key of a payload, such as its tenant (1 to 200 characters). */
  key: (payload: P) => string;
  /** How many of one key's jobs may run at once (1 to 1,000,000). */
  limit: number;
}

/**
 * At most `limit` jobs with the same key start in any `per` milliseconds (a
 * sliding window over the starts, timed on the workers' clocks). The others
 * wait, without failing or using a retry, until the window lets them start.
 *
 * @example Ten calls per second per API key
 * ```ts
 * import * as v from "valibot";
 * import { defineJob } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const call = defineJob({
 *   name: "call-api",
 *   schema: v.object({ apiKey: v.string(), url: v.string() }),
 *   rateLimit: { key: (payload) => payload.apiKey, limit: 10, per: 1_000 },
 *   async handle() {},
 * });
 * assert.equal(call.rateLimit?.limit, 10);
 * ```
 */
export interface JobRateLimit<P = unknown> {
  /** The key of a payload, such as its tenant (1 to 200 characters). */
  key: (payload: P) => string;
  /** How many of one key's jobs may start per window (1 to 1,000). */
  limit: number;
  /** The window, in milliseconds (1 ms to 30 days). */
  per: number;
}

/**
 * Dispatches with the same key within `delay` of each other collapse into one
 * job that runs `delay` after the last of them, as the last of them says
 * (payload, priority, tags), with the first one's id and dispatch time; with
 * `maxWait`, no later than `maxWait` after the first of them, however often
 * dispatches keep coming.
 *
 * @example Reindexing a document once it stops changing
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const reindex = defineJob({ name: "reindex", schema: v.number(), handle() {} });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const debounce = { key: "doc-7", delay: 2_000 };
 * const first = await queue.dispatch(reindex, 1, { debounce });
 * const second = await queue.dispatch(reindex, 2, { debounce });
 * assert.deepEqual(second, { id: first.id, created: false }); // one job, payload 2
 * ```
 */
export interface DebounceOptions {
  /** The key (1 to 200 characters); keys are per job definition. */
  key: string;
  /** How long after the last dispatch the job runs, in milliseconds (1 ms to 30 days). */
  delay: number;
  /**
   * The longest a job waits from the first dispatch it collapses, in
   * milliseconds (`delay` to 30 days): a steady stream of dispatches less than
   * `delay` apart then runs it every `maxWait` instead of postponing it for ever.
   * @default no longest wait
   */
  maxWait?: number;
}

/**
 * The first dispatch with a key runs; the others within `window` of it are
 * dropped (answered `created: false` with the first job's id).
 *
 * @example One welcome mail per user per minute
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const welcome = defineJob({ name: "welcome", schema: v.string(), handle() {} });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const throttle = { key: "user-42", window: 60_000 };
 * const first = await queue.dispatch(welcome, "ada@example.com", { throttle });
 * const again = await queue.dispatch(welcome, "ada@example.com", { throttle });
 * assert.deepEqual(again, { id: first.id, created: false });
 * ```
 */
export interface ThrottleOptions {
  /** The key (1 to 200 characters); keys are per job definition. */
  key: string;
  /** How long after the first dispatch the others are dropped, in milliseconds (1 ms to 30 days). */
  window: number;
}

/**
 * The flow rules a job was dispatched under, as backends keep them: each
 * `key` is the job's name and the caller's key, URI-encoded and joined by `:`.
 *
 * @example Reading a job's rules
 * ```ts
 * import * as v from "valibot";
 * import { defineJob, MemoryBackend, Queue } from "@kiln/core/queue";
 * import assert from "node:assert/strict";
 *
 * const sync = defineJob({
 *   name: "sync",
 *   schema: v.object({ tenant: v.string() }),
 *   concurrency: { key: (payload) => payload.tenant, limit: 1 },
 *   handle() {},
 * });
 * const queue = new Queue({ backend: new MemoryBackend() });
 * const { id } = await queue.dispatch(sync, { tenant: "acme co" });
 * assert.deepEqual((await queue.job(id))?.flow, { concurrency: { key: "sync:acme%20co", limit: 1 } });
 * ```
 */
export interface JobFlow {
  /** Its concurrency limit. */
  readonly concurrency?: { readonly key: string; readonly limit: number };
  /** Its rate limit. */
  readonly rateLimit?: { readonly key: string; readonly limit: number; readonly per: number };
  /** Its debounce (dispatch only). */
  readonly debounce?: { readonly key: string; readonly delay: number; readonly maxWait?: number };
  /** Its throttle (dispatch only). */
  readonly throttle?: { readonly key: string; readonly window: number };
}
