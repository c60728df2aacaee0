/**
 * Benchmark: a 1 GiB upload in 8 MiB chunks over loopback into Kiln's tus
 * server with FileStore, beside a plain stream copy of the same file (the
 * limit) and @tus/server with @tus/file-store, all on Deno, all driven by
 * Kiln's client, in one run. Each server runs in its own subprocess so its
 * RSS is its own; peak growth is the kernel's high-water mark (VmHWM, reset
 * through /proc/<pid>/clear_refs) minus the RSS just before the upload.
 *
 * Usage: deno run -A bench/upload.ts [--size-mib 1024] [--chunk-mib 8]
 * Prints one JSON object. Writes only below a temp directory it removes.
 */
import { openAsBlob } from "node:fs";
import { Hono } from "hono";
import { upload, uploads } from "../src/upload/mod.ts";
import { FileStore } from "../src/upload/file_store.ts";

const MiB = 1024 * 1024;

function argument(name: string, fallback: number): number {
  const index = Deno.args.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(Deno.args[index + 1]);
}

if (Deno.args[0] === "--serve") {
  await serveRole(Deno.args[1], Deno.args[2]);
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

function procStatus(pid: number, field: "VmRSS" | "VmHWM"): number {
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

async function streamCopy(source: string, target: string): Promise<number> {
  const started = performance.now();
  const input = await Deno.open(source);
  const output = await Deno.open(target, { write: true, create: true, truncate: true });
  await input.readable.pipeTo(output.writable);
  return performance.now() - started;
}

interface ServerResult {
  mbPerSecond: number;
  seconds: number;
  peakRssGrowthMiB: number;
  rssBeforeMiB: number;
  storedBytes: number;
}

async function measureServer(
  role: "kiln" | "tus",
  source: string,
  directory: string,
  size: number,
  chunkSize: number,
): Promise<ServerResult> {
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
    await upload(new Blob([new Uint8Array(16 * MiB)]), { endpoint, chunkSize, resume: false });
    Deno.writeTextFileSync(`/proc/${child.pid}/clear_refs`, "5");
    const rssBefore = procStatus(child.pid, "VmRSS");
    const blob = await openAsBlob(source);
    const started = performance.now();
    const result = await upload(blob, { endpoint, chunkSize, resume: false });
    const elapsed = performance.now() - started;
    const peak = procStatus(child.pid, "VmHWM");
    let storedBytes = 0;
    for await (const entry of Deno.readDir(directory)) {
      if (entry.isFile) {
        storedBytes = Math.max(storedBytes, (await Deno.stat(`${directory}/${entry.name}`)).size);
      }
    }
    if (result.size !== size || storedBytes !== size) {
      throw new Error(`${role}: stored ${storedBytes} bytes of ${size}`);
    }
    return {
      mbPerSecond: round(size / 1e6 / (elapsed / 1000)),
      seconds: round(elapsed / 1000),
      peakRssGrowthMiB: round((peak - rssBefore) / MiB),
      rssBeforeMiB: round(rssBefore / MiB),
      storedBytes,
    };
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(directory, { recursive: true });
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

async function main(): Promise<void> {
  const size = argument("size-mib", 1024) * MiB;
  const chunkSize = argument("chunk-mib", 8) * MiB;
  const root = await Deno.makeTempDir({ prefix: "kiln-bench-upload-" });
  try {
    const source = `${root}/source.bin`;
    await writeSource(source, size);
    const copyMs = await streamCopy(source, `${root}/copy.bin`);
    await Deno.remove(`${root}/copy.bin`);
    const kiln = await measureServer("kiln", source, `${root}/kiln`, size, chunkSize);
    const tus = await measureServer("tus", source, `${root}/tus`, size, chunkSize);
    const streamCopyMbPerSecond = round(size / 1e6 / (copyMs / 1000));
    console.log(JSON.stringify(
      {
        benchmark: "upload",
        runtime: `deno ${Deno.version.deno}`,
        bytes: size,
        chunkBytes: chunkSize,
        client: "@kiln/core upload() over fetch, loopback",
        streamCopy: { mbPerSecond: streamCopyMbPerSecond, seconds: round(copyMs / 1000) },
        kiln: {
          ...kiln,
          ofStreamCopy: round(kiln.mbPerSecond / streamCopyMbPerSecond * 100) / 100,
        },
        tusServer: { package: "@tus/server + @tus/file-store", ...tus },
        targets: {
          atLeast90PercentOfStreamCopy: kiln.mbPerSecond >= 0.9 * streamCopyMbPerSecond,
          atLeastTusServer: kiln.mbPerSecond >= tus.mbPerSecond,
          rssGrowthUnder32MiB: kiln.peakRssGrowthMiB < 32,
        },
      },
      null,
      2,
    ));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}
