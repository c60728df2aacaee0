/**
 * Scheduler benchmark: Kiln's Scheduler beside croner (the engine it builds
 * on) in the same run, printing one JSON document.
 *
 * - precision: lateness (ms after the scheduled second) of an every-second
 *   task over `--runs` runs (default 60), Kiln and croner running at once;
 * - idle: CPU of one core over an idle window, heap per task, and the time to
 *   compute the next due run, with 1,000 and 10,000 tasks sharing 100
 *   expressions (and 10,000 all-distinct for Kiln), against croner with the
 *   same number of separate `Cron` instances.
 *
 * Each idle measurement runs in its own subprocess, one after another (side by
 * side they would share two cores and each other's start-up work). After
 * setup it forces a full GC (`--expose-gc`), waits `--settle-ms` so V8's one-off
 * follow-up GCs run first (see `idle()`), then reads the
 * CPU time of the whole process (all threads) over exactly `--idle-ms`.
 *
 * Usage: deno run -A bench/scheduler.ts [--runs 60] [--idle-ms 35000] [--settle-ms 32000]
 */
import process from "node:process";
import { Cron } from "croner";
import { Scheduler } from "../src/scheduler/mod.ts";

type Variant = "kiln-shared" | "kiln-distinct" | "croner";

function arg(name: string, fallback: number): number {
  const index = Deno.args.indexOf(`--${name}`);
  return index >= 0 ? Number(Deno.args[index + 1]) : fallback;
}

/** The i-th of many distinct expressions that will not fire during the run (Feb 29 / Dec 31). */
function expression(i: number): string {
  const minute = i % 60;
  const hour = Math.floor(i / 60) % 24;
  const day = 1 + Math.floor(i / 1440) % 28;
  return `0 ${minute} ${hour} ${day} 2 *`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))];
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: (options?: { type: string; flavor: string }) => void }).gc;
  if (!gc) throw new Error("Run the idle measurement with --v8-flags=--expose-gc");
  // V8's "last resort" collection: repeated full GCs that also shrink the heap,
  // the work V8's memory reducer would otherwise do later, inside the idle window.
  gc({ type: "major", flavor: "last-resort" });
}

function heapUsed(): number {
  collectGarbage();
  return Deno.memoryUsage().heapUsed;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs in a subprocess: registers `count` tasks, then measures heap, next-due time and idle CPU. */
async function idle(
  variant: Variant,
  count: number,
  idleMs: number,
  settleMs: number,
): Promise<void> {
  const distinct = variant === "kiln-distinct" ? count : 100;
  const before = heapUsed();
  let nextDueMs: number;
  let stop: () => Promise<void> | void;
  if (variant === "croner") {
    const jobs: Cron[] = [];
    for (let i = 0; i < count; i++) {
      jobs.push(new Cron(expression(i % distinct), { timezone: "UTC", unref: true }, () => {}));
    }
    const start = performance.now();
    let earliest = Infinity;
    for (const job of jobs) earliest = Math.min(earliest, job.nextRun()?.getTime() ?? Infinity);
    nextDueMs = performance.now() - start;
    stop = () => jobs.forEach((job) => job.stop());
  } else {
    const scheduler = new Scheduler();
    for (let i = 0; i < count; i++) {
      scheduler.call(`task-${i}`, () => {}).cron(expression(i % distinct));
    }
    const start = performance.now();
    await scheduler.start({ keepAlive: true }); // plans, computes every next run, arms one timer
    nextDueMs = performance.now() - start;
    stop = () => scheduler.stop();
  }
  const heapPerTaskBytes = Math.round((heapUsed() - before) / count);
  // Let start-up work finish before the window opens. About 30 s after the last
  // full GC, V8's memory reducer runs one or two shrinking GCs (seen with
  // --trace-gc: "Incremental Mark-Compact (reduce)" at 30.2 s, whatever the
  // scheduler's own timer does), costing 25 to 35 ms with 10,000 tasks. It happens
  // once per process, not per tick, so it is start-up cost: the window opens only
  // after it, `settleMs` after the GC that follows setup.
  await sleep(settleMs);
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  await sleep(idleMs);
  const cpu = process.cpuUsage(cpuBefore);
  const wall = performance.now() - wallBefore;
  await stop();
  console.log(JSON.stringify({
    variant,
    tasks: count,
    distinctExpressions: distinct,
    idleWindowMs: Math.round(wall),
    idleCpuMs: Number(((cpu.user + cpu.system) / 1_000).toFixed(2)),
    idleCpuPercentOfOneCore: Number(((cpu.user + cpu.system) / 1_000 / wall * 100).toFixed(4)),
    heapPerTaskBytes,
    nextDueMs: Number(nextDueMs.toFixed(2)),
  }));
}

async function spawnIdle(
  variant: Variant,
  count: number,
  idleMs: number,
  settleMs: number,
): Promise<unknown> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      "--idle",
      variant,
      String(count),
      String(idleMs),
      String(settleMs),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
}

async function precision(runs: number): Promise<Record<string, unknown>> {
  const kiln: number[] = [];
  const croner: number[] = [];
  const scheduler = new Scheduler();
  const done = Promise.withResolvers<void>();
  let finished = 0;
  const finish = () => ++finished === 2 && done.resolve();
  scheduler.call("tick", ({ scheduledAt }) => {
    if (kiln.length < runs) kiln.push(Date.now() - scheduledAt.getTime());
    if (kiln.length === runs) finish();
  }).everySecond();
  const job = new Cron("* * * * * *", () => {
    // croner does not pass the scheduled time: its run is the whole second just begun.
    const now = Date.now();
    if (croner.length < runs) croner.push(now - Math.floor(now / 1_000) * 1_000);
    if (croner.length === runs) finish();
  });
  await scheduler.start({ keepAlive: true });
  await done.promise;
  job.stop();
  await scheduler.stop();
  const summary = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return {
      runs: values.length,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted.at(-1),
    };
  };
  return { kiln: summary(kiln), croner: summary(croner) };
}

if (Deno.args[0] === "--idle") {
  const [variant, count, idleMs, settleMs] = Deno.args.slice(1);
  await idle(variant as Variant, Number(count), Number(idleMs), Number(settleMs));
} else {
  const runs = arg("runs", 60);
  const idleMs = arg("idle-ms", 35_000); // longer than croner's 30 s re-arm, so it is counted
  const settleMs = arg("settle-ms", 32_000);
  // One at a time: each process alone on the machine, precision after them all.
  const idleResults: unknown[] = [];
  for (
    const [variant, count] of [
      ["kiln-shared", 1_000],
      ["kiln-shared", 10_000],
      ["kiln-distinct", 10_000],
      ["croner", 1_000],
      ["croner", 10_000],
    ] as const
  ) {
    idleResults.push(await spawnIdle(variant, count, idleMs, settleMs));
  }
  console.log(JSON.stringify(
    {
      benchmark: "scheduler",
      runtime: `deno ${Deno.version.deno}`,
      idleMethod: `each variant alone in its own process; forced GC after setup, then ` +
        `${settleMs} ms to settle (past V8's one-off memory-reducer GCs), then ` +
        `process CPU time (all threads) over ${idleMs} ms`,
      precisionEverySecond: await precision(runs),
      idle: idleResults,
    },
    null,
    2,
  ));
}
