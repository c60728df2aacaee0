/** The sweep of idle uploads that `cleanupExpired()` runs from a scheduled task. */
import type { Config } from "./_config.ts";
import type { CleanupResult } from "./server.ts";

/**
 * Removes expired unfinished uploads (bytes and record) and forgets finished
 * ones kept long enough, skipping any a request holds the lock of.
 */
export async function cleanupExpired(config: Config): Promise<CleanupResult> {
  const { state, store, now } = config;
  const result: CleanupResult = { removed: 0, forgotten: 0 };
  const skipped = new Set<string>();
  for (;;) {
    const due = (await state.due(now(), 100 + skipped.size)).filter((id) => !skipped.has(id));
    if (due.length === 0) return result;
    for (const id of due) {
      const lock = await state.lock(id);
      // A request is writing it right now, so it is not idle: leave it for the next sweep.
      if (!lock) {
        skipped.add(id);
        continue;
      }
      try {
        const record = await state.get(id);
        if (!record || record.sweepAt === null || record.sweepAt > now()) {
          skipped.add(id);
          continue;
        }
        // A finished partial upload is only a piece of another file: its bytes go too.
        if (record.completedAt === null || record.concat === "partial") {
          await store.delete(id);
          result.removed++;
        } else {
          result.forgotten++;
        }
        await state.delete(id);
      } finally {
        await lock.release();
      }
    }
  }
}
