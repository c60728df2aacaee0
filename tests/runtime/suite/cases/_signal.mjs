/**
 * Waiting for something to happen without sleeping for it: `notify()` wherever
 * the state changes, `until(condition)` where a case must wait. The deadline is
 * a bound on a hang, never what the case measures.
 *
 * @module
 */

/** Wakes waiters when the state they watch may have changed. */
export class Signal {
  /** @type {(() => void)[]} */
  #waiters = [];

  /** Wakes every waiter, which then checks its condition again. */
  notify() {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /**
   * Resolves once `condition()` is true, checking after every `notify()`.
   *
   * @param {() => boolean} condition
   * @param {string} what Named in the error when the deadline passes.
   * @param {number} [timeoutMs] How long to wait at most.
   */
  async until(condition, what, timeoutMs = 5_000) {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `Timed out after ${timeoutMs} ms waiting until ${what}`,
        );
      }
      let timer;
      await new Promise((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }
}
