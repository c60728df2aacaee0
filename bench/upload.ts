/**
 * Benchmark: a 1 GiB upload in 8 MiB chunks over loopback into Kiln's tus
 * server with FileStore, beside a plain stream copy of the same file (the
 * limit) and @tus/server with @tus/file-store, all on Deno, both servers
 * driven by Kiln's client, in one run.
 *
 * Memory is measured per process: each server, and the stream copy, runs in
 * its own subprocess, so the client's Blob slices and fetch buffers (in this
 * process) never count against it. Peak growth is the kernel's high-water mark
 * for that process (VmHWM, reset through /proc/<pid>/clear_refs after a small
 * warm-up upload) minus its RSS just before the measured upload. `rssAfterMiB`
 * is its RSS right after, so a transient peak (garbage not yet collected)
 * tells itself apart from memory kept.
 *
 * The machine may be shared, so each contender runs `--rounds` times
 * (interleaved) and the median round is reported, every round beside it.
 *
 * Usage: deno run -A bench/upload.ts [--size-mib 1024] [--chunk-mib 8] [--rounds 3]
 * Prints one JSON object. Writes only below a temp directory it removes.
 */
import { openAsBlob } from "node:fs";
import { Hono } from "hono";
import { uploads } from "../src/upload/mod.ts";
import { uploadFile } from "../src/upload/client.ts";
import { FileStore } from "../src/upload/file_store.ts";

const MiB = 1024 * 1024;

function argument(name: string, fallback: number): number {
  const index = Deno.args.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(Deno.args[index + 1]);
}

if (Deno.args[0] === "--serve") {
  await serveRole(Deno.args[1], Deno.args[2]);
} else if (Deno.args[0] === "--copy") {
  await copyRole(Deno.args[1], Deno.args[2], Deno.args[3]);
} else {
  await main();
}

/** The server subprocess: prints its port, then serves until killed. */
async function serveRole(role: string, directory: string): Promise<void> {
  let handler: (request: Request) => Response | Promise<Response>;
  if (role === "kiln") {
    const app = new Hono().route(
      "/files",
      uploads({ store: new FileStore({ directory }), maxSize: 4 * 1024 * MiB }),
    );
    handler = app.fetch;
  } else {
    const { Server } = await import("@tus/server");
    const { FileStore: TusFileStore } = await import("@tus/file-store");
    const server = new Server({ path: "/files", datastore: new TusFileStore({ directory }) });
    handler = (request) => server.handleWeb(request);
  }
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(JSON.stringify({ port })),
  }, handler);
}

function procStatus(pid: number | "self", field: "VmRSS" | "VmHWM"): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(text);
  return Number(match![1]) * 1024;
}

async function writeSource(path: string, size: number): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = new Uint8Array(8 * MiB);
  for (let written = 0; written < size; written += block.byteLength) {
    crypto.getRandomValues(block.subarray(0, 65536));
    block.copyWithin(65536, 0, block.byteLength - 65536);
    await file.write(block.subarray(0, Math.min(block.byteLength, size - written)));
  }
  file.close();
}

/**
 * The stream-copy subprocess: copies a small warm-up file, then the source,
 * measuring its own RSS the way the servers' is measured; prints JSON.
 */
async function copyRole(warmUp: string, source: string, target: string): Promise<void> {
  const copy = async (from: string) => {
    const input = await Deno.open(from);
    const output = await Deno.open(target, { write: true, create: true, truncate: true });
    const started = performance.now();
    await input.readable.pipeTo(output.writable);
    return performance.now() - started;
  };
  await copy(warmUp);
  Deno.writeTextFileSync("/proc/self/clear_refs", "5");
  const rssBefore = procStatus("self", "VmRSS");
  const elapsed = await copy(source);
  const peak = procStatus("self", "VmHWM");
  const rssAfter = procStatus("self", "VmRSS");
  const size = (await Deno.stat(target)).size;
  console.log(JSON.stringify({ elapsed, size, rssBefore, peak, rssAfter }));
}

interface Result {
  mbPerSecond: number;
  seconds: number;
  peakRssGrowthMiB: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
}

function resultOf(
  size: number,
  elapsed: number,
  before: number,
  peak: number,
  after: number,
): Result {
  return {
    mbPerSecond: round(size / 1e6 / (elapsed / 1000)),
    seconds: round(elapsed / 1000),
    peakRssGrowthMiB: round((peak - before) / MiB),
    rssBeforeMiB: round(before / MiB),
    rssAfterMiB: round(after / MiB),
  };
}

