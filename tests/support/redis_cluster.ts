/**
 * Test harness: a real Redis Cluster of three masters (and, on request, one replica each)
 * as private `redis-server --cluster-enabled yes` subprocesses on free ports, joined with
 * `redis-cli --cluster create`, so cluster tests run against the real slot routing,
 * MOVED/ASK redirections and failover that a managed cluster has.
 *
 * Each node keeps its `nodes.conf` in a temporary directory, so a node killed and
 * restarted comes back with the same identity and slots. Nothing is persisted to disk
 * beyond that file: a restarted master is empty unless a replica took over its slots.
 *
 * @example Start a cluster and talk to it with node-redis
 * ```ts ignore
 * import { createCluster } from "redis";
 * import { startRedisCluster } from "../support/redis_cluster.ts";
 *
 * await using cluster = await startRedisCluster();
 * const client = createCluster({ rootNodes: cluster.seedUrls.map((url) => ({ url })) });
 * await client.connect();
 * await client.set("k", "v");
 * await client.close();
 * ```
 *
 * @module
 */

import { findFreePort, spawnRedisServer, stopProcess } from "./redis_stack.ts";

/** Options for {@linkcode startRedisCluster}; all optional. */
export interface RedisClusterOptions {
  /**
   * Replicas per master: 0 (three processes) or 1 (six; a killed master's replica is
   * promoted after `nodeTimeout`).
   * @default {0}
   */
  replicas?: 0 | 1;
  /**
   * `cluster-node-timeout`: how long a node may be unreachable before it is failed.
   * @default {1000}
   */
  nodeTimeout?: number;
  /**
   * `cluster-require-full-coverage`: with `false`, the masters still serve their own slots
   * while another master's slots have no master (Redis's default is `true`: all refuse).
   * @default {true}
   */
  requireFullCoverage?: boolean;
}

/** One redis-server of the cluster. */
export interface ClusterNode {
  /** Its client port on 127.0.0.1. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Whether its process is running (false between {@linkcode RedisCluster.kill} and restart). */
  readonly running: boolean;
}

