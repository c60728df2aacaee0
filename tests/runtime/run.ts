/**
 * `deno task test:runtime`: the conformance suite on Node, Bun and workerd.
 *
 * Checks its own counting (`tally_test.ts`), builds npm/ (`scripts/build_npm.ts`),
 * installs it as `@kiln/core` into tests/runtime/suite/node_modules, reads the
 * cases each runtime must run from the shared list (`suite/expected.mjs`),
 * starts a private redis-server with the HTTP gateway
 * (`tests/support/redis_stack.ts`), runs the cases on each runtime in turn with
 * `KILN_REDIS_URL`/`KILN_REDIS_TOKEN` set, then the consumer step
 * (`_consumer.ts`: the packed package in fresh user projects beside the oldest
 * and the newest `hono` and `@upstash/redis` its peer ranges allow), and ends
 * with the line `N passed, N failed`, the consumer's checks included. Any
 * failure, including a runtime that cannot run at all or a case a runtime never
 * reported, exits non-zero: nothing is skipped silently.
 *
 * Flags: `--skip-build` reuses npm/ as it is; `--only=node,bun,consumer` runs a
 * subset (for local iteration; the run then says which parts it left out);
 * `--self-check` runs each selected runtime with two cases left out and passes
 * only if every runtime's count catches both.
 *
 * @module
 */

import { join } from "node:path";
import { startRedisStack } from "../support/redis_stack.ts";
import { type R2Simulator, startR2Simulator } from "../upload/_r2_simulator.ts";
import { prepareWorkspace } from "./_workspace.ts";
import { runRuntime, type RuntimeResult, RUNTIMES } from "./_runtimes.ts";
import { type CaseId, caseKey } from "./_tally.ts";
import {
  CONSUMER_CHECKS,
  type ConsumerVariant,
  consumerVariants,
  packPackage,
  runConsumer,
} from "./_consumer.ts";

const ROOT = join(import.meta.dirname!, "..", "..");
const HERE = import.meta.dirname!;

/** What `suite/expected.mjs` prints: per runtime, the cases to run and those declared out. */
type Expected = Record<string, {
  cases: CaseId[];
  excluded: (CaseId & { because: string })[];
}>;

function finish(passed: number, failed: number): never {
  console.log(`${passed} passed, ${failed} failed`);
  Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
}

async function build(): Promise<boolean> {
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "scripts", "build_npm.ts")],
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return success;
}

function heading(text: string): void {
  console.log(`\n━━ ${text} ${"━".repeat(Math.max(0, 72 - text.length))}`);
}

/**
 * Runs `tally_test.ts` and `packaging_test.ts`: counts nobody proved are not worth
 * printing, and a package built by unproved rules is not worth installing.
 */
