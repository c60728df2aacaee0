/** DELETE: termination, removing an upload's bytes and record. */
import type { Reply } from "./_reply.ts";
import type { Config } from "./_config.ts";
import { locksOf } from "./_locks.ts";

/**
 * Answers a DELETE by removing the upload; a request in this process holding
 * its lock is asked to stop first, one elsewhere means 423.
 */
export async function terminate(config: Config, id: string): Promise<Reply> {
  const lock = await locksOf(config).acquire(id);
  if (!lock) return { status: 423, message: "The upload is locked by another request" };
  try {
    const record = await config.state.get(id);
    if (!record) return { status: 404, message: "Upload not found" };
    await config.store.delete(id);
    await config.state.delete(id);
    return { status: 204 };
  } finally {
    await lock.release();
  }
}
