/**
 * Run as a child process by file_state_crash_test.ts: starts saving the next
 * version of one upload's record through a FileStore's state, then kills
 * itself with SIGKILL after a given number of event-loop turns, so the kill
 * lands at a chosen point of the write (or after it, with `-1`).
 *
 * Usage: deno run -A tests/upload/_save_records.ts <directory> <id> <turns>
 */
import { FileStore } from "../../src/upload/file_store.ts";
import type { UploadRecord } from "../../src/upload/store_mod.ts";

/** The length of each record's `head` field. */
export const HEAD_LENGTH = 900_000;

/**
 * A record far larger than the server writes (still under the 1 MiB a record
 * may hold), so its write spans several event-loop turns. Its `head` repeats
 * the offset's last digit.
 */
export function record(id: string, offset: number): UploadRecord {
  return {
    id,
    length: 1 << 30,
    offset,
    metadata: { filename: "upload.bin" },
    rawMetadata: "filename dXBsb2FkLmJpbg==",
    createdAt: 1,
    expiresAt: null,
    completedAt: null,
    type: null,
    head: String(offset % 10).repeat(HEAD_LENGTH),
    sweepAt: null,
  };
}

async function saveAndDie(directory: string, id: string, turns: number): Promise<void> {
  const state = new FileStore({ directory }).state;
  const current = await state.get(id);
  if (!current) {
    await state.create(record(id, 0));
    return;
  }
  const saving = state.save(record(id, current.offset + 1));
  if (turns < 0) await saving;
  for (let turn = 0; turn < turns; turn++) await new Promise((resolve) => setTimeout(resolve, 0));
  Deno.kill(Deno.pid, "SIGKILL");
}

if (import.meta.main) {
  await saveAndDie(Deno.args[0], Deno.args[1], Number(Deno.args[2]));
}
