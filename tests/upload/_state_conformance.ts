/** The behaviour every `UploadState` shares, as `Deno.test` steps. */
import assert from "node:assert/strict";
import type { UploadRecord, UploadState } from "../../src/upload/store_mod.ts";

/** A record of an unfinished 10-byte upload swept at `sweepAt`. */
export function record(id: string, sweepAt: number | null): UploadRecord {
  return {
    id,
    length: 10,
    offset: 0,
    metadata: { filename: "a.txt" },
    rawMetadata: "filename YS50eHQ=",
    createdAt: 1,
    expiresAt: sweepAt,
    completedAt: null,
    type: null,
    head: null,
    sweepAt,
  };
}

/** Runs the shared cases against `state`, which must start empty. */
export async function conformance(state: UploadState, t: Deno.TestContext): Promise<void> {
  await t.step("create() refuses a taken id and get() reads the record back", async () => {
    assert.equal(await state.create(record("a", 100)), true);
    assert.equal(await state.create({ ...record("a", 100), offset: 3 }), false);
    assert.deepEqual(await state.get("a"), record("a", 100));
    assert.equal(await state.get("missing"), null);
  });
  await t.step("save() updates an existing record and never revives a deleted one", async () => {
    assert.equal(await state.save({ ...record("a", 200), offset: 4 }), true);
    assert.equal((await state.get("a"))!.offset, 4);
    assert.equal(await state.delete("a"), true);
    assert.equal(await state.save(record("a", 200)), false);
    assert.equal(await state.get("a"), null);
    assert.equal(await state.delete("a"), false);
  });
  await t.step("due() lists records whose sweep time has passed, oldest first", async () => {
    await state.create(record("late", 300));
    await state.create(record("early", 100));
    await state.create(record("never", null));
    assert.deepEqual(await state.due(250, 10), ["early"]);
    assert.deepEqual(await state.due(300, 10), ["early", "late"]);
    assert.deepEqual(await state.due(300, 1), ["early"]);
    await state.save({ ...record("early", null), completedAt: 5 });
    assert.deepEqual(await state.due(1_000, 10), ["late"]);
  });
  await t.step("lock() admits one holder at a time", async () => {
    const first = await state.lock("x");
    assert.ok(first);
    assert.equal(await state.lock("x"), null);
    await first.release();
    await first.release();
    const second = await state.lock("x");
    assert.ok(second);
    await second.release();
  });
}
