/**
 * Benchmark: a 1 GiB upload in 8 MiB chunks into object storage, against
 * Cloudflare's R2 simulator (miniflare 4 running workerd) in one run:
 *
 * - `plain-multipart`: aws4fetch alone, a multipart upload of 8 MiB parts to
 *   the simulator's S3 API (the limit for this endpoint);
 * - `kiln-s3store`: Kiln's tus server with `S3Store` on that same S3 API, in
 *   its own Deno process, sent 8 MiB PATCHes;
 * - `kiln-r2store-workerd`: the Workers example (`R2Store` on `env.BUCKET`,
 *   the tus router, its records and the realtime hub in a Durable Object)
 *   inside workerd, sent the same PATCHes with a JWT.
 *
 * The bytes come from a seeded generator in each sender (no disk). Memory:
 * the Deno processes' peak RSS growth is VmHWM (reset through clear_refs
 * after a warm-up) minus RSS before the measured upload; for workerd, which
 * also holds the simulator, its RSS after minus before.
 *
 * The machine may be shared, so the three run `--rounds` times, interleaved,
 * and the median round of each is reported beside every round.
 *
 * `--chunk-mib` is the tus PATCH size; parts (the plain upload's and the
 * stores') are always 8 MiB, the Workers example's default, so a chunk of
 * several parts shows the stores sending one part while the next arrives.
 *
 * Usage: deno run -A bench/upload_object.ts [--size-mib 1024] [--chunk-mib 8] [--rounds 3]
 * Prints one JSON object.
 */
import { AwsClient } from "aws4fetch";
import { Hono } from "hono";
import { SignJWT } from "jose";
import { uploads } from "../src/upload/mod.ts";
import { S3Store } from "../src/upload/s3/mod.ts";
import { startR2Simulator } from "../tests/upload/_r2_simulator.ts";

const MiB = 1024 * 1024;
/** Every part's size: the plain upload's, S3Store's and (by default) the Workers example's. */
const PART = 8 * MiB;

function argument(name: string, fallback: number): number {
  const index = Deno.args.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(Deno.args[index + 1]);
}

/** Chunk `index` of the source: the same bytes in every process. */
function chunkOf(index: number, size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  const words = new Uint32Array(bytes.buffer, 0, size >>> 2);
  let x = (index + 1) * 2654435761;
  for (let i = 0; i < words.length; i++) words[i] = x = (x ^ (x << 13) ^ (x >>> 17)) >>> 0;
  return bytes;
}

function procStatus(pid: number | "self", field: "VmRSS" | "VmHWM"): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)![1]) * 1024;
}

interface Credentials {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

if (Deno.args[0] === "--serve") {
  // The server subprocess: prints its port, then serves until killed.
  const credentials: Credentials = JSON.parse(Deno.args[1]);
  const store = new S3Store({ ...credentials, partSize: PART });
  const app = new Hono().route("/files", uploads({ store, maxSize: 8 * 1024 * MiB }));
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(JSON.stringify({ port })),
  }, app.fetch);
} else {
  await main();
}

/** Sends `size` bytes as tus PATCHes of `chunk` bytes to a new upload at `endpoint`. */
async function tusUpload(
  endpoint: string,
  size: number,
  chunk: number,
  headers: Record<string, string> = {},
): Promise<void> {
  const tus = { "Tus-Resumable": "1.0.0", ...headers };
  const created = await fetch(endpoint, {
    method: "POST",
    headers: { ...tus, "Upload-Length": String(size) },
  });
  if (created.status !== 201) throw new Error(`POST answered ${created.status}`);
  const url = new URL(created.headers.get("Location")!, endpoint);
  for (let offset = 0, index = 0; offset < size; offset += chunk, index++) {
    const response = await fetch(url, {
      method: "PATCH",
      headers: {
        ...tus,
        "Upload-Offset": String(offset),
        "Content-Type": "application/offset+octet-stream",
      },
      body: chunkOf(index, Math.min(chunk, size - offset)),
    });
    await response.body?.cancel();
    if (response.status !== 204) throw new Error(`PATCH at ${offset} answered ${response.status}`);
  }
}

/** aws4fetch alone: one multipart upload of `chunk`-byte parts. */
async function plainMultipart(credentials: Credentials, size: number, chunk: number) {
  const client = new AwsClient({ ...credentials, service: "s3", region: "auto", retries: 0 });
  const url = `${credentials.endpoint}plain-${crypto.randomUUID()}`;
  const created = await client.fetch(`${url}?uploads`, { method: "POST" });
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(await created.text())![1];
  const parts: string[] = [];
  for (let offset = 0, index = 0; offset < size; offset += chunk, index++) {
    const query = `?partNumber=${index + 1}&uploadId=${encodeURIComponent(uploadId)}`;
    const response = await client.fetch(url + query, {
      method: "PUT",
      body: chunkOf(index, Math.min(chunk, size - offset)),
    });
    if (!response.ok) throw new Error(`UploadPart answered ${response.status}`);
    parts.push(
      `<Part><PartNumber>${index + 1}</PartNumber><ETag>${
        response.headers.get("ETag")!.replaceAll('"', "&quot;")
      }</ETag></Part>`,
    );
  }
  const completed = await client.fetch(`${url}?uploadId=${encodeURIComponent(uploadId)}`, {
    method: "POST",
    body: `<CompleteMultipartUpload>${parts.join("")}</CompleteMultipartUpload>`,
  });
  if (!completed.ok) throw new Error(`Complete answered ${completed.status}`);
}