async function measureCopy(
  warmUp: string,
  source: string,
  target: string,
  size: number,
): Promise<Result> {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--copy", warmUp, source, target],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  await Deno.remove(target);
  if (code !== 0) throw new Error(`stream copy exited with ${code}`);
  const copied = JSON.parse(new TextDecoder().decode(stdout));
  if (copied.size !== size) throw new Error(`stream copy wrote ${copied.size} bytes of ${size}`);
  return resultOf(size, copied.elapsed, copied.rssBefore, copied.peak, copied.rssAfter);
}

async function measureServer(
  role: "kiln" | "tus",
  source: string,
  directory: string,
  size: number,
  chunkSize: number,
): Promise<Result> {
  await Deno.mkdir(directory, { recursive: true });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--serve", role, directory],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await reader.read();
    const { port } = JSON.parse(value!.split("\n")[0]);
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
    const endpoint = `http://127.0.0.1:${port}/files`;
    // Warm up (JIT, buffers) with a small upload, so growth is what the big one adds.
    await uploadFile(new Blob([new Uint8Array(16 * MiB)]), { endpoint, chunkSize, resume: false });
    Deno.writeTextFileSync(`/proc/${child.pid}/clear_refs`, "5");
    const rssBefore = procStatus(child.pid, "VmRSS");
    const blob = await openAsBlob(source);
    const started = performance.now();
    const result = await uploadFile(blob, { endpoint, chunkSize, resume: false });
    const elapsed = performance.now() - started;
    const peak = procStatus(child.pid, "VmHWM");
    const rssAfter = procStatus(child.pid, "VmRSS");
    let storedBytes = 0;
    for await (const entry of Deno.readDir(directory)) {
      if (entry.isFile) {
        storedBytes = Math.max(storedBytes, (await Deno.stat(`${directory}/${entry.name}`)).size);
      }
    }
    if (result.size !== size || storedBytes !== size) {
      throw new Error(`${role}: stored ${storedBytes} bytes of ${size}`);
    }
    return resultOf(size, elapsed, rssBefore, peak, rssAfter);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(directory, { recursive: true });
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** The round with the median speed, and every round's figures. */
function median(rounds: Result[]): Result & { rounds: Result[] } {
  const sorted = [...rounds].sort((a, b) => a.mbPerSecond - b.mbPerSecond);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)], rounds };
}

async function main(): Promise<void> {
  const size = argument("size-mib", 1024) * MiB;
  const chunkSize = argument("chunk-mib", 8) * MiB;
  const roundCount = argument("rounds", 3);
  const root = await Deno.makeTempDir({ prefix: "kiln-bench-upload-" });
  try {
    const source = `${root}/source.bin`;
    await writeSource(source, size);
    const warmUp = `${root}/warm-up.bin`;
    await writeSource(warmUp, 16 * MiB);
    const rounds = { copy: [] as Result[], kiln: [] as Result[], tus: [] as Result[] };
    for (let round = 0; round < roundCount; round++) {
      rounds.copy.push(await measureCopy(warmUp, source, `${root}/copy.bin`, size));
      rounds.kiln.push(await measureServer("kiln", source, `${root}/kiln`, size, chunkSize));
      rounds.tus.push(await measureServer("tus", source, `${root}/tus`, size, chunkSize));
    }
    const copy = median(rounds.copy);
    const kiln = median(rounds.kiln);
    const tus = median(rounds.tus);
    console.log(JSON.stringify(
      {
        benchmark: "upload",
        runtime: `deno ${Deno.version.deno}`,
        bytes: size,
        chunkBytes: chunkSize,
        rounds: roundCount,
        client: "@kiln/core uploadFile() of a Blob over fetch, loopback, in the parent process",
        memory: "per process: VmHWM after clear_refs minus VmRSS before the measured transfer",
        streamCopy: { what: "Deno.open(source).readable.pipeTo(target.writable)", ...copy },
        kiln: { ...kiln, ofStreamCopy: round(kiln.mbPerSecond / copy.mbPerSecond * 100) / 100 },
        tusServer: { package: "@tus/server + @tus/file-store", ...tus },
        targets: {
          atLeast90PercentOfStreamCopy: kiln.mbPerSecond >= 0.9 * copy.mbPerSecond,
          atLeastTusServer: kiln.mbPerSecond >= tus.mbPerSecond,
          rssGrowthUnder32MiB: kiln.rounds.every((one) => one.peakRssGrowthMiB < 32),
        },
      },
      null,
      2,
    ));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}
