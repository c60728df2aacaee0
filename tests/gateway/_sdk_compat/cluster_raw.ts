/**
 * The second path to a Redis Cluster: node-redis's cluster client, so a case's raw
 * read-back reaches the master that holds its key without going through the gateway.
 *
 * A command's keys are found the way Redis finds them (`COMMAND GETKEYS`), so any command
 * the cases send is routed by its first key. PUBLISH is routed by its channel, as the
 * gateway routes it: the cluster relays a message to every node by itself, but only one
 * path per channel keeps one publisher's messages in order. Of the other commands without
 * keys, SCRIPT and FUNCTION change state each node keeps for itself, so they go to every
 * master (as an operator loads a script everywhere) and the first master's reply is
 * returned; the rest (PUBSUB, TIME …) go to one node.
 *
 * @module
 */

import { createCluster } from "redis";
import type { RawConnection } from "./context.ts";

/** Keyless commands whose effect stays on the node that runs them. */
const PER_NODE = new Set(["SCRIPT", "FUNCTION"]);

/**
 * Connects node-redis's cluster client to the seeds.
 *
 * @param seedUrls `redis://host:port` of some or all nodes
 * @returns a {@linkcode RawConnection} whose commands reach the right master
 */
export async function connectClusterRaw(seedUrls: string[]): Promise<RawConnection> {
  const cluster = createCluster({ rootNodes: seedUrls.map((url) => ({ url })) });
  cluster.on("error", () => {
    // A failed command rejects its own promise; nothing else to do.
  });
  await cluster.connect();
  const keysOf = async (args: string[]): Promise<string[]> => {
    try {
      return (await cluster.sendCommand(undefined, true, [
        "COMMAND",
        "GETKEYS",
        ...args,
      ])) as string[];
    } catch {
      return []; // "The command has no key arguments"
    }
  };
  return {
    async command(...command) {
      const args = command.map(String);
      const [firstKey] = args[0].toUpperCase() === "PUBLISH" ? [args[1]] : await keysOf(args);
      if (firstKey !== undefined) return cluster.sendCommand(firstKey, false, args);
      if (!PER_NODE.has(args[0].toUpperCase())) return cluster.sendCommand(undefined, false, args);
      const replies = await Promise.all(
        cluster.masters.map(async (master) => (await cluster.nodeClient(master)).sendCommand(args)),
      );
      return replies[0];
    },
    async [Symbol.asyncDispose]() {
      await cluster.close();
    },
  };
}
