/**
 * A stand-in for `tests/support/redis_stack.ts` with a real 3-master Redis Cluster behind
 * the gateway (`--cluster`, every node a `--redis` seed) instead of one redis-server.
 *
 * `deno task test:cluster` maps `../support/redis_stack.ts` to this file for the queue,
 * realtime and scheduler suites (an import-map scope, see `scripts/test_cluster.ts`), so
 * those suites run unchanged against the cluster: the same API, the same assertions.
 * `stopRedis()` kills every node and `startRedis()` brings them back empty, as the single
 * server's restart does.
 *
 * @module
 */

import type { Redis } from "@upstash/redis";
import {
  createRedisClient,
  findFreePort,
  launchGateway,
  type RedisStack,
  type RedisStackOptions,
  type RunningGateway,
  stopProcess,
} from "../support/redis_stack.ts";
import {
  type RedisCluster,
  type RedisClusterOptions,
  startRedisCluster,
} from "../support/redis_cluster.ts";

export { createRedisClient, findFreePort, type RedisStack, type RedisStackOptions };

const GATEWAY_SCRIPT = new URL("../../scripts/redis_http.ts", import.meta.url).pathname;
const STARTUP_TIMEOUT_MS = 15_000;

/** The gateway in cluster mode, every node of `cluster` a seed. */
function launchClusterGateway(
  cluster: RedisCluster,
  port: number,
  token: string,
  allow: string[],
): Promise<RunningGateway> {
  const args = ["run", "-A", GATEWAY_SCRIPT, "--port", `${port}`, "--token", token, "--cluster"];
  for (const url of cluster.seedUrls) args.push("--redis", url);
  if (allow.length > 0) args.push("--allow", allow.join(","));
  return launchGateway(args);
}

async function stopGateway(gateway: RunningGateway, signal: Deno.Signal): Promise<void> {
  await stopProcess(gateway.process, signal);
  await gateway.drained;
}

/** A {@linkcode RedisStack} whose Redis is a cluster, with the cluster at hand. */
export interface ClusterStack extends RedisStack {
  readonly cluster: RedisCluster;
}

/**
 * Starts a 3-master cluster and the gateway in front of it, with the same API as the
 * single-server {@linkcode RedisStack}.
 *
 * @param options only `allow` applies; the others would change the gateway under test, so
 *   they are refused rather than ignored
 * @returns the running stack; close it with `await using`
 * @throws {TypeError} for an option this stand-in cannot honour
 */
export function startRedisStack(options: RedisStackOptions = {}): Promise<RedisStack> {
  const unsupported = Object.keys(options).filter((name) => name !== "allow");
  if (unsupported.length > 0) {
    throw new TypeError(`The cluster stack does not support ${unsupported.join(", ")}`);
  }
  return startClusterStack({ allow: options.allow });
}

/**
 * Starts a cluster (with `replicas: 1`, one replica per master) and the gateway in front.
 *
 * @param options `allow` as for the single stack; the rest as for {@linkcode startRedisCluster}
 * @returns the stack with its cluster
 */
export async function startClusterStack(
  options: { allow?: string[] } & RedisClusterOptions = {},
): Promise<ClusterStack> {
  const { allow = ["FLUSHDB", "SCRIPT|FLUSH"], ...clusterOptions } = options;
  const token = crypto.randomUUID();
  const cluster = await startRedisCluster(clusterOptions);
  let gateway: RunningGateway;
  try {
    gateway = await launchClusterGateway(cluster, 0, token, allow);
  } catch (error) {
    await cluster.close();
    throw error;
  }
  const gatewayUrl = gateway.url;
  const gatewayPort = Number(new URL(gatewayUrl).port);
  const seed = cluster.nodes[0];

  let closing: Promise<void> | undefined;
  const stack: ClusterStack = {
    cluster,
    redis: createRedisClient(gatewayUrl, token),
    gatewayUrl,
    token,
    redisUrl: seed.url,
    redisPort: seed.port,
    get gatewayProcess() {
      return gateway.process;
    },
    newRedis: (): Redis => createRedisClient(gatewayUrl, token),
    async stopRedis() {
      await Promise.all(cluster.nodes.map((node) => cluster.kill(node)));
    },
    startRedis: () => cluster.restart(...cluster.nodes),
    stopGateway: (signal: Deno.Signal = "SIGKILL") => stopGateway(gateway, signal),
    async startGateway() {
      if (!gateway.exited) return;
      // The old process is gone, but its port may take a moment to be free again.
      const deadline = Date.now() + STARTUP_TIMEOUT_MS;
      for (;;) {
        try {
          gateway = await launchClusterGateway(cluster, gatewayPort, token, allow);
          return;
        } catch (error) {
          if (Date.now() >= deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    },
    close() {
      closing ??= (async () => {
        await stopGateway(gateway, "SIGTERM");
        await cluster.close();
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return stack.close();
    },
  };
  return stack;
}
