/**
 * Flow control per key for MemoryBackend: the rules, lines and turns of
 * lua/includes/flow.lua, kept in one process's maps, so both backends start,
 * park and overtake jobs in the same order.
 *
 * @module
 */
import type { JobState } from "./backend.ts";
import type { JobFlow } from "./flow.ts";

/**
 * How long a folded debounce dispatch is remembered by its dispatch token, so a
 * replay of it (the HTTP client retrying a request whose answer was lost) is
 * answered with the job it folded into and changes nothing: flow.lua's
 * FOLD_REPLAY_MS.
 */
export const FOLD_REPLAY_MS = 60_000;

/** What the flow keeper reads and changes on a job. */
export interface FlowEntry {
  readonly id: string;
  readonly flow?: JobFlow;
  state: JobState;
}

/** How the flow keeper moves jobs of its queue. */
export interface FlowHost<E extends FlowEntry> {
  /** Puts a job at the back of its band, waiting. */
  ready(entry: E): void;
  /** Delays a job until `at`, and tells watchers it changed at `now`. */
  delay(entry: E, at: number, now: number): void;
  /** Whether the job still exists. */
  exists(entry: E): boolean;
}

interface Limit {
  readonly field: string;
  readonly limit: number;
  readonly per?: number;
}

interface Parked<E> {
  readonly order: number;
  readonly entry: E;
}

function limitsOf(flow: JobFlow | undefined): Limit[] {
  const limits: Limit[] = [];
  if (flow?.concurrency) {
    limits.push({ field: `c/${flow.concurrency.key}`, limit: flow.concurrency.limit });
  }
  if (flow?.rateLimit) {
    const { key, limit, per } = flow.rateLimit;
    limits.push({ field: `r/${key}`, limit, per });
  }
  return limits;
}

/**
 * One queue's flow state: running counts and start windows per key, each
 * field's line of parked jobs (in band and dispatch order), and whose turn it is.
 */
export class MemoryFlow<E extends FlowEntry> {
  #host: FlowHost<E>;
  #running = new Map<string, number>();
  #starts = new Map<string, number[]>();
  #turns = new Map<string, Parked<E>>();
  #lines = new Map<string, Parked<E>[]>();
  #parked = new Map<string, string>();
  #debounced = new Map<string, E>();
  /** With `maxWait`: the latest run-at of a key's debounced job (its first dispatch + maxWait). */
  #debounceUntil = new Map<string, number>();
  #throttles = new Map<string, { until: number; id: string }>();
  /** Folded dispatches' tokens: the job each folded into, until its replay window closes. */
  #folds = new Map<string, { until: number; id: string }>();
  /** When each rate field's window is over (its newest start + per): then it is dropped. */
  #rateUntil = new Map<string, number>();
  /** How many windows may be open before the next sweep (doubles, so sweeps cost O(1) per job). */
  #sweepAt = 1_000;

  constructor(host: FlowHost<E>) {
    this.#host = host;
  }

  /** How many jobs wait parked on a key. */
  get parked(): number {
    return this.#parked.size;
  }

  /** The id of the job whose throttle window is open at `now`, if any. */
  throttledBy(flow: JobFlow | undefined, now: number): string | undefined {
    if (!flow?.throttle) return undefined;
    const open = this.#throttles.get(flow.throttle.key);
    return open !== undefined && open.until > now ? open.id : undefined;
  }

  /** The job a debounced dispatch folded into, when this is a replay of it (same token). */
  foldedBy(flow: JobFlow | undefined, token: string | undefined, now: number): string | undefined {
    if (!flow?.debounce || !token) return undefined;
    const fold = this.#folds.get(token);
    return fold !== undefined && fold.until > now ? fold.id : undefined;
  }

  /** A debounced dispatch folded into `id`: a replay of it within the window is told so. */
  folded(token: string | undefined, id: string, now: number): void {
    this.#sweep(now);
    if (token) this.#folds.set(token, { until: now + FOLD_REPLAY_MS, id });
  }

  /** The debounced job still delayed for this dispatch's key, if any. */
  debouncing(flow: JobFlow | undefined): E | undefined {
    if (!flow?.debounce) return undefined;
    const waiting = this.#debounced.get(flow.debounce.key);
    return waiting !== undefined && waiting.state === "delayed" && this.#host.exists(waiting)
      ? waiting
      : undefined;
  }

  /** When a dispatch folding into its key's debounced job makes it run: `runAt`, or the longest wait's end. */
  foldRunAt(flow: JobFlow | undefined, runAt: number): number {
    const until = flow?.debounce && this.#debounceUntil.get(flow.debounce.key);
    return until === undefined ? runAt : Math.min(runAt, until);
  }

  /**
   * A job was created: it holds its debounce key and opens its throttle window.
   * Windows that are over are swept now and then, as enqueue does on Redis, so
   * keys that have gone quiet keep nothing.
   */
  created(entry: E, now: number): void {
    this.#sweep(now);
    const { debounce, throttle } = entry.flow ?? {};
    if (debounce) {
      this.#debounced.set(debounce.key, entry);
      if (debounce.maxWait === undefined) this.#debounceUntil.delete(debounce.key);
      else this.#debounceUntil.set(debounce.key, now + debounce.maxWait);
    }
    if (throttle) this.#throttles.set(throttle.key, { until: now + throttle.window, id: entry.id });
  }

