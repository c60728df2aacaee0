/**
 * The runtimes the conformance suite runs on, and how to run one of them and
 * count its results.
 *
 * @module
 */

import { join } from "node:path";
import { type CaseId, type CaseReport, tally } from "./_tally.ts";

/** Where the suite's npm project (cases, runners, node_modules) lives. */
const WORKSPACE = join(import.meta.dirname!, "suite");

/** One runtime: the command that runs the suite there, and how to fix it when it cannot. */
export interface Runtime {
  name: "node" | "bun" | "workerd";
  command: string;
  args: string[];
  /** Printed when the command is missing or the runtime never reported any result. */
  fix: string;
}

/** Node, Bun and workerd, in the order they run. */
export const RUNTIMES: readonly Runtime[] = [
  {
    name: "node",
    command: "node",
    args: ["--test", "--test-reporter=spec", "conformance.test.mjs"],
    fix: "install Node.js 20 or newer and put `node` on PATH",
  },
  {
    name: "bun",
    command: "bun",
    // `./` makes bun treat the argument as a path rather than a name filter.
    args: ["test", "./conformance.test.mjs"],
    fix: "install Bun 1.x and put `bun` on PATH (`npm install -g bun` works here)",
  },
  {
    name: "workerd",
    command: "node",
    args: ["--test", "--test-reporter=spec", "workerd/workerd.test.mjs"],
    fix:
      "workerd runs through Miniflare from tests/runtime/suite/node_modules; delete that folder " +
      "and rerun `deno task test:runtime` to reinstall it (it needs the npm registry)",
  },
];

/** What one runtime reported. */
export interface RuntimeResult {
  name: string;
  passed: number;
  failed: number;
  /** Why the runtime as a whole failed (did not start, crashed, timed out), if it did. */
  problems: string[];
  seconds: number;
}

/** Longest a runtime may take before it is killed and counted as failed. */
const TIMEOUT_MS = 180_000;

/**
 * Runs the suite on one runtime, streaming its own report to our stdout, and
 * counts the JSON lines it writes (see `suite/_results.mjs`) against the cases
 * it had to run (`suite/expected.mjs`): one it never reported is a failure.
 *
 * @param runtime The runtime.
 * @param env Variables for the cases: the gateway URL and token.
 * @param expected The cases this runtime must report, from the shared list.
 * @returns The counts, with any runtime-level problem counted as one more failure.
 */
export async function runRuntime(
  runtime: Runtime,
  env: Record<string, string>,
  expected: readonly CaseId[],
): Promise<RuntimeResult> {
  const started = performance.now();
  const resultsFile = await Deno.makeTempFile({
    prefix: `kiln-${runtime.name}-`,
    suffix: ".jsonl",
  });
  const problems: string[] = [];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(runtime.command, {
      args: runtime.args,
      cwd: WORKSPACE,
      env: { ...env, KILN_RESULTS_FILE: resultsFile },
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    await Deno.remove(resultsFile);
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return {
      name: runtime.name,
      passed: 0,
      failed: 1,
      problems: [`\`${runtime.command}\` was not found: ${runtime.fix}`],
      seconds: 0,
    };
  }
  const timer = setTimeout(() => {
    problems.push(`timed out after ${TIMEOUT_MS / 1000}s and was killed`);
    child.kill("SIGKILL");
  }, TIMEOUT_MS);
  const status = await child.status;
  clearTimeout(timer);

  const lines = (await Deno.readTextFile(resultsFile)).split("\n").filter(Boolean);
  await Deno.remove(resultsFile);
  const reports = lines.map((line) => JSON.parse(line) as CaseReport);
  const counted = tally(expected, reports);
  let { passed, failed } = counted;
  if (reports.length === 0) {
    problems.push(
      `reported no results (exit code ${status.code}); if it could not start: ${runtime.fix}`,
    );
  } else if (counted.problems.length > 0) {
    problems.push(
      `reported ${reports.length} of the ${expected.length} cases expected (exit code ${status.code})`,
      ...counted.problems,
    );
  } else if (!status.success && failed === 0) {
    problems.push(`exited with code ${status.code} although every case passed`);
  }
  // A runtime-level problem with no failed case to show for it still fails the run.
  if (problems.length > 0 && failed === 0) failed = 1;
  return {
    name: runtime.name,
    passed,
    failed,
    problems,
    seconds: (performance.now() - started) / 1000,
  };
}
