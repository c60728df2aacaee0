/**
 * Benchmarks Kiln's realtime hub on Node (the npm build: `Hub` + `realtime()`
 * on `@hono/node-server` and `@hono/node-ws`) beside a bare `ws` server sending
 * the same bytes (the ceiling) and Socket.IO rooms, and the same hub behind
 * `pusher()` with pusher-js clients (`pusher`) and with bare `ws` clients
 * reading Pusher frames (`pusher-frames`: the server's share without
 * pusher-js's), and prints one JSON document. Kiln's protocol is measured with
 * bare `ws` clients (`kiln`, the peer of `pusher-frames`) and with Kiln's own
 * client library, `RealtimeClient` over `ws` (`kiln-client`, the peer of
 * pusher-js): client library beside client library, bare socket beside bare socket.
 * `pusher-js-ws` is pusher-js's Worker build (the browsers' code path, on the
 * platform's WebSocket) given `ws`, to tell pusher-js's own cost from its Node
 * build's bundled WebSocket (faye-websocket).
 *
 * Measured for each server, in one run: fan-out of one broadcast to 1,000 and
 * 5,000 clients (time until the last client has it, p50/p99 over repeats),
 * burst throughput (broadcasts back to back to 100 subscribers), and
 * upgrades per second with HS256 JWT verification (jose in all three).
 *
 * Deno orchestrates: it installs a small npm workspace under `.tmp/bench-realtime/`
 * (the bench's own dependencies, plus npm/ as `@kiln/core`; none of them become
 * the package's), then runs each server (`_realtime/server.mjs`) and its clients
 * (`_realtime/clients.mjs`) as two Node processes, one server at a time.
 *
 * ```sh
 * deno task build:npm   # or pass --build
 * deno run -A bench/realtime.ts [--repeats 30] [--build] [--kinds kiln,pusher-frames] [--sizes 1000]
 * deno run -A bench/realtime.ts --kinds pusher --sizes 5000 --profile .tmp/profiles
 * ```
 *
 * `--profile <dir>` profiles the clients' process (V8's CPU profiler, through
 * `node:inspector`) during the fan-out repeats only, and writes
 * `<kind>-<size>.cpuprofile` there: open it in Chrome's DevTools, or sum it by
 * library with `deno run -A bench/_realtime/profile_summary.ts <dir>/*.cpuprofile`.
 *
 * `--kinds` and `--sizes` narrow a run; comparisons whose servers were not run
 * are left out. `--rounds N` runs the servers N times, alternating, and reports
 * each round's comparisons and their medians: on a shared machine one round's
 * ratio can be off by several times either way.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    repeats: { type: "string", default: "30" },
    build: { type: "boolean", default: false },
    kinds: { type: "string" },
    sizes: { type: "string", default: "1000,5000" },
    rounds: { type: "string", default: "1" },
    profile: { type: "string" },
  },
});

const ROOT = join(import.meta.dirname!, "..");
const WORKSPACE = join(ROOT, ".tmp", "bench-realtime");
const SCRIPTS = join(import.meta.dirname!, "_realtime");
const ALL_KINDS = [
  "ws",
  "kiln",
  "kiln-client",
  "pusher",
  "pusher-js-ws",
  "pusher-frames",
  "socketio",
] as const;
type Kind = typeof ALL_KINDS[number];
const KINDS: readonly Kind[] = values.kinds
  ? values.kinds.split(",").map((name) => {
    if (!(ALL_KINDS as readonly string[]).includes(name)) {
      throw new TypeError(`--kinds takes ${ALL_KINDS.join(", ")}; got ${name}`);
    }
    return name as Kind;
  })
  : ALL_KINDS;

const OPTIONS = {
  sizes: values.sizes.split(",").map(Number),
  repeats: Number(values.repeats),
  warmup: 3,
  concurrency: 50,
  burstClients: 100,
  burstMessages: 2000,
};

/** What `_realtime/clients.mjs` prints. */
interface ClientReport {
  upgrades: { connections: number; seconds: number; perSecond: number };
  fanout: Record<string, { p50Ms: number; p99Ms: number; minMs: number; serverSendP50Ms: number }>;
  throughput: { broadcastsPerSecond: number; deliveriesPerSecond: number };
}