  #sweep(now: number): void {
    const open = this.#throttles.size + this.#rateUntil.size + this.#folds.size;
    if (open < this.#sweepAt) return;
    for (const windows of [this.#throttles, this.#folds]) {
      for (const [key, window] of windows) {
        if (window.until <= now) windows.delete(key);
      }
    }
    for (const [field, until] of this.#rateUntil) {
      if (until > now) continue;
      this.#rateUntil.delete(field);
      this.#starts.delete(field);
    }
    this.#sweepAt = Math.max(
      1_000,
      2 * (this.#throttles.size + this.#rateUntil.size + this.#folds.size),
    );
  }

  /**
   * Places a due job under flow control: on its first limit's line, then in
   * ready if its turn may come now. `false` for a job with no limit (the caller
   * puts it in ready).
   */
  enqueue(entry: E, order: number, now: number): boolean {
    const [first] = limitsOf(entry.flow);
    if (first === undefined) return false;
    this.#park(first.field, entry, order);
    this.#advance(first, now);
    return true;
  }

  /**
   * Whether a job leaving ready (from `order`) may start now; if so its start
   * is counted, else it is parked. Each of its fields' next job is put in line.
   */
  admit(entry: E, order: number, now: number): boolean {
    const flow = entry.flow;
    this.#debounceOver(entry);
    const limits = limitsOf(flow);
    for (const rule of limits) {
      const turn = this.#turns.get(rule.field);
      if (turn?.entry === entry) {
        order = turn.order; // its turn came: it keeps its place if it must wait again
        this.#turns.delete(rule.field);
      }
    }
    const blocked = limits.find((rule) => this.#freeAt(rule, now) !== now);
    if (blocked) this.#park(blocked.field, entry, order);
    else for (const rule of limits) this.#countStart(rule, now);
    for (const rule of limits) this.#advance(rule, now);
    return blocked === undefined;
  }

  /**
   * A running job ended: its concurrency slot frees, and its key's next job is
   * put in line. A job handed back `unstarted` also gives its start back to its
   * rate window (the newest start in it, its own or one as recent).
   */
  release(entry: E, now: number, unstarted = false): void {
    for (const rule of limitsOf(entry.flow)) {
      if (rule.per === undefined) {
        const left = (this.#running.get(rule.field) ?? 0) - 1;
        if (left <= 0) this.#running.delete(rule.field);
        else this.#running.set(rule.field, left);
      } else if (unstarted) {
        const starts = this.#window(rule, now);
        starts.pop();
        if (starts.length === 0) this.#starts.delete(rule.field);
      } else continue;
      this.#advance(rule, now);
    }
  }

  /** A waiting job was removed: it leaves its line and hands its turn on. `true` when it was parked. */
  forget(entry: E, now: number): boolean {
    this.#debounceOver(entry);
    const field = this.#parked.get(entry.id);
    if (field !== undefined) {
      this.#parked.delete(entry.id);
      const line = this.#lines.get(field) ?? [];
      const at = line.findIndex((parked) => parked.entry === entry);
      if (at >= 0) line.splice(at, 1);
      if (line.length === 0) this.#lines.delete(field);
    }
    for (const rule of limitsOf(entry.flow)) this.#advance(rule, now);
    return field !== undefined;
  }

  /** Whether a job is parked on a key. */
  isParked(entry: E): boolean {
    return this.#parked.has(entry.id);
  }

  /** A debounced job started or left: its key's next dispatch starts a new job. */
  #debounceOver(entry: E): void {
    const debounce = entry.flow?.debounce;
    if (debounce && this.#debounced.get(debounce.key) === entry) {
      this.#debounced.delete(debounce.key);
      this.#debounceUntil.delete(debounce.key);
    }
  }

  #park(field: string, entry: E, order: number): void {
    let line = this.#lines.get(field);
    if (!line) this.#lines.set(field, line = []);
    let at = line.length;
    while (at > 0 && line[at - 1].order > order) at--;
    line.splice(at, 0, { order, entry });
    this.#parked.set(entry.id, field);
    entry.state = "waiting";
  }

  /** A rate field's starts within the window ending at `now`, oldest first. */
  #window(rule: Limit, now: number): number[] {
    const starts = (this.#starts.get(rule.field) ?? []).filter((at) => at > now - rule.per!);
    this.#starts.set(rule.field, starts);
    return starts;
  }

  /** When one more job may start: `now`, a later time for a rate, `false` at a concurrency limit. */
  #freeAt(rule: Limit, now: number): number | false {
    if (rule.per === undefined) return (this.#running.get(rule.field) ?? 0) < rule.limit && now;
    const starts = this.#window(rule, now);
    const over = starts.length - rule.limit;
    if (starts.length === 0) this.#starts.delete(rule.field);
    return over < 0 ? now : starts[over] + rule.per;
  }

  #countStart(rule: Limit, now: number): void {
    if (rule.per === undefined) {
      this.#running.set(rule.field, (this.#running.get(rule.field) ?? 0) + 1);
    } else {
      this.#starts.set(rule.field, [...this.#window(rule, now), now]);
      this.#rateUntil.set(rule.field, now + rule.per!);
    }
  }

  /** Puts a field's next parked job in line when it may start, unless one is in line already. */
  #advance(rule: Limit, now: number): void {
    const turn = this.#turns.get(rule.field);
    if (turn) {
      const { entry } = turn;
      const inLine = this.#host.exists(entry) && !this.#parked.has(entry.id) &&
        (entry.state === "waiting" || entry.state === "delayed");
      if (inLine) return;
      this.#turns.delete(rule.field);
    }
    const line = this.#lines.get(rule.field);
    if (!line?.length) return;
    const at = this.#freeAt(rule, now);
    if (at === false) return;
    const next = line.shift()!;
    if (line.length === 0) this.#lines.delete(rule.field);
    this.#parked.delete(next.entry.id);
    this.#turns.set(rule.field, next);
    if (at <= now) this.#host.ready(next.entry);
    else this.#host.delay(next.entry, at, now);
  }
}
