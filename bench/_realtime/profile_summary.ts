/**
 * Sums V8 CPU profiles (`.cpuprofile`, as `bench/realtime.ts --profile`
 * writes them) by where the time went: each library of the clients' process,
 * pusher-js's bundle split into its own sources (`src/core/…`, from the
 * bundle's `;// ./src/…` markers) and the dependencies bundled before them
 * (faye-websocket and websocket-driver, its Node WebSocket), Node's internals,
 * the garbage collector. Prints one JSON document: self time per bucket in
 * milliseconds and as a share of the profile, largest first, and the top
 * functions.
 *
 * ```sh
 * deno run -A bench/_realtime/profile_summary.ts .tmp/profiles/pusher-5000.cpuprofile
 * ```
 *
 * @module
 */
import { fileURLToPath } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The `;// ./src/…` markers of a webpack bundle: each source file's first line. */
async function bundleSources(url: string): Promise<{ line: number; source: string }[]> {
  const text = await Deno.readTextFile(url.startsWith("file:") ? fileURLToPath(url) : url);
  const markers: { line: number; source: string }[] = [];
  text.split("\n").forEach((line, index) => {
    const match = /^;\/\/ \.\/(src\/\S+)/.exec(line);
    if (match) markers.push({ line: index, source: match[1] });
  });
  return markers;
}

const bundles = new Map<string, Promise<{ line: number; source: string }[]>>();

/** The bucket a frame's self time goes to. */
async function bucket(frame: CallFrame): Promise<string> {
  const { url, functionName } = frame;
  if (url === "") {
    if (functionName.startsWith("(")) return functionName; // (garbage collector), (program), (idle)
    return "V8 builtins";
  }
  if (url.includes("/pusher-js/")) {
    let markers = bundles.get(url);
    if (!markers) bundles.set(url, markers = bundleSources(url));
    const found = (await markers).findLast((marker) => marker.line <= frame.lineNumber);
    return found
      ? `pusher-js ${found.source}`
      : "pusher-js bundled dependencies (faye-websocket, websocket-driver)";
  }
  if (url.startsWith("node:")) {
    const module = url.slice(5).split("/").slice(0, 3).join("/");
    return `node ${module}`;
  }
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
  if (inModules) {
    return inModules[1] === "@kiln/core" ? `@kiln/core ${inModules[2]}` : inModules[1];
  }
  return url.split("/").at(-1)!;
}

async function summarize(path: string) {
  const profile: Profile = JSON.parse(await Deno.readTextFile(path));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, index) => {
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  const buckets = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)!.callFrame;
    const name = await bucket(frame);
    total += micros;
    buckets.set(name, (buckets.get(name) ?? 0) + micros);
    const fn = `${frame.functionName || "(anonymous)"} ${name}:${frame.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + micros);
  }
  const sorted = (map: Map<string, number>, limit: number) =>
    Object.fromEntries(
      [...map].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([name, micros]) => [
        name,
        { ms: Math.round(micros / 100) / 10, share: Math.round((micros / total) * 1000) / 1000 },
      ]),
    );
  return {
    profile: path,
    totalMs: Math.round(total / 1000),
    buckets: sorted(buckets, 40),
    topFunctions: sorted(functions, 25),
  };
}

if (import.meta.main) {
  const results = [];
  for (const path of Deno.args) results.push(await summarize(path));
  console.log(JSON.stringify(results, null, 2));
}
