/**
 * Flow rules: checked when a job is defined and dispatched, scoped per job
 * name, and written in the compact form the Lua scripts read (see
 * lua/includes/flow.lua).
 *
 * @module
 */
import type {
  DebounceOptions,
  JobConcurrency,
  JobFlow,
  JobRateLimit,
  ThrottleOptions,
} from "./flow.ts";

/** The largest rate limit: the scripts keep one start time per start in the window. */
export const MAX_RATE_LIMIT = 1_000;
const MAX_CONCURRENCY = 1_000_000;
const MAX_WINDOW = 30 * 86_400_000;

function inRange(value: unknown, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= max;
}

/**
 * Checks a job definition's `concurrency` and `rateLimit` options.
 *
 * @throws {TypeError} When a key is not a function.
 * @throws {RangeError} When a limit or window is out of range.
 */
export function assertFlowOptions(
  name: string,
  concurrency: JobConcurrency<never> | undefined,
  rateLimit: JobRateLimit<never> | undefined,
): void {
  if (concurrency !== undefined) {
    if (typeof concurrency?.key !== "function") {
      throw new TypeError(`Job ${name}: concurrency.key must be a function of the payload`);
    }
    if (!inRange(concurrency.limit, MAX_CONCURRENCY)) {
      throw new RangeError(
        `Job ${name}: concurrency.limit must be an integer from 1 to ${MAX_CONCURRENCY}, got ${concurrency.limit}`,
      );
    }
  }
  if (rateLimit !== undefined) {
    if (typeof rateLimit?.key !== "function") {
      throw new TypeError(`Job ${name}: rateLimit.key must be a function of the payload`);
    }
    if (!inRange(rateLimit.limit, MAX_RATE_LIMIT)) {
      throw new RangeError(
        `Job ${name}: rateLimit.limit must be an integer from 1 to ${MAX_RATE_LIMIT}, got ${rateLimit.limit}`,
      );
    }
    if (!inRange(rateLimit.per, MAX_WINDOW)) {
      throw new RangeError(
        `Job ${name}: rateLimit.per must be an integer of milliseconds from 1 to ${MAX_WINDOW}, got ${rateLimit.per}`,
      );
    }
  }
}

/** A key scoped to its job: name and key, URI-encoded (no space, slash, quote or NUL). */
function scoped(name: string, key: unknown, what: string): string {
  if (typeof key !== "string" || key.length === 0 || key.length > 200) {
    throw new TypeError(`Job ${name}: ${what} must be a string of 1 to 200 characters`);
  }
  try {
    return `${encodeURIComponent(name)}:${encodeURIComponent(key)}`;
  } catch {
    // encodeURIComponent throws URIError on a lone surrogate: not a key anyone can match.
    throw new TypeError(`Job ${name}: ${what} must be well-formed Unicode (no lone surrogate)`);
  }
}

/** What a definition and a dispatch's options hold of flow control. */
interface FlowSources {
  readonly name: string;
  readonly concurrency?: JobConcurrency<never>;
  readonly rateLimit?: JobRateLimit<never>;
}

/**
 * The flow rules of one dispatch, or `undefined` for a plain job.
 *
 * @throws {TypeError} When a key is not a well-formed string of 1 to 200 characters, or
 *   debounce is combined with an option it cannot honour.
 * @throws {RangeError} When a delay or window is out of range.
 */
export function flowOf(
  job: FlowSources,
  payload: unknown,
  options: { debounce?: DebounceOptions; throttle?: ThrottleOptions },
): JobFlow | undefined {
  const { name } = job;
  const flow: {
    -readonly [K in keyof JobFlow]: JobFlow[K];
  } = {};
  if (job.concurrency) {
    const key = scoped(name, job.concurrency.key(payload as never), "concurrency.key");
    flow.concurrency = { key, limit: job.concurrency.limit };
  }
  if (job.rateLimit) {
    const key = scoped(name, job.rateLimit.key(payload as never), "rateLimit.key");
    flow.rateLimit = { key, limit: job.rateLimit.limit, per: job.rateLimit.per };
  }
  const { debounce, throttle } = options;
  if (debounce !== undefined) {
    if (!inRange(debounce?.delay, MAX_WINDOW)) {
      throw new RangeError(
        `debounce.delay must be an integer of milliseconds from 1 to ${MAX_WINDOW}, got ${debounce?.delay}`,
      );
    }
    const { delay, maxWait } = debounce;
    if (maxWait !== undefined && !(inRange(maxWait, MAX_WINDOW) && maxWait >= delay)) {
      throw new RangeError(
        `debounce.maxWait must be an integer of milliseconds from delay (${delay}) to ${MAX_WINDOW}, got ${maxWait}`,
      );
    }
    const key = scoped(name, debounce.key, "debounce.key");
    flow.debounce = maxWait === undefined ? { key, delay } : { key, delay, maxWait };
  }
  if (throttle !== undefined) {
    if (!inRange(throttle?.window, MAX_WINDOW)) {
      throw new RangeError(
        `throttle.window must be an integer of milliseconds from 1 to ${MAX_WINDOW}, got ${throttle?.window}`,
      );
    }
    flow.throttle = { key: scoped(name, throttle.key, "throttle.key"), window: throttle.window };
  }
  return Object.keys(flow).length > 0 ? flow : undefined;
}

/** The rules as a record's `"f"` field holds them: space-separated, see flow.lua. */
export function encodeFlow(flow: JobFlow): string {
  const rules: string[] = [];
  const { concurrency: c, rateLimit: r, debounce: d, throttle: t } = flow;
  if (c) rules.push(`c/${c.limit}/${c.key}`);
  if (r) rules.push(`r/${r.limit}/${r.per}/${r.key}`);
  if (d) {
    rules.push(
      d.maxWait === undefined ? `d/${d.delay}/${d.key}` : `d/${d.delay}/${d.maxWait}/${d.key}`,
    );
  }
  if (t) rules.push(`t/${t.window}/${t.key}`);
  return rules.join(" ");
}

/** Reads back what {@linkcode encodeFlow} wrote. */
export function decodeFlow(text: string): JobFlow {
  const flow: { -readonly [K in keyof JobFlow]: JobFlow[K] } = {};
  for (const rule of text.split(" ")) {
    const parts = rule.split("/");
    const key = parts.at(-1)!;
    if (parts[0] === "c") flow.concurrency = { key, limit: Number(parts[1]) };
    if (parts[0] === "r") flow.rateLimit = { key, limit: Number(parts[1]), per: Number(parts[2]) };
    if (parts[0] === "d") {
      flow.debounce = parts.length === 4
        ? { key, delay: Number(parts[1]), maxWait: Number(parts[2]) }
        : { key, delay: Number(parts[1]) };
    }
    if (parts[0] === "t") flow.throttle = { key, window: Number(parts[1]) };
  }
  return flow;
}
