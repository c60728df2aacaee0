/**
 * Benchmarks the HTTP gateway (`scripts/redis_http.ts`) against talking to the same
 * redis-server over TCP with node-redis, the peer it is measured beside, so the cost of
 * the HTTP hop is visible in one run. It starts its own redis-server and gateway
 * (through the test harness) and prints one JSON document to stdout.
 *
 * ```sh
 * deno run -A bench/redis_http.ts [--seconds 2] [--latency-samples 2000] [--before <dir>]
 * ```
 *
 * `--before` (or `REDIS_HTTP_BEFORE`, for `deno task bench redis_http`) names a checkout
 * of an earlier build to run beside this one (see `beforeComparison`). It also measures
 * a subscriber's CPU per message over TCP and over the gateway's SSE stream, with and
 * without a gathering window (see `subscriberCpu`).
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { createClient } from "redis";
import { UpstashRedis } from "../src/redis/mod.ts";
import {
  createRedisClient,
  launchGateway,
  startRedisStack,
  stopProcess,
} from "../tests/support/redis_stack.ts";

type Op = () => Promise<unknown>;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "2" },
    "latency-samples": { type: "string", default: "2000" },
    before: { type: "string", default: Deno.env.get("REDIS_HTTP_BEFORE") },
  },
});
const SECONDS = Number(values.seconds);
const LATENCY_SAMPLES = Number(values["latency-samples"]);
const CONCURRENCY = [1, 16, 64];
const PIPELINE_SIZE = 100;
const PIPELINE_CONCURRENCY = 8;
const SUBSCRIBER_MESSAGES = 2_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function median(xs: number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 0.5);
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Runs `op` sequentially and reports latency percentiles in milliseconds. */
async function measureLatency(op: Op): Promise<{ p50: number; p99: number; mean: number }> {
  for (let i = 0; i < 300; i++) await op();
  const samples: number[] = new Array(LATENCY_SAMPLES);
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const start = performance.now();
    await op();
    samples[i] = performance.now() - start;
  }
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  samples.sort((a, b) => a - b);
  return {
    p50: round(percentile(samples, 0.5)),
    p99: round(percentile(samples, 0.99)),
    mean: round(mean),
  };
}

/** Runs `op` from `workers` concurrent loops for the configured time; returns ops/s. */
async function measureThroughput(op: Op, workers: number, opsPerCall = 1): Promise<number> {
  const warmUntil = performance.now() + 300;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (performance.now() < warmUntil) await op();
  }));
  let calls = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (performance.now() < end) {
      await op();
      calls++;
    }
  }));
  return Math.round((calls * opsPerCall) / ((performance.now() - start) / 1000));
}

await using stack = await startRedisStack();
const tcp = createClient({ url: stack.redisUrl });
await tcp.connect();
await tcp.set("bench:key", "x".repeat(64));

const authorization = `Bearer ${stack.token}`;
const getBody = JSON.stringify(["GET", "bench:key"]);
const fetchGet: Op = async () => {
  const response = await fetch(stack.gatewayUrl, {
    method: "POST",
    headers: { authorization, "content-type": "application/json" },
    body: getBody,
  });
  const { result } = await response.json();
  if (typeof result !== "string") throw new Error(`Unexpected reply ${result}`);
};
/**
 * A minimal HTTP/1.1 keep-alive client (one socket per worker, Content-Length only), to
 * show the gateway's own capacity apart from the cost of Deno's `fetch` in this process.
 */
