/**
 * A hand-driven clock for scheduler tests: time moves only when the test says,
 * timers fire in order as it passes, and nothing waits for real time.
 *
 * @module
 */
import type { Clock } from "../../src/scheduler/mod.ts";

interface FakeTimer {
  at: number;
  callback: () => void;
  unref: boolean;
}

/** A {@linkcode Clock} whose time moves only through {@linkcode FakeClock.advance}. */
export class FakeClock implements Clock {
  /** Time as timers see it: moves only with advance(), like a monotonic clock. */
  #elapsed = 0;
  /** The wall clock's distance from the monotonic one; jump() changes it. */
  #offset: number;
  #nextId = 1;
  #timers = new Map<number, FakeTimer>();

  constructor(start: string | number) {
    this.#offset = typeof start === "number" ? start : Date.parse(start);
  }

  now(): number {
    return this.#elapsed + this.#offset;
  }

  setTimeout(callback: () => void, ms: number, unref = false): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#elapsed + Math.max(0, ms), callback, unref });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** The timers waiting to fire, earliest first, with `at` in wall-clock time. */
  get timers(): FakeTimer[] {
    return [...this.#timers.values()]
      .map((timer) => ({ ...timer, at: timer.at + this.#offset }))
      .sort((a, b) => a.at - b.at);
  }

  /** Moves time forward by `ms`, firing each timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#elapsed + ms;
    for (;;) {
      await settle();
      let earliest: [number, FakeTimer] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= target && (!earliest || entry[1].at < earliest[1].at)) earliest = entry;
      }
      if (!earliest) break;
      this.#timers.delete(earliest[0]);
      this.#elapsed = Math.max(this.#elapsed, earliest[1].at);
      earliest[1].callback();
    }
    this.#elapsed = target;
    await settle();
  }

  /**
   * Sets the wall clock without moving timers, as an NTP step does, or as a
   * suspended machine sees it on waking (monotonic timers do not count the sleep).
   */
  jump(to: string | number): void {
    this.#offset = (typeof to === "number" ? to : Date.parse(to)) - this.#elapsed;
  }
}

/** Lets pending promise chains run (awaits are microtasks; one macrotask drains them all). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