/** The workerd process miniflare started (a child of this process). */
function workerdPid(): number {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === Deno.pid && stat.includes("(workerd)")) return Number(entry.name);
    } catch {
      // A process that ended while we looked.
    }
  }
  throw new Error("workerd not found");
}

async function timed(work: () => Promise<void>, size: number) {
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  return { seconds: round1(seconds), mbPerSecond: round1(size / MiB / seconds) };
}

/** One interleaved round of the three contenders. */
interface Round {
  "plain-multipart": { seconds: number; mbPerSecond: number };
  "kiln-s3store": {
    seconds: number;
    mbPerSecond: number;
    ofPlain: number;
    serverPeakRssGrowthMiB: number;
  };
  "kiln-r2store-workerd": {
    seconds: number;
    mbPerSecond: number;
    ofPlain: number;
    workerdRssGrowthMiB: number;
  };
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

async function main(): Promise<void> {
  const size = argument("size-mib", 1024) * MiB;
  const chunk = argument("chunk-mib", 8) * MiB;
  const persist = await Deno.makeTempDir({ prefix: "kiln-bench-r2-" });
  const script = await bundleWorker();
  const secret = crypto.randomUUID();
  await using bucket = await startR2Simulator({
    script,
    persist,
    extra: {
      durableObjects: { UPLOADS: "UploadsObject" },
      durableObjectsPersist: persist,
      bindings: { JWT_SECRET: secret },
    },
  });
  const token = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("bench")
    .setExpirationTime("2h").sign(new TextEncoder().encode(secret));
  const signedIn = { Authorization: `Bearer ${token}` };
  const credentials: Credentials = {
    endpoint: bucket.s3Endpoint,
    accessKeyId: bucket.accessKeyId,
    secretAccessKey: bucket.secretAccessKey,
  };
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--serve", JSON.stringify(credentials)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const { port } = JSON.parse((await reader.read()).value!);
    const endpoint = `http://127.0.0.1:${port}/files`;
    const workerd = workerdPid();
    const workerEndpoint = new URL("/files", bucket.origin).href;
    await tusUpload(endpoint, 2 * chunk, chunk); // warm-up
    await tusUpload(workerEndpoint, 2 * chunk, chunk, signedIn); // warm-up
    const rounds: Round[] = [];
    // Interleaved rounds: on a shared machine, load that comes and goes hits every contender.
    for (let round = 0; round < argument("rounds", 3); round++) {
      const plain = await timed(() => plainMultipart(credentials, size, PART), size);
      Deno.writeTextFileSync(`/proc/${server.pid}/clear_refs`, "5");
      const before = procStatus(server.pid, "VmRSS");
      const kiln = await timed(() => tusUpload(endpoint, size, chunk), size);
      const peakGrowth = procStatus(server.pid, "VmHWM") - before;
      const workerdBefore = procStatus(workerd, "VmRSS");
      const r2 = await timed(() => tusUpload(workerEndpoint, size, chunk, signedIn), size);
      const workerdGrowth = procStatus(workerd, "VmRSS") - workerdBefore;
      rounds.push({
        "plain-multipart": plain,
        "kiln-s3store": {
          ...kiln,
          ofPlain: Math.round((kiln.mbPerSecond / plain.mbPerSecond) * 100) / 100,
          serverPeakRssGrowthMiB: round1(peakGrowth / MiB),
        },
        "kiln-r2store-workerd": {
          ...r2,
          ofPlain: Math.round((r2.mbPerSecond / plain.mbPerSecond) * 100) / 100,
          workerdRssGrowthMiB: round1(workerdGrowth / MiB),
        },
      });
    }
    const median = (key: keyof Round) =>
      rounds.map((r) => r[key]).sort((x, y) => x.mbPerSecond - y.mbPerSecond)[
        Math.floor(rounds.length / 2)
      ];
    const ratios = (key: "kiln-s3store" | "kiln-r2store-workerd") =>
      rounds.map((r) => r[key].ofPlain).sort((x, y) => x - y);
    console.log(JSON.stringify(
      {
        benchmark: "upload into object storage (R2 simulator, miniflare 4 / workerd)",
        sizeMiB: size / MiB,
        chunkMiB: chunk / MiB,
        partMiB: PART / MiB,
        loadAverage: Deno.loadavg(),
        median: {
          "plain-multipart": median("plain-multipart"),
          "kiln-s3store": median("kiln-s3store"),
          "kiln-r2store-workerd": median("kiln-r2store-workerd"),
        },
        medianOfPlain: {
          "kiln-s3store": ratios("kiln-s3store")[Math.floor(rounds.length / 2)],
          "kiln-r2store-workerd": ratios("kiln-r2store-workerd")[Math.floor(rounds.length / 2)],
        },
        rounds,
      },
      null,
      2,
    ));
  } finally {
    server.kill();
    await server.status;
    await reader.cancel();
    await Deno.remove(persist, { recursive: true });
  }
}

/** Bundles the Workers example as wrangler would. */
async function bundleWorker(): Promise<string> {
  const output = await Deno.makeTempFile({ suffix: ".js" });
  try {
    const example = new URL("../examples/workers-uploads/worker.ts", import.meta.url);
    const { success } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "-o", output, example.pathname],
    }).output();
    if (!success) throw new Error("deno bundle failed");
    return await Deno.readTextFile(output);
  } finally {
    await Deno.remove(output);
  }
}