/** A running cluster, owned by one test or suite. */
export interface RedisCluster extends AsyncDisposable {
  /** Every node, in start order: the first three were created as masters. */
  readonly nodes: readonly ClusterNode[];
  /** The URLs of every node, to pass as seeds (`--redis` flags, node-redis `rootNodes`). */
  readonly seedUrls: string[];
  /** @returns the nodes that are masters now (after a failover the roles differ from start) */
  masters(): Promise<ClusterNode[]>;
  /** @returns the node serving `slot` now */
  nodeForSlot(slot: number): Promise<ClusterNode>;
  /** Kills a node's process with SIGKILL, as a crash would. */
  kill(node: ClusterNode): Promise<void>;
  /**
   * Starts killed nodes again on their ports with their `nodes.conf` (empty of data), and
   * waits until the cluster is healthy again. Running nodes are left alone.
   */
  restart(...nodes: ClusterNode[]): Promise<void>;
  /**
   * Waits until every running node says `cluster_state:ok` and agrees on who serves
   * every slot.
   *
   * @throws {Error} when that does not happen within the startup timeout
   */
  waitUntilHealthy(): Promise<void>;
  /** Stops every node and removes the temporary directory. */
  close(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;
const SLOTS = 16_384;

function redisCliMissing(): Error {
  return new Error(
    "redis-server and redis-cli were not found on PATH. Kiln's cluster tests need both: " +
      "run `apt-get install -y redis-server` as root",
  );
}

/** Runs `redis-cli` with `args` and returns its stdout, or throws with its stderr. */
async function redisCli(args: string[]): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("redis-cli", { args, stdin: "null" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw redisCliMissing();
    throw error;
  }
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `redis-cli ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return text;
}

/** Asks one node a command; an unreachable node answers `undefined`. */
async function ask(port: number, ...command: string[]): Promise<string | undefined> {
  try {
    const reply = await redisCli(["-h", "127.0.0.1", "-p", `${port}`, ...command]);
    return reply.startsWith("Could not connect") ? undefined : reply;
  } catch {
    return undefined;
  }
}

/** A run of slots and the port of the master serving it. */
interface SlotRange {
  readonly from: number;
  readonly to: number;
  readonly port: number;
}

/** @returns one node's view of which master serves which slots, or `undefined` if it is down */
async function slotRanges(port: number): Promise<SlotRange[] | undefined> {
  // redis-cli 7.0 has no --json; CLUSTER NODES is one line per node:
  // "<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges…>".
  const nodes = await ask(port, "CLUSTER", "NODES");
  if (nodes === undefined) return undefined;
  const ranges: SlotRange[] = [];
  for (const line of nodes.trim().split("\n")) {
    const fields = line.split(" ");
    const flags = fields[2] ?? "";
    if (!flags.includes("master") || flags.includes("fail")) continue;
    const ownerPort = Number(fields[1].split("@")[0].split(":")[1]);
    for (const range of fields.slice(8)) {
      if (range.startsWith("[")) continue; // a slot being migrated
      const [from, to = from] = range.split("-").map(Number);
      ranges.push({ from, to, port: ownerPort });
    }
  }
  return ranges.sort((a, b) => a.from - b.from);
}

/** @returns whether sorted `ranges` cover slots 0 to 16383 without a gap */
function coversEverySlot(ranges: readonly SlotRange[]): boolean {
  let next = 0;
  for (const { from, to } of ranges) {
    if (from !== next) return false;
    next = to + 1;
  }
  return next === SLOTS;
}

interface NodeProcess {
  readonly port: number;
  readonly busPort: number;
  child?: Deno.ChildProcess;
}

/** The settings every node of one cluster starts with. */
interface NodeSettings {
  readonly dir: string;
  readonly nodeTimeout: number;
  readonly requireFullCoverage: boolean;
}

function spawnNode(node: NodeProcess, settings: NodeSettings): Deno.ChildProcess {
  const { dir, nodeTimeout, requireFullCoverage } = settings;
  return spawnRedisServer(node.port, dir, [
    // The bus port defaults to port + 10000, which can pass 65535 for an ephemeral
    // port, so it gets a free port of its own.
    "--cluster-port",
    `${node.busPort}`,
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    `nodes-${node.port}.conf`,
    "--cluster-node-timeout",
    `${nodeTimeout}`,
    "--cluster-require-full-coverage",
    requireFullCoverage ? "yes" : "no",
    // Redis 7.0 waits 5 s before a diskless sync to batch replicas; a replica that has
    // never synced refuses to fail over, so sync at once.
    "--repl-diskless-sync-delay",
    "0",
  ]);
}

async function waitFor(what: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!(await ready())) {
    if (Date.now() > deadline) {
      throw new Error(`Redis Cluster: ${what} within ${STARTUP_TIMEOUT_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function startNode(node: NodeProcess, settings: NodeSettings): Promise<void> {
  const child = spawnNode(node, settings);
  node.child = child;
  let exited = false;
  child.status.then(() => (exited = true));
  await waitFor(`node ${node.port} did not answer PING`, async () => {
    if (exited) throw new Error(`redis-server on port ${node.port} exited at start`);
    return (await ask(node.port, "PING"))?.trim() === "PONG";
  });
}

async function stopNode(node: NodeProcess, signal: Deno.Signal): Promise<void> {
  const child = node.child;
  if (child === undefined) return;
  node.child = undefined;
  await stopProcess(child, signal);
}

/**
 * Starts three masters (and one replica each with `replicas: 1`) on free ports and joins
 * them into one cluster covering every slot.
 *
 * @param options replicas and node timeout
 * @returns the running cluster; close it with `await using` or {@linkcode RedisCluster.close}
 * @throws {Error} when redis-server or redis-cli is missing, or the cluster does not form
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const replicas = options.replicas ?? 0;
  const dir = await Deno.makeTempDir({ prefix: "kiln-cluster-" });
  const settings: NodeSettings = {
    dir,
    nodeTimeout: options.nodeTimeout ?? 1_000,
    requireFullCoverage: options.requireFullCoverage ?? true,
  };
  const processes: NodeProcess[] = [];
  const used = new Set<number>();
  const freePort = (): number => {
    for (;;) {
      const port = findFreePort();
      if (!used.has(port)) {
        used.add(port);
        return port;
      }
    }
  };
  for (let i = 0; i < 3 * (1 + replicas); i++) {
    processes.push({ port: freePort(), busPort: freePort() });
  }

  const nodeOf = (p: NodeProcess): ClusterNode => ({
    port: p.port,
    url: `redis://127.0.0.1:${p.port}`,
    get running() {
      return p.child !== undefined;
    },
  });
  const nodes = processes.map(nodeOf);
  const processOf = (node: ClusterNode): NodeProcess => {
    const found = processes.find((p) => p.port === node.port);
    if (found === undefined) throw new RangeError(`No node of this cluster has port ${node.port}`);
    return found;
  };

  const waitUntilHealthy = () =>
    waitFor("did not reach cluster_state:ok on every node", async () => {
      let agreed: string | undefined;
      const running = new Set(processes.filter((p) => p.child !== undefined).map((p) => p.port));
      for (const p of processes) {
        if (p.child === undefined) continue;
        const info = await ask(p.port, "CLUSTER", "INFO");
        if (!info?.includes("cluster_state:ok")) return false;
        const replication = await ask(p.port, "INFO", "REPLICATION");
        if (replication?.includes("role:slave") && !replication.includes("master_link_status:up")) {
          return false;
        }
        const ranges = await slotRanges(p.port);
        if (ranges === undefined || !coversEverySlot(ranges)) return false;
        // Until node-timeout passes, the others still list a killed master as serving.
        if (ranges.some(({ port }) => !running.has(port))) return false;
        const view = JSON.stringify(ranges);
        if (agreed !== undefined && view !== agreed) return false;
        agreed = view;
      }
      return true;
    });

  const close = async () => {
    await Promise.all(processes.map((p) => stopNode(p, "SIGKILL")));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  try {
    await Promise.all(processes.map((p) => startNode(p, settings)));
    await redisCli([
      "--cluster",
      "create",
      ...processes.map((p) => `127.0.0.1:${p.port}`),
      "--cluster-replicas",
      `${replicas}`,
      "--cluster-yes",
    ]);
    await waitUntilHealthy();
  } catch (error) {
    await close();
    throw error;
  }

  const nodeForPort = (port: number): ClusterNode => {
    const node = nodes.find((n) => n.port === port);
    if (node === undefined) throw new Error(`Slot served by unknown port ${port}`);
    return node;
  };
  const currentRanges = async (): Promise<SlotRange[]> => {
    for (const p of processes) {
      if (p.child === undefined) continue;
      const ranges = await slotRanges(p.port);
      if (ranges !== undefined) return ranges;
    }
    throw new Error("No node of the cluster answers");
  };

  let closing: Promise<void> | undefined;
  const cluster: RedisCluster = {
    nodes,
    seedUrls: nodes.map((n) => n.url),
    async masters() {
      const ports = new Set((await currentRanges()).map((range) => range.port));
      return nodes.filter((n) => ports.has(n.port));
    },
    async nodeForSlot(slot) {
      const range = (await currentRanges()).find(({ from, to }) => from <= slot && slot <= to);
      if (range === undefined) throw new Error(`No master serves slot ${slot}`);
      return nodeForPort(range.port);
    },
    kill: (node) => stopNode(processOf(node), "SIGKILL"),
    async restart(...restarted) {
      const stopped = restarted.map(processOf).filter((p) => p.child === undefined);
      await Promise.all(stopped.map((p) => startNode(p, settings)));
      await waitUntilHealthy();
    },
    waitUntilHealthy,
    close() {
      closing ??= close();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return cluster.close();
    },
  };
  return cluster;
}
