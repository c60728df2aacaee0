/** Per-upload locks held in this process, for the memory and file-backed states. */
import type { UploadLock } from "./state.ts";

/**
 * Takes the lock on `id` in `held` (the set of ids locked in this process).
 *
 * @returns The lock, or `null` when `id` is held; releasing twice is harmless.
 */
export function lockInProcess(held: Set<string>, id: string): UploadLock | null {
  if (held.has(id)) return null;
  held.add(id);
  let holding = true;
  return {
    release: () => {
      if (holding) held.delete(id);
      holding = false;
      return Promise.resolve();
    },
  };
}
