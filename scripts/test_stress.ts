/**
 * Runs the whole test suite several times in a row while every core is kept
 * busy by `yes > /dev/null` processes, and fails on the first failing run:
 * evidence that no test depends on a quiet machine.
 *
 * Usage: `deno task test:stress [--runs 5] [--load <processes>]` (the load
 * defaults to one busy process per core).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { availableParallelism } from "node:os";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "5" }, load: { type: "string" } },
});
const runs = Number(values.runs);
const load = values.load === undefined ? availableParallelism() : Number(values.load);
if (!Number.isInteger(runs) || runs < 1) throw new TypeError(`--runs must be >= 1, got ${runs}`);
if (!Number.isInteger(load) || load < 0) throw new TypeError(`--load must be >= 0, got ${load}`);

/** Starts `count` processes that each keep one core busy until killed. */
function startLoad(count: number): Deno.ChildProcess[] {
  return Array.from({ length: count }, () =>
    new Deno.Command("sh", {
      args: ["-c", "exec yes > /dev/null"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn());
}

const busy = startLoad(load);
const stopLoad = async () => {
  for (const child of busy) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
  await Promise.all(busy.map((child) => child.status));
};
Deno.addSignalListener("SIGINT", async () => {
  await stopLoad();
  Deno.exit(130);
});

const results: { run: number; ok: boolean; seconds: number }[] = [];
try {
  for (let run = 1; run <= runs; run++) {
    console.log(`== stress run ${run}/${runs} with ${load} busy processes`);
    const started = performance.now();
    const { success } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "test"],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    const seconds = Math.round((performance.now() - started) / 100) / 10;
    results.push({ run, ok: success, seconds });
    if (!success) break;
  }
} finally {
  await stopLoad();
}

console.log(JSON.stringify({ load, results }));
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} of ${runs} stress runs passed`);
if (passed !== runs) Deno.exit(1);
