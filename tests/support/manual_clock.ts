import type { Clock } from "../../src/clock.ts";

/** A clock that only moves when a test says so; due timers fire in order. */
export class ManualClock implements Clock {
  #now: number;
  #timers = new Map<number, { at: number; delay?: number; callback: () => void }>();
  #nextId = 1;
  #watchers: Array<{ match: (delay: number) => boolean; resolve: (delay: number) => void }> = [];

  constructor(start = Date.UTC(2030, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    const delay = Math.max(0, ms);
    this.#timers.set(id, { at: this.#now + delay, delay, callback });
    const watchers = this.#watchers;
    this.#watchers = watchers.filter((watcher) => !watcher.match(delay));
    for (const watcher of watchers) if (watcher.match(delay)) watcher.resolve(delay);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /**
   * Resolves the delay of a pending timer whose delay (as set) matches, at
   * once if one is pending, else as soon as one is set: a test waits for the
   * code under test to arm its timer instead of sleeping.
   */
  timer(match: (delay: number) => boolean = () => true): Promise<number> {
    for (const timer of this.#timers.values()) {
      if (timer.delay !== undefined && match(timer.delay)) return Promise.resolve(timer.delay);
    }
    return new Promise((resolve) => this.#watchers.push({ match, resolve }));
  }

  /** Resolves once a timer of exactly `ms` is pending (at once if one already is). */
  async armed(ms: number): Promise<void> {
    await this.timer((delay) => delay === ms);
  }

  /** Resolves the delay of the next timer set from now on whose delay matches. */
  nextTimer(match: (delay: number) => boolean = () => true): Promise<number> {
    return new Promise((resolve) => this.#watchers.push({ match, resolve }));
  }

  /** How many timers are pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let dueId = -1;
      let dueAt = Infinity;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= target && timer.at < dueAt) [dueId, dueAt] = [id, timer.at];
      }
      if (dueId < 0) break;
      const timer = this.#timers.get(dueId)!;
      this.#timers.delete(dueId);
      this.#now = Math.max(this.#now, timer.at);
      timer.callback();
    }
    this.#now = target;
  }
}