async function run(command: string, args: string[], cwd: string): Promise<void> {
  const { success, stderr } = await new Deno.Command(command, {
    args,
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`${command} ${args.join(" ")} failed:\n${new TextDecoder().decode(stderr)}`);
  }
}

/** The bench's own npm project: its dependencies stay out of the package's. */
async function prepareWorkspace(): Promise<void> {
  if (values.build) await run(Deno.execPath(), ["task", "build:npm"], ROOT);
  try {
    await Deno.stat(join(ROOT, "npm", "package.json"));
  } catch {
    throw new Error("npm/ is missing: run `deno task build:npm` first, or pass --build");
  }
  await Deno.mkdir(WORKSPACE, { recursive: true });
  await Deno.writeTextFile(
    join(WORKSPACE, "package.json"),
    JSON.stringify(
      {
        name: "kiln-bench-realtime",
        private: true,
        type: "module",
        dependencies: {
          "@hono/node-server": "^1.19.11",
          "@hono/node-ws": "^1.3.1",
          jose: "^6.2.18",
          "socket.io": "^4.8.1",
          "socket.io-client": "^4.8.1",
          "pusher-js": "8.6.0",
          ws: "^8.18.3",
        },
      },
      null,
      2,
    ),
  );
  // npm keeps a folder dependency of the same version: drop it so the fresh build is copied.
  await Deno.remove(join(WORKSPACE, "node_modules", "@kiln", "core"), { recursive: true })
    .catch(() => {});
  await run("npm", [
    "install",
    "--no-save",
    "--install-links",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    join(ROOT, "npm"),
  ], WORKSPACE);
  for (const name of ["server.mjs", "clients.mjs"]) {
    await Deno.copyFile(join(SCRIPTS, name), join(WORKSPACE, name));
  }
}

