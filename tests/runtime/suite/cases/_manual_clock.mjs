/**
 * A clock for a `Hub` that only moves when a case says so: its timers (token
 * expiry warnings and closes) fire in order as time is advanced, so a case can
 * reach a token's expiry without waiting for it.
 *
 * @module
 */

/** @implements {import("@kiln/core/realtime").Clock} */
export class ManualClock {
  #now;
  /** @type {Map<number, { at: number; callback: () => void }>} */
  #timers = new Map();
  #nextId = 1;

  /** @param {number} start Milliseconds since the epoch. */
  constructor(start) {
    this.#now = start;
  }

  now() {
    return this.#now;
  }

  /**
   * @param {() => void} callback
   * @param {number} ms
   */
  setTimeout(callback, ms) {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), callback });
    return id;
  }

  /** @param {unknown} handle */
  clearTimeout(handle) {
    this.#timers.delete(/** @type {number} */ (handle));
  }

  /**
   * Moves time forward, firing every timer that falls due on the way.
   *
   * @param {number} ms
   */
  advance(ms) {
    const target = this.#now + ms;
    for (;;) {
      let due;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= target && (due === undefined || timer.at < due[1].at)) {
          due = [id, timer];
        }
      }
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = Math.max(this.#now, due[1].at);
      due[1].callback();
    }
    this.#now = target;
  }
}
