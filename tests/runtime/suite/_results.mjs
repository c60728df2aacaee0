/**
 * Hands each case's outcome to `run.ts` through a JSON-lines file
 * (`KILN_RESULTS_FILE`), so counting does not depend on parsing each test
 * runner's own output format. The first line is the plan: a runtime that dies
 * half-way leaves fewer results than planned, and `run.ts` counts the missing
 * ones as failures.
 *
 * Runs under Node and Bun only (the workerd runner is a Node script).
 *
 * @module
 */
import { appendFileSync } from "node:fs";

const file = process.env.KILN_RESULTS_FILE;

/** @param {Record<string, unknown>} record */
function write(record) {
  // Synchronous on purpose: a crash right after a case must not lose its line.
  if (file) appendFileSync(file, JSON.stringify(record) + "\n");
}

/** @param {number} total How many cases this runtime will run. */
export function plan(total) {
  write({ plan: total });
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
