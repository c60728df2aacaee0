/**
 * A process killed while it writes an upload's record (SIGKILL, no cleanup)
 * leaves the previous record whole: records are written to a temp file and
 * renamed over the old one.
 */
import assert from "node:assert/strict";
import { FileStore } from "../../src/upload/file_store.ts";
import { MISSED_THE_WRITE, record as written } from "./_save_records.ts";

const WRITER = new URL("./_save_records.ts", import.meta.url).pathname;

/** Runs the writer, which starts a save and kills itself `when` it says (see _save_records.ts). */
async function run(directory: string, id: string, when: string): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", WRITER, directory, id, when],
    stdout: "null",
    stderr: "piped",
  }).output();
}

Deno.test("a process killed at any point of saving a record leaves a whole record, old or new", async () => {
  const directory = await Deno.makeTempDir({ prefix: "kiln-crash-" });
  try {
    const id = "crashy";
    const state = () => new FileStore({ directory }).state;
    const names = async () =>
      (await Array.fromAsync(Deno.readDir(`${directory}/.info`))).map((entry) => entry.name);
    assert.equal(
      (await run(directory, id, "start")).success,
      true,
      "the first run creates the record",
    );
    /** Kills a save `when` given, checks that the record is whole, and says which it is. */
    const kill = async (when: string): Promise<"old" | "new"> => {
      const before = (await state().get(id))!.offset;
      const output = await run(directory, id, when);
      assert.notEqual(
        output.code,
        MISSED_THE_WRITE,
        `${when}: no temp file appeared to die beside`,
      );
      assert.equal(output.signal, "SIGKILL", new TextDecoder().decode(output.stderr));
      const after = await state().get(id);
      assert.ok(after, `after a kill at ${when} the record is there`);
      assert.deepEqual(after, written(id, after.offset), `${when}: a whole record`);
      assert.ok([before, before + 1].includes(after.offset), `${when}: old or new`);
      return after.offset === before ? "old" : "new";
    };
    // Each phase of the write, killed at a point that does not depend on the machine's load.
    assert.equal(await kill("start"), "old");
    assert.deepEqual(await names(), [`${id}.json`], "a kill before the write leaves no temp file");
    assert.equal(await kill("writing"), "old");
    assert.equal((await names()).length, 2, "a kill during the write leaves its temp file");
    assert.equal(await kill("saved"), "new");
    // Then wherever these turns land: old or new, whole either way.
    for (const turns of [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24]) await kill(String(turns));
    // The temp files the kills left are not records, and a sweep an hour later removes them.
    assert.deepEqual(await state().due(Date.now(), 10), []);
    assert.ok((await names()).length >= 2, "fresh temp files are left alone");
    assert.deepEqual(await state().due(Date.now() + 3_600_000, 10), []);
    assert.deepEqual(await names(), [`${id}.json`]);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
