/**
 * `deno task test:runtime`: the conformance suite on Node, Bun and workerd.
 *
 * Builds npm/ (`scripts/build_npm.ts`), installs it as `@kiln/core` into
 * tests/runtime/suite/node_modules, starts a private redis-server with the HTTP
 * gateway (`tests/support/redis_stack.ts`), runs the cases in `cases/` on each
 * runtime in turn with `KILN_REDIS_URL`/`KILN_REDIS_TOKEN` set, and ends with
 * the line `N passed, N failed`. Any failure, including a runtime that cannot
 * run at all, exits non-zero: a runtime is never skipped silently.
 *
 * Flags: `--skip-build` reuses npm/ as it is; `--only=node,bun` runs a subset
 * (for local iteration; the run then says which runtimes it left out).
 *
 * @module
 */

import { join } from "node:path";
import { startRedisStack } from "../support/redis_stack.ts";
import { prepareWorkspace } from "./_workspace.ts";
import { runRuntime, type RuntimeResult, RUNTIMES } from "./_runtimes.ts";

const ROOT = join(import.meta.dirname!, "..", "..");

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

async function main(): Promise<void> {
  const started = performance.now();
  const only = Deno.args.find((arg) => arg.startsWith("--only="))?.slice("--only=".length)
    .split(",");
  const runtimes = only ? RUNTIMES.filter(({ name }) => only.includes(name)) : RUNTIMES;

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

  let stack;
  try {
    stack = await startRedisStack();
  } catch (error) {
    console.error(
      `test:runtime: could not start Redis and the gateway: ${(error as Error).message}`,
    );
    finish(0, 1);
  }
  const results: RuntimeResult[] = [];
  try {
    const env = { KILN_REDIS_URL: stack.gatewayUrl, KILN_REDIS_TOKEN: stack.token };
    for (const runtime of runtimes) {
      heading(runtime.name);
      const result = await runRuntime(runtime, env);
      for (const problem of result.problems) console.error(`✗ ${runtime.name} ${problem}`);
      results.push(result);
    }
  } finally {
    await stack.close();
  }

  heading("summary");
  for (const { name, passed, failed, problems, seconds } of results) {
    console.log(
      `${name.padEnd(8)} ${passed} passed, ${failed} failed  (${seconds.toFixed(1)}s)`,
    );
    for (const problem of problems) console.log(`         ✗ ${name} ${problem}`);
  }
  const skipped = RUNTIMES.filter((runtime) => !runtimes.includes(runtime)).map(({ name }) => name);
  if (skipped.length > 0) console.log(`not run (--only): ${skipped.join(", ")}`);
  console.log(`total time ${((performance.now() - started) / 1000).toFixed(1)}s`);
  finish(
    results.reduce((sum, result) => sum + result.passed, 0),
    results.reduce((sum, result) => sum + result.failed, 0),
  );
}

if (import.meta.main) await main();
