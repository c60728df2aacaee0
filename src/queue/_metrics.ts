/**
 * Queue metrics over time: per minute (kept 24 hours) and per hour (kept 30
 * days), counters and one small fixed histogram per latency, never every
 * sample. RedisBackend keeps them in Lua (lua/includes/jobs.lua, with the
 * same bounds); MemoryBackend in a {@linkcode MetricStore}; both are read
 * into {@linkcode MetricPoint}s here.
 *
 * @module
 */
import type { MetricBucket } from "./backend.ts";

/** The histogram's upper bounds in ms; one more bin holds everything slower (jobs.lua has the same). */
export const LATENCY_BOUNDS = [
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1_000,
  2_500,
  5_000,
  10_000,
  30_000,
  60_000,
  300_000,
] as const;

/** Bucket size, how long buckets are kept, and the letter in their key, per resolution. */
export const RESOLUTIONS = {
  minute: { size: 60_000, keep: 86_400_000, prefix: "m" },
  hour: { size: 3_600_000, keep: 30 * 86_400_000, prefix: "h" },
} as const;

/** A resolution of {@linkcode RESOLUTIONS}. */
export type Resolution = keyof typeof RESOLUTIONS;

/** The 1-based histogram bin of a latency. */
export function latencyBin(ms: number): number {
  const at = LATENCY_BOUNDS.findIndex((bound) => ms <= bound);
  return at < 0 ? LATENCY_BOUNDS.length + 1 : at + 1;
}

/** Percentiles read from a histogram: each the upper bound of the bin it falls in. */
export interface Percentiles {
  /** How many samples. */
  readonly count: number;
  /** The median, in ms (`null` without samples). */
  readonly p50: number | null;
  /** The 95th percentile, in ms. */
  readonly p95: number | null;
  /** The 99th percentile, in ms; past the last bound (300,000) it reads 300,000 ("at least"). */
  readonly p99: number | null;
}

/** A queue's figures for one minute or hour. */
export interface MetricPoint {
  /** The bucket's start, in epoch milliseconds. */
  readonly at: number;
  /** Jobs completed. */
  readonly completed: number;
  /** Jobs that failed for good (dead-lettered, stalled out or cancelled). */
  readonly failed: number;
  /** Failed attempts that were retried. */
  readonly retried: number;
  /** Lease expiries. */
  readonly stalled: number;
  /** From when a job was due to its first start. */
  readonly wait: Percentiles;
  /** How long handlers ran (completed and failed attempts). */
  readonly run: Percentiles;
}

function percentiles(counts: Readonly<Record<string, number>>, kind: "w" | "r"): Percentiles {
  const bins = [...LATENCY_BOUNDS, Infinity].map((_, i) => counts[`${kind}${i + 1}`] ?? 0);
  const count = bins.reduce((sum, n) => sum + n, 0);
  const at = (p: number): number | null => {
    if (count === 0) return null;
    let seen = 0;
    for (const [i, n] of bins.entries()) {
      seen += n;
      if (seen >= p * count) return LATENCY_BOUNDS[Math.min(i, LATENCY_BOUNDS.length - 1)];
    }
    return LATENCY_BOUNDS.at(-1)!;
  };
  return { count, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** Reads a bucket into a point. */
export function toPoint(bucket: MetricBucket): MetricPoint {
  const { counts } = bucket;
  return {
    at: bucket.at,
    completed: counts.completed ?? 0,
    failed: counts.failed ?? 0,
    retried: counts.retried ?? 0,
    stalled: counts.stalled ?? 0,
    wait: percentiles(counts, "w"),
    run: percentiles(counts, "r"),
  };
}

/** Adds buckets of several queues that start at the same time. */
export function mergeBuckets(lists: readonly MetricBucket[][]): MetricBucket[] {
  const byStart = new Map<number, Record<string, number>>();
  for (const bucket of lists.flat()) {
    const sum = byStart.get(bucket.at) ?? {};
    for (const [name, n] of Object.entries(bucket.counts)) sum[name] = (sum[name] ?? 0) + n;
    byStart.set(bucket.at, sum);
  }
  return [...byStart].sort(([a], [b]) => a - b).map(([at, counts]) => ({ at, counts }));
}

/** One queue's metrics in memory, with the same buckets and trimming as the Redis scripts. */
export class MetricStore {
  /** Bucket key ("m:<start>" or "h:<start>") to its counts; trimmed as written. */
  #buckets = new Map<string, { expires: number; counts: Record<string, number> }>();

  /** Adds `by` to a counter in the current minute and hour. */
  count(name: string, by: number, now: number): void {
    if (by === 0) return;
    for (const { size, keep, prefix } of Object.values(RESOLUTIONS)) {
      const start = Math.floor(now / size) * size;
      const key = `${prefix}:${start}`;
      let bucket = this.#buckets.get(key);
      if (bucket === undefined) {
        bucket = { expires: start + keep, counts: {} };
        this.#buckets.set(key, bucket);
        this.#trim(now);
      }
      bucket.counts[name] = (bucket.counts[name] ?? 0) + by;
    }
  }

  /** Adds one latency sample (`w` wait, `r` run). */
  sample(kind: "w" | "r", ms: number, now: number): void {
    this.count(`${kind}${latencyBin(ms)}`, 1, now);
  }

  /** The buckets of one resolution starting in `[from, to]`, oldest first. */
  read(resolution: Resolution, from: number, to: number): MetricBucket[] {
    const { prefix } = RESOLUTIONS[resolution];
    const out: MetricBucket[] = [];
    for (const [key, bucket] of this.#buckets) {
      const at = Number(key.slice(2));
      if (key[0] === prefix && at >= from && at <= to) {
        out.push({ at, counts: { ...bucket.counts } });
      }
    }
    return out.sort((a, b) => a.at - b.at);
  }

  #trim(now: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.expires <= now) this.#buckets.delete(key);
  }
}
