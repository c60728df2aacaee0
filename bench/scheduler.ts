/**
 * Scheduler benchmark: Kiln's Scheduler beside croner (the engine it builds
 * on) in the same run, printing one JSON document.
 *
 * - precision: lateness (ms after the scheduled second) of an every-second
 *   task over `--runs` runs (default 60), Kiln and croner running at once;
 * - idle: CPU of one core over an idle window, heap per task, and the time to
 *   compute the next due run, with 1,000 and 10,000 tasks sharing 100
 *   expressions (and 10,000 all-distinct for Kiln), each in its own subprocess,
 *   against croner with the same number of separate `Cron` instances.
 *
 * Usage: deno run -A bench/scheduler.ts [--runs 60] [--idle-ms 35000]
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

function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().heapUsed;
}

/** Runs in a subprocess: registers `count` tasks, then measures heap, next-due time and idle CPU. */
async function idle(variant: Variant, count: number, idleMs: number): Promise<void> {
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
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // let start-up work settle
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  const cpu = process.cpuUsage(cpuBefore);
  const wall = performance.now() - wallBefore;
  await stop();
  console.log(JSON.stringify({
    variant,
    tasks: count,
    distinctExpressions: distinct,
    idleCpuPercentOfOneCore: Number(((cpu.user + cpu.system) / 1_000 / wall * 100).toFixed(4)),
    heapPerTaskBytes,
    nextDueMs: Number(nextDueMs.toFixed(2)),
  }));
}

async function spawnIdle(variant: Variant, count: number, idleMs: number): Promise<unknown> {
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
  await idle(Deno.args[1] as Variant, Number(Deno.args[2]), Number(Deno.args[3]));
} else {
  const runs = arg("runs", 60);
  const idleMs = arg("idle-ms", 35_000); // longer than croner's 30 s re-arm, so it is counted
  // The idle processes run side by side (they are idle); precision runs after them, alone.
  const idleResults = await Promise.all([
    spawnIdle("kiln-shared", 1_000, idleMs),
    spawnIdle("kiln-shared", 10_000, idleMs),
    spawnIdle("kiln-distinct", 10_000, idleMs),
    spawnIdle("croner", 1_000, idleMs),
    spawnIdle("croner", 10_000, idleMs),
  ]);
  console.log(JSON.stringify(
    {
      benchmark: "scheduler",
      runtime: `deno ${Deno.version.deno}`,
      precisionEverySecond: await precision(runs),
      idle: idleResults,
    },
    null,
    2,
  ));
}
