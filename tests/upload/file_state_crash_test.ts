/**
 * A process killed while it writes an upload's record (SIGKILL, no cleanup)
 * leaves the previous record whole: records are written to a temp file and
 * renamed over the old one.
 */
import assert from "node:assert/strict";
import { FileStore } from "../../src/upload/file_store.ts";
import { record as written } from "./_save_records.ts";

const WRITER = new URL("./_save_records.ts", import.meta.url).pathname;

/** Runs the writer, which starts a save and kills itself after `turns` event-loop turns. */
async function run(directory: string, id: string, turns: number): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", WRITER, directory, id, String(turns)],
    stdout: "null",
    stderr: "piped",
  }).output();
}

Deno.test("a process killed at any point of saving a record leaves a whole record, old or new", async () => {
  const directory = await Deno.makeTempDir({ prefix: "kiln-crash-" });
  try {
    const id = "crashy";
    const state = () => new FileStore({ directory }).state;
    assert.equal((await run(directory, id, 0)).success, true, "the first run creates the record");
    const outcomes = new Set<string>();
    // Turn 0 kills before anything is written, -1 after the save resolved; the turns between
    // land inside the write.
    for (const turns of [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, -1]) {
      const before = (await state().get(id))!.offset;
      const output = await run(directory, id, turns);
      assert.equal(output.signal, "SIGKILL", new TextDecoder().decode(output.stderr));
      const after = await state().get(id);
      assert.ok(after, `after a kill at turn ${turns} the record is there`);
      assert.deepEqual(after, written(id, after.offset), `turn ${turns}: a whole record`);
      assert.ok([before, before + 1].includes(after.offset), `turn ${turns}: old or new`);
      outcomes.add(after.offset === before ? "old" : "new");
    }
    assert.deepEqual([...outcomes].sort(), ["new", "old"], "the kills spanned the write");
    // The temp files the kills left are not records, and a sweep an hour later removes them.
    const names = async () => (await Array.fromAsync(Deno.readDir(`${directory}/.info`))).length;
    assert.ok(await names() > 1, "some kills left a temp file");
    assert.deepEqual(await state().due(Date.now(), 10), []);
    assert.ok(await names() > 1, "fresh temp files are left alone");
    assert.deepEqual(await state().due(Date.now() + 3_600_000, 10), []);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(`${directory}/.info`))).map((entry) => entry.name),
      [`${id}.json`],
    );
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
