/**
 * The counting that `run.ts` trusts: run it with
 * `deno test --no-config tests/runtime/tally_test.ts` (deno.json leaves
 * tests/runtime/ out of `deno task test`); `run.ts` runs it first, every time.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type CaseId, type CaseReport, tally } from "./_tally.ts";

const expected: CaseId[] = [
  { suite: "upload", name: "a chunked upload is stored" },
  { suite: "upload", name: "a checksum mismatch answers 460" },
  { suite: "scheduler (scheduled event)", name: "a scheduled event runs once" },
];

function passing(ids: CaseId[]): CaseReport[] {
  return ids.map((id) => ({ ...id, ok: true }));
}

Deno.test("tally() passes a runtime that reported every expected case once", () => {
  assert.deepEqual(tally(expected, passing(expected)), {
    passed: 3,
    failed: 0,
    problems: [],
  });
});

Deno.test("tally() fails a case that never reported, though every reported case passed", () => {
  // What workerd's runner used to do: count only what the worker sent back.
  const result = tally(expected, passing(expected.slice(0, 2)));
  assert.equal(result.passed, 2);
  assert.equal(result.failed, 1);
  assert.deepEqual(result.problems, [
    "never ran: scheduler (scheduled event) › a scheduled event runs once",
  ]);
});

Deno.test("tally() fails every expected case of a runtime that reported nothing", () => {
  assert.deepEqual(
    [tally(expected, []).passed, tally(expected, []).failed],
    [0, 3],
  );
});

Deno.test("tally() fails a case reported twice, even when both reports passed", () => {
  const reports = passing([...expected, expected[0]]);
  const result = tally(expected, reports);
  assert.deepEqual([result.passed, result.failed], [2, 1]);
  assert.deepEqual(result.problems, [
    "reported 2 times: upload › a chunked upload is stored",
  ]);
});

Deno.test("tally() fails a report the shared list does not expect, so a rename cannot hide a drop", () => {
  const renamed = [
    ...passing(expected.slice(0, 2)),
    { suite: "scheduler (scheduled event)", name: "renamed", ok: true },
  ];
  const result = tally(expected, renamed);
  assert.deepEqual([result.passed, result.failed], [2, 2]);
  assert.equal(result.problems.length, 2);
});

Deno.test("tally() counts a failed report as failed, without a problem line", () => {
  const reports = passing(expected);
  reports[1] = {
    ...reports[1],
    ok: false,
    error: "AssertionError: 460 expected",
  };
  assert.deepEqual(tally(expected, reports), {
    passed: 2,
    failed: 1,
    problems: [],
  });
});
