/**
 * Hands each case's outcome to `run.ts` through a JSON-lines file
 * (`KILN_RESULTS_FILE`), so counting does not depend on parsing each test
 * runner's own output format. `run.ts` holds these lines against the shared
 * case list (`expected.mjs`): a case with no line, because its runner died
 * half-way or never registered it, counts as failed.
 *
 * Runs under Node and Bun only (the workerd runner is a Node script).
 *
 * @module
 */
import { appendFileSync } from "node:fs";

const file = process.env.KILN_RESULTS_FILE;

/**
 * The cases (`<suite> › <name>`, one per line) a runner must leave out, set only
 * by `run.ts --self-check` to prove that a missing case fails the count.
 */
export const droppedCases = new Set((process.env.KILN_DROP_CASE ?? "").split("\n").filter(Boolean));

/** @param {Record<string, unknown>} record */
function write(record) {
  // Synchronous on purpose: a crash right after a case must not lose its line.
  if (file) appendFileSync(file, JSON.stringify(record) + "\n");
}

/**
 * @param {string} suite
 * @param {string} name
 * @param {unknown} [error] The failure, or `undefined` when the case passed.
 */
export function record(suite, name, error) {
  write({
    suite,
    name,
    ok: error === undefined,
    error: error === undefined ? undefined : String(error),
  });
}
