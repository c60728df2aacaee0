/**
 * The worker's wake-up call: its loops sleep on it, and anything that may let
 * them make progress (a slot frees, a local dispatch, `stop()`) wakes them.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { MAX_TIMER_MS } from "./_constants.ts";

/** A wake-up that is always armed: each `wake()` ends the current sleeps and arms the next. */
export class WakeSignal {
  #woken!: Promise<void>;
  #fire!: () => void;
  #clock: Clock;

  /** @param clock Whose timers the sleeps use. */
  constructor(clock: Clock) {
    this.#clock = clock;
    this.#arm();
  }

  /** Ends every sleep in progress. */
  wake(): void {
    this.#fire();
  }

  /** Sleeps until `ms` pass (never, when infinite) or `wake()` is called. */
  async sleep(ms: number): Promise<void> {
    let timer: unknown;
    await Promise.race([
      this.#woken,
      new Promise<void>((resolve) => {
        // Capped: a longer timer would fire at once, and waking early only costs a look.
        if (Number.isFinite(ms)) {
          timer = this.#clock.setTimeout(resolve, Math.min(Math.max(0, ms), MAX_TIMER_MS));
        }
      }),
    ]);
    if (timer !== undefined) this.#clock.clearTimeout(timer);
  }

  #arm(): void {
    this.#woken = new Promise<void>((resolve) => {
      this.#fire = () => {
        // Fire the current promise and arm a new one. The loops check their state
        // synchronously before they sleep, so no wake-up is missed.
        this.#arm();
        resolve();
      };
    });
  }
}