async function openRawHttpClient(
  base: string,
  path: string,
  body: string,
): Promise<{ op: Op; close(): void }> {
  const { hostname, port } = new URL(base);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  conn.setNoDelay(true);
  const request = new TextEncoder().encode(
    `POST ${path} HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: ${authorization}\r\n` +
      `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
  );
  const buf = new Uint8Array(256 * 1024);
  const latin1 = new TextDecoder("latin1");
  const op: Op = async () => {
    await conn.write(request);
    let have = 0;
    while (true) {
      const n = await conn.read(buf.subarray(have));
      if (n === null) throw new Error("Gateway closed the connection");
      have += n;
      const head = latin1.decode(buf.subarray(0, Math.min(have, 1024)));
      const split = head.indexOf("\r\n\r\n");
      if (split < 0) continue;
      const length = Number(/content-length: (\d+)/i.exec(head)![1]);
      if (have >= split + 4 + length) {
        if (!head.startsWith("HTTP/1.1 200")) throw new Error(head.slice(0, 40));
        return;
      }
    }
  };
  return { op, close: () => conn.close() };
}

async function measureRawThroughput(workers: number): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: workers }, () => openRawHttpClient(stack.gatewayUrl, "/", getBody)),
  );
  // Each worker loop owns one socket, so requests on a socket never overlap.
  const rate = await measureThroughputPerWorker(clients.map((c) => c.op));
  for (const c of clients) c.close();
  return rate;
}

/** Like measureThroughput, but worker i runs ops[i]. */
async function measureThroughputPerWorker(ops: Op[]): Promise<number> {
  const warmUntil = performance.now() + 300;
  await Promise.all(ops.map(async (op) => {
    while (performance.now() < warmUntil) await op();
  }));
  let calls = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  await Promise.all(ops.map(async (op) => {
    while (performance.now() < end) {
      await op();
      calls++;
    }
  }));
  return Math.round(calls / ((performance.now() - start) / 1000));
}

/** Runs a program and returns its standard output, or null when it is not installed. */
async function runTool(command: string, args: string[]): Promise<string | null> {
  try {
    const output = await new Deno.Command(command, { args, stderr: "null" }).output();
    return output.success ? new TextDecoder().decode(output.stdout) : null;
  } catch {
    return null; // not installed
  }
}

/** GETs per second through the gateway from wrk, a C HTTP load generator, at `clients` connections. */
async function wrkThroughput(url: string, clients: number): Promise<number | null> {
  const script = await Deno.makeTempFile({ suffix: ".lua" });
  await Deno.writeTextFile(
    script,
    `wrk.method = "POST"\nwrk.body = '${getBody}'\n` +
      `wrk.headers["Authorization"] = "${authorization}"\n` +
      `wrk.headers["Content-Type"] = "application/json"\n`,
  );
  try {
    const out = await runTool("wrk", [
      "-t1",
      `-c${clients}`,
      `-d${SECONDS}s`,
      "-s",
      script,
      `${url}/`,
    ]);
    const match = out && /Requests\/sec:\s+([\d.]+)/.exec(out);
    return match ? Math.round(Number(match[1])) : null;
  } finally {
    await Deno.remove(script);
  }
}

/** GETs per second straight to redis-server from redis-benchmark at `clients` connections. */
async function redisBenchmarkThroughput(port: number, clients: number): Promise<number | null> {
  const out = await runTool("redis-benchmark", [
    "-p",
    String(port),
    "-c",
    String(clients),
    "-n",
    "200000",
    "-t",
    "get",
    "--csv",
  ]);
  const match = out && /"GET","([\d.]+)"/.exec(out);
  return match ? Math.round(Number(match[1])) : null;
}

const upstash = createRedisClient(stack.gatewayUrl, stack.token);
const upstashGet: Op = () => upstash.get("bench:key");
const tcpGet: Op = () => tcp.get("bench:key");

const pipelineBody = JSON.stringify(
  Array.from(
    { length: PIPELINE_SIZE },
    (_, i) => i % 2 === 0 ? ["SET", `bench:p${i}`, String(i)] : ["GET", `bench:p${i - 1}`],
  ),
);
const fetchPipeline: Op = async () => {
  const response = await fetch(`${stack.gatewayUrl}/pipeline`, {
    method: "POST",
    headers: { authorization, "content-type": "application/json" },
    body: pipelineBody,
  });
  const results = await response.json();
  if (results.length !== PIPELINE_SIZE) throw new Error("Short pipeline reply");
};
const tcpPipeline: Op = async () => {
  const multi = tcp.multi();
  for (let i = 0; i < PIPELINE_SIZE; i++) {
    if (i % 2 === 0) multi.set(`bench:p${i}`, String(i));
    else multi.get(`bench:p${i - 1}`);
  }
  const results = await multi.execAsPipeline();
  if (results.length !== PIPELINE_SIZE) throw new Error("Short pipeline reply");
};

const latency = {
  gateway_fetch: await measureLatency(fetchGet),
  gateway_upstash: await measureLatency(upstashGet),
  tcp_node_redis: await measureLatency(tcpGet),
};
const rawLatencyClient = await openRawHttpClient(stack.gatewayUrl, "/", getBody);
const rawLatency = await measureLatency(rawLatencyClient.op);
rawLatencyClient.close();
const throughput: Record<string, Record<string, number>> = {};
for (const workers of CONCURRENCY) {
  throughput[`clients_${workers}`] = {
    gateway_fetch: await measureThroughput(fetchGet, workers),
    gateway_raw_http1: await measureRawThroughput(workers),
    gateway_upstash: await measureThroughput(upstashGet, workers),
    tcp_node_redis: await measureThroughput(tcpGet, workers),
  };
}
const pipelined = {
  commands_per_request: PIPELINE_SIZE,
  clients: PIPELINE_CONCURRENCY,
  gateway_fetch: await measureThroughput(fetchPipeline, PIPELINE_CONCURRENCY, PIPELINE_SIZE),
  tcp_node_redis: await measureThroughput(tcpPipeline, PIPELINE_CONCURRENCY, PIPELINE_SIZE),
};
await tcp.quit();
const independent = {
  gateway_wrk: await wrkThroughput(stack.gatewayUrl, 64),
  tcp_redis_benchmark: await redisBenchmarkThroughput(stack.redisPort, 64),
};

/**
 * The gateway against an earlier build of itself (issue 11: its Redis side moved onto
 * node-redis, at most 10% slower at 64 connections allowed). `--before <dir>` names a
 * checkout of the earlier build, e.g. `git worktree add /tmp/gw_before <commit>`; both
 * run as subprocesses in front of the same Redis, under the same raw HTTP/1.1 load,
 * alternating, three rounds, and the medians are compared.
 */
async function beforeComparison(): Promise<Record<string, unknown> | null> {
  const dir = values.before;
  if (dir === undefined) return null;
  const scripts: Record<string, string> = {
    now: new URL("../scripts/redis_http.ts", import.meta.url).pathname,
    before: `${dir}/scripts/redis_http.ts`,
  };
  const rates: Record<string, number[]> = { now: [], before: [] };
  const p50: Record<string, number[]> = { now: [], before: [] };
  for (let round = 0; round < 3; round++) {
    for (const build of ["before", "now"]) {
      const gateway = await launchGateway([
        "run",
        "-A",
        scripts[build],
        "--port",
        "0",
        "--redis",
        stack.redisUrl,
        "--token",
        stack.token,
      ]);
      const one = await openRawHttpClient(gateway.url, "/", getBody);
      p50[build].push((await measureLatency(one.op)).p50);
      one.close();
      const clients = await Promise.all(
        Array.from({ length: 64 }, () => openRawHttpClient(gateway.url, "/", getBody)),
      );
      rates[build].push(await measureThroughputPerWorker(clients.map((c) => c.op)));
      for (const c of clients) c.close();
      await stopProcess(gateway.process, "SIGTERM");
    }
  }
  const now = median(rates.now);
  const before = median(rates.before);
  return {
    before: dir,
    clients: 64,
    rounds_commands_per_second: rates,
    rounds_p50_ms: p50,
    median_now: now,
    median_before: before,
    cost: round(1 - now / before),
    within_10_percent: now >= 0.9 * before,
  };
}
const redisClients = await beforeComparison();

/**
 * A subscriber's CPU per message (this process's, in µs) while another process publishes
 * `SUBSCRIBER_MESSAGES` messages of a queue's live-view size (50 changes), about two a
 * millisecond: node-redis subscribed over TCP (the peer), the gateway's SSE stream
 * through `UpstashRedis.subscribe`, and the same asking for a 10 ms gathering window
 * (`gatherMs`, what `queue.events()` asks for). Alternated three times; medians.
 */
async function subscriberCpu(): Promise<Record<string, number>> {
  const message = JSON.stringify({
    at: Date.now(),
    states: "ac".repeat(25),
    ids: Array.from({ length: 50 }, (_, i) => `m${String(i).padStart(8, "0")}-c2c6c079-9b37-41ad`),
  });
  // The publisher speaks RESP itself, so it needs no package and costs this process nothing.
  const publisher = `
    const conn = await Deno.connect({ port: ${stack.redisPort} });
    const enc = new TextEncoder(), buf = new Uint8Array(64), msg = ${JSON.stringify(message)};
    const cmd = enc.encode("*3\\r\\n$7\\r\\nPUBLISH\\r\\n$5\\r\\nbench\\r\\n$" + enc.encode(msg).length + "\\r\\n" + msg + "\\r\\n");
    for (let i = 0; i < ${SUBSCRIBER_MESSAGES}; i++) {
      await conn.write(cmd); await conn.read(buf);
      if (i % 2 === 1) await new Promise((r) => setTimeout(r, 1));
    }
    conn.close();`;
  const cpu = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  const rest = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  const subscribers: Record<string, (onMessage: () => void) => Promise<() => Promise<void>>> = {
    tcp_node_redis: async (onMessage) => {
      const client = tcp.duplicate();
      await client.connect();
      await client.subscribe("bench", onMessage);
      return async () => void await client.quit();
    },
    gateway_sse: async (onMessage) => {
      const subscription = await rest.subscribe("bench", { onMessage });
      return () => subscription.close();
    },
    gateway_sse_gather_10ms: async (onMessage) => {
      const subscription = await rest.subscribe("bench", { onMessage, gatherMs: 10 });
      return () => subscription.close();
    },
  };
  const samples: Record<string, number[]> = {};
  for (let round = 0; round < 3; round++) {
    for (const [name, subscribe] of Object.entries(subscribers)) {
      let heard = 0;
      const stop = await subscribe(() => heard++);
      const before = cpu();
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", publisher],
        stdout: "null",
        stderr: "inherit",
      }).spawn();
      const { code } = await child.status;
      if (code !== 0) throw new Error(`The publisher exited with code ${code}`);
      while (heard < SUBSCRIBER_MESSAGES) await new Promise((r) => setTimeout(r, 5));
      (samples[name] ??= []).push((cpu() - before) / SUBSCRIBER_MESSAGES);
      await stop();
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, round(median(xs), 1)]));
}
const subscriberCpuPerMessage = await subscriberCpu();

const overheadP50 = round(latency.gateway_fetch.p50 - latency.tcp_node_redis.p50);
const fetch64 = throughput.clients_64.gateway_fetch;
const raw64 = throughput.clients_64.gateway_raw_http1;
console.log(JSON.stringify(
  {
    bench: "redis_http",
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
    seconds_per_throughput_run: SECONDS,
    notes: "gateway_* go through the HTTP gateway (a subprocess) to the same redis-server " +
      "that tcp_node_redis reaches directly; gateway_raw_http1 is a minimal keep-alive " +
      "HTTP/1.1 client, which shows the gateway's capacity apart from fetch's client cost; " +
      "gateway_upstash uses @upstash/redis with its default auto-pipelining, which batches " +
      "concurrent calls into /pipeline requests. All processes share the machine's cores.",
    latency_ms: { ...latency, gateway_raw_http1: rawLatency },
    commands_per_second: throughput,
    pipelined_commands_per_second: pipelined,
    subscriber_cpu_microseconds_per_message: subscriberCpuPerMessage,
    // C load generators on both sides, so neither figure is capped by a JavaScript client.
    independent_load_generators_64_clients: independent,
    // This build beside an earlier one (--before), same route, same load, alternating.
    gateway_beside_before_64_clients: redisClients ??
      { note: "pass --before <checkout of an earlier build> to compare" },
    targets: {
      gateway_p50_overhead_ms: { measured: overheadP50, target: 0.3, met: overheadP50 <= 0.3 },
      gateway_commands_per_second_at_64_clients: {
        target: 30_000,
        fetch_client: { measured: fetch64, met: fetch64 >= 30_000 },
        raw_http1_client: { measured: raw64, met: raw64 >= 30_000 },
        wrk: independent.gateway_wrk === null
          ? { measured: null, note: "wrk not installed (apt-get install -y wrk)" }
          : { measured: independent.gateway_wrk, met: independent.gateway_wrk >= 30_000 },
      },
    },
  },
  null,
  2,
));
