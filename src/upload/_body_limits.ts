/** The limits on request bodies in `uploads()` options, checked once and filled with defaults. */
import { type Clock, systemClock } from "../clock.ts";
import type { UploadsOptions } from "./server_options.ts";

/** The body limits, every default applied. */
export interface BodyLimits {
  clock: Clock;
  bodyIdleTimeout: number;
  maxConcurrentPatches: number;
  lockDrainTimeout: number;
}

/** Checks `clock`, `bodyIdleTimeout`, `maxConcurrentPatches` and `lockDrainTimeout`. */
export function validateBodyLimits(options: UploadsOptions): BodyLimits {
  const clock = options.clock ?? systemClock;
  if (
    typeof clock?.now !== "function" || typeof clock.setTimeout !== "function" ||
    typeof clock.clearTimeout !== "function"
  ) {
    throw new TypeError("clock must have now(), setTimeout() and clearTimeout()");
  }
  const bodyIdleTimeout = options.bodyIdleTimeout ?? 30_000;
  if (!Number.isSafeInteger(bodyIdleTimeout) || bodyIdleTimeout <= 0) {
    throw new RangeError(`bodyIdleTimeout must be a positive integer, got ${bodyIdleTimeout}`);
  }
  const maxConcurrentPatches = options.maxConcurrentPatches ?? 64;
  if (!Number.isSafeInteger(maxConcurrentPatches) || maxConcurrentPatches <= 0) {
    throw new RangeError(
      `maxConcurrentPatches must be a positive integer, got ${maxConcurrentPatches}`,
    );
  }
  const lockDrainTimeout = options.lockDrainTimeout ?? 3_000;
  if (!Number.isSafeInteger(lockDrainTimeout) || lockDrainTimeout < 0) {
    throw new RangeError(
      `lockDrainTimeout must be an integer of zero or more, got ${lockDrainTimeout}`,
    );
  }
  return { clock, bodyIdleTimeout, maxConcurrentPatches, lockDrainTimeout };
}
