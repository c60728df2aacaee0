/**
 * Measurement, not a timed benchmark: how much memory slow clients cost a tus
 * server. N clients each open a PATCH, send 16 bytes, then trickle one byte a
 * second, as a slowloris would. Each server (Kiln, then @tus/server with
 * @tus/file-store) runs in its own process; its RSS is read after a warm-up
 * upload and again once every client trickles, beside its high-water mark
 * (VmHWM, reset through /proc/<pid>/clear_refs before the clients connect).
 *
 * Usage: deno run -A bench/upload_trickle.ts [--clients 100] [--rounds 5] [--max-patches 64]
 * Prints one JSON object.
 */
import { Hono } from "hono";
import { MemoryStore, uploads } from "../src/upload/mod.ts";

const MiB = 1024 * 1024;

function argument(name: string, fallback: number): number {
  const index = Deno.args.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(Deno.args[index + 1]);
}

if (Deno.args[0] === "--serve") await serveRole(Deno.args[1], Deno.args[2]);
else await main();

async function main(): Promise<void> {
  const clients = argument("clients", 100);
  const rounds = argument("rounds", 5);
  const maxPatches = argument("max-patches", 64);
  const kiln = await measure("kiln", clients, rounds, maxPatches);
  const tusServer = await measure("tus", clients, rounds, maxPatches);
  console.log(JSON.stringify(
    {
      benchmark: "upload_trickle",
      clients,
      secondsTrickling: rounds,
      kiln: { maxConcurrentPatches: maxPatches, ...kiln },
      tusServer: { package: "@tus/server + @tus/file-store", ...tusServer },
    },
    null,
    2,
  ));
}

/** The server subprocess: prints its port, then a line each time an upload gets its first bytes. */
async function serveRole(role: string, directory: string): Promise<void> {
  const seen = new Set<string>();
  const started = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    console.log(JSON.stringify({ started: seen.size }));
  };
  let handler: (request: Request) => Response | Promise<Response>;
  if (role === "kiln") {
    handler = new Hono().route(
      "/files",
      uploads({
        store: new MemoryStore(),
        maxSize: 1 << 30,
        maxConcurrentPatches: argument("max-patches", 64),
        progressInterval: 0,
        onProgress: ({ id }) => started(id),
      }),
    ).fetch;
  } else {
    const { Server } = await import("@tus/server");
    const { FileStore } = await import("@tus/file-store");
    const datastore = new FileStore({ directory });
    // Told when a PATCH body starts streaming into the store (its progress events are throttled).
    const write = datastore.write.bind(datastore);
    datastore.write = (stream, id, offset) => {
      started(id);
      return write(stream, id, offset);
    };
    const server = new Server({ path: "/files", datastore });
    handler = (request) => server.handleWeb(request);
  }
  await new Promise(() => {
    Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => console.log(JSON.stringify({ port })),
    }, handler);
  });
}

function procStatus(pid: number, field: "VmRSS" | "VmHWM"): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)![1]) * 1024;
}

/** One server process with `clients` trickling PATCHes: its memory before and after. */
async function measure(role: "kiln" | "tus", clients: number, rounds: number, maxPatches: number) {
  const directory = await Deno.makeTempDir({ prefix: "kiln-trickle-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--serve",
      role,
      directory,
      "--max-patches",
      String(maxPatches),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const nextLine = async (): Promise<Record<string, number>> => {
    while (!pending.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`The ${role} server exited`);
      pending += value;
    }
    const line = pending.slice(0, pending.indexOf("\n"));
    pending = pending.slice(pending.indexOf("\n") + 1);
    return JSON.parse(line);
  };
  const conns: Deno.Conn[] = [];
  try {
    const { port } = await nextLine();
    const endpoint = `http://127.0.0.1:${port}/files`;
    const create = async () => {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { "Tus-Resumable": "1.0.0", "Upload-Length": String(MiB) },
      });
      await response.body?.cancel();
      return new URL(response.headers.get("Location")!, endpoint).pathname;
    };
    // Warm up with one whole upload, so the JIT and the server's buffers are in place.
    const warm = await fetch(new URL(await create(), endpoint), {
      method: "PATCH",
      headers: {
        "Tus-Resumable": "1.0.0",
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0",
      },
      body: new Uint8Array(MiB),
    });
    await warm.body?.cancel();
    await nextLine();
    const paths = await Promise.all(Array.from({ length: clients }, create));
    Deno.writeTextFileSync(`/proc/${child.pid}/clear_refs`, "5");
    const rssBefore = procStatus(child.pid, "VmRSS");

    const encoder = new TextEncoder();
    for (const path of paths) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(conn);
      await conn.write(encoder.encode(
        `PATCH ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n` +
          `Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n` +
          `Content-Length: ${MiB}\r\n\r\n`,
      ));
      await conn.write(new Uint8Array(16));
    }
    // Refused clients are answered at once; a script, not a test, so 2 s of silence means "read".
    const refused = (await Promise.all(conns.map((conn) => {
      const buffer = new Uint8Array(64);
      const answered = conn.read(buffer).then((n) =>
        n !== null && /^HTTP\/1\.1 503/.test(new TextDecoder().decode(buffer.subarray(0, n)))
      ).catch(() => false);
      const silent = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2_000));
      return Promise.race([answered, silent]);
    }))).filter(Boolean).length;
    let started = 1;
    while (started < 1 + clients - refused) started = (await nextLine()).started;

    for (let round = 0; round < rounds; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      for (const conn of conns) await conn.write(new Uint8Array(1)).catch(() => 0);
    }
    const rssAfter = procStatus(child.pid, "VmRSS");
    const peak = procStatus(child.pid, "VmHWM");
    const round = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;
    return {
      trickling: clients - refused,
      refused503: refused,
      rssBeforeMiB: round(rssBefore),
      rssAfterMiB: round(rssAfter),
      growthMiB: round(rssAfter - rssBefore),
      peakGrowthMiB: round(peak - rssBefore),
    };
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Already closed by the server.
      }
    }
    child.kill("SIGTERM");
    await child.status;
    await lines.cancel().catch(() => {});
    await Deno.remove(directory, { recursive: true });
  }
}