async function checkCounting(): Promise<boolean> {
  const { success } = await new Deno.Command(Deno.execPath(), {
    // --no-config: deno.json keeps tests/runtime/ out of `deno test`.
    args: [
      "test",
      "--no-config",
      "--quiet",
      join(HERE, "tally_test.ts"),
      join(HERE, "packaging_test.ts"),
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return success;
}

/** Reads the shared case list with Node, where the cases' imports resolve. */
async function readExpected(): Promise<Expected> {
  const output = await new Deno.Command("node", {
    args: ["expected.mjs"],
    cwd: join(HERE, "suite"),
    stdin: "null",
    stderr: "inherit",
  }).output();
  if (!output.success) {
    throw new Error("suite/expected.mjs could not list the cases; see above");
  }
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

/** The name `--only=` selects the consumer step by. */
const CONSUMER = "consumer";

/**
 * The consumer step: packs npm/ once, then runs every variant in a fresh project.
 * Learning the newest versions or packing failing is one failed result, not a skip.
 */
async function consumerStep(env: Record<string, string>): Promise<RuntimeResult[]> {
  let variants: ConsumerVariant[];
  let packed: { tarball: string; folder: string };
  try {
    variants = await consumerVariants();
    packed = await packPackage();
  } catch (error) {
    const problem = (error as Error).message;
    console.error(`✗ consumer: ${problem}`);
    return [{ name: CONSUMER, passed: 0, failed: 1, problems: [problem], seconds: 0 }];
  }
  const results: RuntimeResult[] = [];
  try {
    for (const variant of variants) {
      heading(`consumer: ${variant.end} peers (${describe(variant)})`);
      results.push(await runConsumer(variant, packed.tarball, env));
    }
  } finally {
    await Deno.remove(packed.folder, { recursive: true });
  }
  return results;
}

function describe(variant: ConsumerVariant): string {
  return Object.entries(variant.peers).map(([name, version]) => `${name}@${version}`).join(", ");
}

/**
 * `--self-check`: runs each runtime with its first and last expected cases left
 * out (`KILN_DROP_CASE`; in workerd the first runs inside the worker and the last
 * in its Node runner) and checks that exactly those two are counted as never run.
 */
async function selfCheck(
  runtimes: typeof RUNTIMES,
  expected: Expected,
  env: Record<string, string>,
): Promise<{ passed: number; failed: number }> {
  let passed = 0;
  let failed = 0;
  for (const runtime of runtimes) {
    const cases = expected[runtime.name].cases;
    const dropped = [caseKey(cases[0]), caseKey(cases[cases.length - 1])];
    heading(`self-check: ${runtime.name} with two cases left out`);
    const result = await runRuntime(
      runtime,
      { ...env, KILN_DROP_CASE: dropped.join("\n") },
      cases,
    );
    const caught = result.failed === 2 &&
      dropped.every((key) => result.problems.includes(`never ran: ${key}`));
    console.log(
      caught
        ? `✓ ${runtime.name}: both missing cases failed the count (${dropped.join("; ")})`
        : `✗ ${runtime.name}: a missing case went unnoticed (${result.passed} passed, ` +
          `${result.failed} failed; ${result.problems.join("; ") || "no problem reported"})`,
    );
    if (caught) passed++;
    else failed++;
  }
  return { passed, failed };
}

async function main(): Promise<void> {
  const started = performance.now();
  const only = Deno.args.find((arg) => arg.startsWith("--only="))?.slice("--only=".length)
    .split(",");
  const runtimes = only ? RUNTIMES.filter(({ name }) => only.includes(name)) : RUNTIMES;
  const withConsumer = !only || only.includes(CONSUMER);
  const unknown = only?.filter((name) =>
    name !== CONSUMER && !RUNTIMES.some((r) => r.name === name)
  );
  if (unknown !== undefined && unknown.length > 0) {
    console.error(
      `test:runtime: --only names ${unknown.join(", ")}; choose from ` +
        `${[...RUNTIMES.map(({ name }) => name), CONSUMER].join(", ")}`,
    );
    finish(0, 1);
  }

  heading("self-check: counting and packaging rules (tally_test.ts, packaging_test.ts)");
  if (!(await checkCounting())) {
    console.error("test:runtime: the result counting or the packaging rules failed; see above");
    finish(0, 1);
  }
  console.log("a missing, repeated or unexpected case fails its runtime");
  console.log("peers stay out of dependencies; dead links in the shipped docs fail the build");

  if (!Deno.args.includes("--skip-build")) {
    heading("build npm/");
    if (!(await build())) {
      console.error("test:runtime: the npm build failed; see above");
      finish(0, 1);
    }
  }
  heading("install tests/runtime/suite/node_modules");
  try {
    await prepareWorkspace();
    console.log("@kiln/core installed from npm/");
  } catch (error) {
    console.error(`test:runtime: ${(error as Error).message}`);
    finish(0, 1);
  }
  let expected: Expected;
  try {
    expected = await readExpected();
  } catch (error) {
    console.error(`test:runtime: ${(error as Error).message}`);
    finish(0, 1);
  }

  let stack;
  try {
    stack = await startRedisStack();
  } catch (error) {
    console.error(
      `test:runtime: could not start Redis and the gateway: ${(error as Error).message}`,
    );
    finish(0, 1);
  }
  // The upload/s3 cases' bucket: Cloudflare's R2 simulator, with R2's S3 API.
  let bucket: R2Simulator;
  try {
    bucket = await startR2Simulator();
  } catch (error) {
    await stack.close();
    console.error(`test:runtime: could not start the R2 simulator: ${(error as Error).message}`);
    finish(0, 1);
  }
  const results: RuntimeResult[] = [];
  try {
    const env = {
      KILN_REDIS_URL: stack.gatewayUrl,
      KILN_REDIS_TOKEN: stack.token,
      KILN_S3_ENDPOINT: bucket.s3Endpoint,
      KILN_S3_KEY: bucket.accessKeyId,
      KILN_S3_SECRET: bucket.secretAccessKey,
    };
    if (Deno.args.includes("--self-check")) {
      const { passed, failed } = await selfCheck(runtimes, expected, env);
      await stack.close();
      await bucket.miniflare.dispose();
      finish(passed, failed);
    }
    for (const runtime of runtimes) {
      heading(runtime.name);
      const result = await runRuntime(runtime, env, expected[runtime.name].cases);
      for (const problem of result.problems) console.error(`✗ ${runtime.name} ${problem}`);
      results.push(result);
    }
    if (withConsumer) results.push(...await consumerStep(env));
  } finally {
    await stack.close();
    await bucket.miniflare.dispose();
  }

  heading("summary");
  for (const { name, passed, failed, problems, seconds } of results) {
    // A consumer variant expects every check; a runtime expects its share of the case list.
    const cases = expected[name]?.cases.length ?? CONSUMER_CHECKS.length;
    const excluded = expected[name]?.excluded.length ?? 0;
    console.log(
      `${name.padEnd(8)} ${passed} passed, ${failed} failed of ${cases} expected, ` +
        `${excluded} excluded by declaration  (${seconds.toFixed(1)}s)`,
    );
    for (const problem of problems) console.log(`         ✗ ${name} ${problem}`);
  }
  for (const { name } of runtimes) {
    for (const excluded of expected[name].excluded) {
      console.log(`not on ${name}: ${caseKey(excluded)} (${excluded.because})`);
    }
  }
  const skipped: string[] = RUNTIMES.filter((runtime) => !runtimes.includes(runtime))
    .map(({ name }) => name);
  if (!withConsumer) skipped.push(CONSUMER);
  if (skipped.length > 0) console.log(`not run (--only): ${skipped.join(", ")}`);
  console.log(`total time ${((performance.now() - started) / 1000).toFixed(1)}s`);
  finish(
    results.reduce((sum, result) => sum + result.passed, 0),
    results.reduce((sum, result) => sum + result.failed, 0),
  );
}

if (import.meta.main) await main();
