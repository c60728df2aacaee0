import type { Clock } from "../../src/clock.ts";

/**
 * A clock that only moves when a test says so; due timers fire in order.
 * `armed(ms)` lets a test wait, by event, until the server has set a timer.
 */
export class ManualClock implements Clock {
  #now: number;
  #timers = new Map<number, { at: number; ms: number; callback: () => void }>();
  #nextId = 1;
  #watchers: { ms: number; resolve: () => void }[] = [];

  constructor(start = Date.UTC(2030, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), ms, callback });
    this.#watchers = this.#watchers.filter((watcher) => {
      if (watcher.ms !== ms) return true;
      watcher.resolve();
      return false;
    });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Resolves once a timer of `ms` is pending (at once if one already is). */
  armed(ms: number): Promise<void> {
    for (const timer of this.#timers.values()) if (timer.ms === ms) return Promise.resolve();
    return new Promise((resolve) => this.#watchers.push({ ms, resolve }));
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
