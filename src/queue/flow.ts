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
 * job that runs `delay` after the last of them, with the last payload.
 */
export interface DebounceOptions {
  /** The key (1 to 200 characters); keys are per job definition. */
  key: string;
  /** How long after the last dispatch the job runs, in milliseconds (1 ms to 30 days). */
  delay: number;
}

/**
 * The first dispatch with a key runs; the others within `window` of it are
 * dropped (answered `created: false` with the first job's id).
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
 */
export interface JobFlow {
  /** Its concurrency limit. */
  readonly concurrency?: { readonly key: string; readonly limit: number };
  /** Its rate limit. */
  readonly rateLimit?: { readonly key: string; readonly limit: number; readonly per: number };
  /** Its debounce (dispatch only). */
  readonly debounce?: { readonly key: string; readonly delay: number };
  /** Its throttle (dispatch only). */
  readonly throttle?: { readonly key: string; readonly window: number };
}
