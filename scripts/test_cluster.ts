/**
 * `deno task test:cluster`: Kiln on a real 3-master Redis Cluster behind the gateway's
 * `--cluster` mode.
 *
 * It runs the cluster suite (`tests/cluster/*_cluster.ts`: the harness, routing, failover,
 * resharding and SDK compatibility tests) and, unchanged, the suites that prove each module
 * works on a cluster: the queue conformance suite and operating calls, the realtime
 * fan-out, the scheduler's Redis tests (one-server runs included), the upload state in
 * Redis and the Redis locks. For those, an import-map scope swaps
 * `tests/support/redis_stack.ts` for `tests/cluster/_cluster_stack.ts`, which has the same
 * API with a cluster behind the gateway: the tests and their assertions stay the ones the
 * single server passes.
 *
 * The cluster files are named `*_cluster.ts`, not `*_test.ts`, so `deno task test` does
 * not pick them up: they need several redis-server processes and take longer.
 *
 * Usage: `deno task test:cluster [test files]`; with none, everything above runs.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const CLUSTER_STACK = new URL("tests/cluster/_cluster_stack.ts", root).href;
const SINGLE_STACK = new URL("tests/support/redis_stack.ts", root).href;

/** The module suites that run unchanged, each with the cluster stack in place of the single one. */
const MODULE_SUITES = [
  "tests/queue/redis_backend_test.ts",
  "tests/queue/operate_redis_test.ts",
  "tests/queue/partitions_redis_test.ts",
  "tests/realtime/redis_fanout_test.ts",
  "tests/scheduler/redis_test.ts",
  "tests/upload/redis_state_test.ts",
  "tests/redis/lock_test.ts",
];

async function clusterSuite(): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL("tests/cluster/", root))) {
    if (entry.isFile && entry.name.endsWith("_cluster.ts")) {
      files.push(`tests/cluster/${entry.name}`);
    }
  }
  return files.sort();
}

/** deno.json's imports, plus a scope per module suite directory that swaps the stack. */
async function importMap(): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
    imports: Record<string, string>;
  };
  const scopes: Record<string, Record<string, string>> = {};
  for (const suite of MODULE_SUITES) {
    const directory = new URL(".", new URL(suite, root)).href;
    scopes[directory] = { [SINGLE_STACK]: CLUSTER_STACK };
  }
  const path = await Deno.makeTempFile({ prefix: "kiln-cluster-map-", suffix: ".json" });
  await Deno.writeTextFile(path, JSON.stringify({ imports: config.imports, scopes }));
  return path;
}

const targets = Deno.args.length > 0 ? Deno.args : [...(await clusterSuite()), ...MODULE_SUITES];
const map = await importMap();
let code: number;
try {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--import-map", map, ...targets],
    cwd: root,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  code = (await child.status).code;
} finally {
  await Deno.remove(map);
}
Deno.exit(code);
