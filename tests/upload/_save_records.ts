/**
 * Run as a child process by file_state_crash_test.ts: starts saving the next
 * version of one upload's record through a FileStore's state, then kills
 * itself with SIGKILL, at one of:
 *
 * - `start`: as soon as the save has started, before it wrote anything;
 * - `writing`: once the save created its temp file, before it can rename it;
 * - `saved`: after the save resolved;
 * - a number: after that many event-loop turns, wherever the write then is
 *   (a spread of points that depends on the machine's load).
 *
 * Usage: deno run -A tests/upload/_save_records.ts <directory> <id> <when>
 */
import { FileStore } from "../../src/upload/file_store.ts";
import type { UploadRecord } from "../../src/upload/store_mod.ts";

/** The length of each record's `head` field. */
export const HEAD_LENGTH = 900_000;

/** The exit code of a `writing` run that did not die beside a temp file. */
export const MISSED_THE_WRITE = 3;

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

/**
 * The same record, calling `serialized` when the store turns it into text,
 * which it does in the statement that starts writing the temp file.
 */
function announcing(value: UploadRecord, serialized: () => void): UploadRecord {
  return Object.defineProperty({ ...value }, "toJSON", {
    value: () => {
      serialized();
      return value;
    },
  });
}

/**
 * Blocks this thread until the temp file exists, then dies. Once the store's
 * write has asked for the file, the runtime creates it on another thread; no
 * JavaScript runs meanwhile, so the store never gets to rename it.
 */
function dieOnceTempFileExists(records: string): void {
  const deadline = Date.now() + 10_000;
  const hasTemp = () => [...Deno.readDirSync(records)].some((entry) => entry.name.endsWith(".tmp"));
  while (!hasTemp()) {
    if (Date.now() > deadline) Deno.exit(MISSED_THE_WRITE);
  }
  Deno.kill(Deno.pid, "SIGKILL");
}

async function saveAndDie(directory: string, id: string, when: string): Promise<void> {
  const state = new FileStore({ directory }).state;
  const current = await state.get(id);
  if (!current) {
    await state.create(record(id, 0));
    return;
  }
  const next = record(id, current.offset + 1);
  if (when === "writing") {
    const records = `${directory}/.info`;
    // A microtask, so it runs once the statement that serialized the record has asked for the file.
    await state.save(announcing(next, () => queueMicrotask(() => dieOnceTempFileExists(records))));
    Deno.exit(MISSED_THE_WRITE); // the store never serialized the record
  }
  const saving = state.save(next);
  if (when === "saved") await saving;
  const turns = when === "start" || when === "saved" ? 0 : Number(when);
  for (let turn = 0; turn < turns; turn++) await new Promise((resolve) => setTimeout(resolve, 0));
  Deno.kill(Deno.pid, "SIGKILL");
}

if (import.meta.main) {
  await saveAndDie(Deno.args[0], Deno.args[1], Deno.args[2]);
}
