/**
 * The `@upstash/redis` compatibility suite (tests/gateway/upstash_sdk_compat_test.ts) against
 * the gateway in front of a 3-master cluster, in every mode (the auto-pipelined one sends
 * pipelines the gateway splits per master), with node-redis's cluster client as the second
 * path. Each case's keys share one hash tag, so every case is
 * legal on a cluster; the methods whose answer is a whole-database view are listed below,
 * because a cluster has no single database to compare them with.
 *
 * @module
 */

import { connectClusterRaw } from "../gateway/_sdk_compat/cluster_raw.ts";
import { MODES } from "../gateway/_sdk_compat/modes.ts";
import { runMode } from "../gateway/_sdk_compat/run_mode.ts";
import { startClusterStack } from "./_cluster_stack.ts";

const PER_NODE = "a cluster answers this per node, so no single node's answer is the reference";

/** Cases whose reference answer is the whole database, which a cluster splits by node. */
const CLUSTER_LIMITS: Readonly<Record<string, string>> = {
  dbsize: PER_NODE,
  randomkey: PER_NODE,
};

Deno.test("@upstash/redis gets back what the cluster holds, for every method, through the clustered gateway", async (t) => {
  await using stack = await startClusterStack({ allow: [] });
  await using raw = await connectClusterRaw(stack.cluster.seedUrls);
  for (const mode of MODES) {
    await runMode(t, mode, {
      gatewayUrl: stack.gatewayUrl,
      token: stack.token,
      raw: raw.command,
      limits: CLUSTER_LIMITS,
    });
  }
});