/** Reads lines from a stream until one matches. */
async function readLine(stream: ReadableStream<Uint8Array>, prefix: string): Promise<string> {
  const reader = stream.pipeThrough(
    new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>,
  ).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server exited before printing "${prefix}"`);
    buffered += value;
    const line = buffered.split("\n").find((item) => item.startsWith(prefix));
    if (line) {
      reader.releaseLock();
      return line;
    }
  }
}

/** The kinds that are another client of one server. */
const SERVER_OF: Partial<Record<Kind, Kind>> = {
  "pusher-frames": "pusher",
  "pusher-js-ws": "pusher",
  "kiln-client": "kiln",
};

async function measure(kind: Kind): Promise<ClientReport> {
  const server = new Deno.Command("node", {
    // pusher-frames and kiln-client measure the pusher and kiln servers with other clients.
    args: ["server.mjs", SERVER_OF[kind] ?? kind],
    cwd: WORKSPACE,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const [, port, controlPort] = (await readLine(server.stdout, "ready ")).split(" ");
    const clients = await new Deno.Command("node", {
      args: ["clients.mjs", kind, port, controlPort, JSON.stringify(OPTIONS)],
      env: values.profile ? { KILN_BENCH_PROFILE: join(resolve(values.profile), kind) } : {},
      cwd: WORKSPACE,
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!clients.success) throw new Error(`the ${kind} clients failed`);
    return JSON.parse(new TextDecoder().decode(clients.stdout).trim().split("\n").at(-1)!);
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await server.stdout.cancel().catch(() => {});
  }
}

const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

async function main(): Promise<void> {
  await prepareWorkspace();
  const rounds: { results: Partial<Record<Kind, ClientReport>>; comparisons: Comparisons }[] = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    const results: Partial<Record<Kind, ClientReport>> = {};
    for (const kind of KINDS) {
      console.error(`bench/realtime: round ${round}, ${kind}`);
      results[kind] = await measure(kind);
    }
    rounds.push({ results, comparisons: compareAll(results) });
  }
  const comparisons: Comparisons = {};
  for (const name of Object.keys(rounds[0].comparisons)) {
    const sorted = rounds.map((round) => round.comparisons[name]).sort((a, b) => a - b);
    const middle = sorted.length / 2;
    comparisons[name] = Number.isInteger(middle)
      ? ratio(sorted[middle - 1] + sorted[middle], 2)
      : sorted[Math.floor(middle)];
  }
  const all = (name: string, within: (value: number) => boolean) => {
    const values = OPTIONS.sizes.map((size) => comparisons[name.replace("#", String(size))]);
    return values.includes(undefined as unknown as number) ? null : values.every(within);
  };
  const targets = {
    fanoutWithin125xOfWs: all("fanout#P50VsWs", (value) => value <= 1.25),
    fanoutBelowSocketIO: all("fanout#P50VsSocketIO", (value) => value < 1),
    throughputAtLeastSocketIO: comparisons.throughputVsSocketIO === undefined
      ? null
      : comparisons.throughputVsSocketIO >= 1,
    pusherFanoutWithin11xOfKiln: all("pusherFanout#P50VsKiln", (value) => value <= 1.1),
    // Client library to client library: pusher-js beside Kiln's own RealtimeClient.
    pusherJsWithin11xOfKilnClient: all("pusherFanout#P50VsKilnClient", (value) => value <= 1.1),
  };
  const node = new TextDecoder().decode(
    (await new Deno.Command("node", { args: ["--version"], stdout: "piped" }).output()).stdout,
  ).trim();
  console.log(JSON.stringify(
    {
      benchmark: "realtime",
      runtime: `node ${node}`,
      cpus: navigator.hardwareConcurrency,
      options: OPTIONS,
      results: rounds.at(-1)!.results,
      // Medians over the rounds; each round's own below when there were several.
      comparisons,
      targets,
      ...(rounds.length > 1 ? { rounds: rounds.map((round) => round.comparisons) } : {}),
    },
    null,
    2,
  ));
}

type Comparisons = Record<string, number>;

/** One round's ratios between the servers that ran. */
function compareAll(results: Partial<Record<Kind, ClientReport>>): Comparisons {
  const comparisons: Record<string, number> = {};
  /** `a` over `b` for each size, when both servers ran. */
  const compare = (
    name: string,
    a: Kind,
    b: Kind,
    field: "p50Ms" | "serverSendP50Ms" = "p50Ms",
  ) => {
    if (!results[a] || !results[b]) return;
    for (const size of OPTIONS.sizes) {
      comparisons[name.replace("#", String(size))] = ratio(
        results[a].fanout[size][field],
        results[b].fanout[size][field],
      );
    }
  };
  compare("pusherFanout#P50VsKiln", "pusher", "kiln");
  compare("pusherFanout#P50VsKilnClient", "pusher", "kiln-client");
  compare("kilnClientFanout#P50VsKiln", "kiln-client", "kiln");
  // pusher-js without its Node transport (faye-websocket): its Worker build on `ws`.
  compare("pusherJsWsFanout#P50VsKilnClient", "pusher-js-ws", "kiln-client");
  compare("pusherFanout#P50VsPusherJsWs", "pusher", "pusher-js-ws");
  compare("pusherFramesFanout#P50VsKiln", "pusher-frames", "kiln");
  // The server's own send loop, whatever the clients do with the frames.
  compare("pusherServerSend#P50VsKiln", "pusher-frames", "kiln", "serverSendP50Ms");
  compare("fanout#P50VsWs", "kiln", "ws");
  compare("fanout#P50VsSocketIO", "kiln", "socketio");
  const { kiln, socketio } = results;
  if (kiln && socketio) {
    comparisons.throughputVsSocketIO = ratio(
      kiln.throughput.broadcastsPerSecond,
      socketio.throughput.broadcastsPerSecond,
    );
    comparisons.upgradesVsSocketIO = ratio(kiln.upgrades.perSecond, socketio.upgrades.perSecond);
  }
  return comparisons;
}

if (import.meta.main) {
  if (values.profile) await Deno.mkdir(values.profile, { recursive: true });
  // Keep the workspace out of the repository's own node_modules resolution.
  await Deno.mkdir(dirname(WORKSPACE), { recursive: true });
  await main();
}
