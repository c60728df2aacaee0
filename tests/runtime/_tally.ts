/**
 * Counting one runtime's results against the cases it was expected to run.
 * The expectation comes from the shared case list (`suite/expected.mjs`), never
 * from the runtime's own report, so a case that never ran is a failure rather
 * than a smaller total.
 *
 * @module
 */

/** One case, named as runners report it. */
export interface CaseId {
  suite: string;
  name: string;
}

/** One line a runner wrote to its results file (see `suite/_results.mjs`). */
export interface CaseReport extends CaseId {
  ok: boolean;
  error?: string;
}

/** What the reports add up to. */
export interface Tally {
  /** Expected cases reported exactly once, as passed. */
  passed: number;
  /** Expected cases that failed, never ran or ran twice, plus reports nobody expected. */
  failed: number;
  /** One line per missing, repeated or unexpected case. */
  problems: string[];
}

/** How cases are named in problems and in `KILN_DROP_CASE`. */
export function caseKey({ suite, name }: CaseId): string {
  return `${suite} › ${name}`;
}

/**
 * Holds a runtime's reports against the cases it had to run.
 *
 * @param expected Every case the runtime must report, from the shared list.
 * @param reports What the runtime reported.
 * @returns The counts; every expected case is either passed or failed.
 *
 * @example A case that never ran
 * ```ts
 * import { tally } from "./_tally.ts";
 * import assert from "node:assert/strict";
 *
 * const result = tally(
 *   [{ suite: "upload", name: "a" }, { suite: "upload", name: "b" }],
 *   [{ suite: "upload", name: "a", ok: true }],
 * );
 * assert.deepEqual([result.passed, result.failed], [1, 1]);
 * assert.deepEqual(result.problems, ["never ran: upload › b"]);
 * ```
 */
export function tally(
  expected: readonly CaseId[],
  reports: readonly CaseReport[],
): Tally {
  const byKey = new Map<string, CaseReport[]>();
  for (const report of reports) {
    const key = caseKey(report);
    byKey.set(key, [...(byKey.get(key) ?? []), report]);
  }
  let passed = 0;
  let failed = 0;
  const problems: string[] = [];
  const wanted = new Set<string>();
  for (const id of expected) {
    const key = caseKey(id);
    wanted.add(key);
    const found = byKey.get(key) ?? [];
    if (found.length === 0) {
      failed++;
      problems.push(`never ran: ${key}`);
    } else if (found.length > 1) {
      failed++;
      problems.push(`reported ${found.length} times: ${key}`);
    } else if (found[0].ok) {
      passed++;
    } else {
      failed++;
    }
  }
  for (const [key, found] of byKey) {
    if (wanted.has(key)) continue;
    // Renamed, or run where it is declared not to run: either way the list is wrong.
    failed += found.length;
    problems.push(
      `reported a case the shared list does not expect here: ${key}`,
    );
  }
  return { passed, failed, problems };
}
