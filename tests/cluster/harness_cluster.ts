/**
 * The cluster harness itself, checked with node-redis's cluster client (a client nobody
 * here wrote): three masters cover every slot, keys land on the master that serves their
 * slot, and a plain connection to the wrong master is redirected with MOVED. Failover with
 * replicas is checked where the gateway meets it (failover_cluster.ts), which asserts the
 * promotion itself before any request goes through the gateway.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createClient, createCluster } from "redis";
import { startRedisCluster } from "../support/redis_cluster.ts";

/** A node-redis cluster client seeded with every node, closed with `await using`. */
async function clusterClient(seedUrls: string[]) {
  const client = createCluster({
    rootNodes: seedUrls.map((url) => ({ url, socket: { reconnectStrategy: false } })),
  });
  client.on("error", () => {
    // A failed command rejects its own promise; nothing else to do.
  });
  await client.connect();
  return Object.assign(client, { [Symbol.asyncDispose]: () => client.close() });
}

Deno.test("the harness's three masters cover every slot, and keys land on the master of their slot", async (t) => {
  await using cluster = await startRedisCluster();

  await t.step("three masters cover every slot between them", async () => {
    assert.equal((await cluster.masters()).length, 3);
    const owners = new Set<number>();
    for (const slot of [0, 5_000, 10_000, 16_383]) {
      owners.add((await cluster.nodeForSlot(slot)).port);
    }
    assert.equal(owners.size, 3, "the slots are spread over the three masters");
  });

  await t.step(
    "keys land on the master serving their slot, another master answers MOVED",
    async () => {
      await using client = await clusterClient(cluster.seedUrls);
      // Slots of "{a}", "{b}", "{c}" (CRC16 mod 16384): 15495, 3300, 7365.
      const slots: Record<string, number> = { a: 15_495, b: 3_300, c: 7_365 };
      for (const [tag, slot] of Object.entries(slots)) {
        const key = `kiln:{${tag}}:k`;
        await client.set(key, tag);
        const owner = await cluster.nodeForSlot(slot);
        const direct = createClient({ url: owner.url });
        await direct.connect();
        try {
          assert.equal(await direct.sendCommand(["CLUSTER", "KEYSLOT", key]), slot);
          assert.equal(await direct.get(key), tag, `${key} lives on port ${owner.port}`);
        } finally {
          direct.destroy();
        }
        const other = cluster.nodes.find((n) => n.port !== owner.port)!;
        const wrong = createClient({ url: other.url });
        await wrong.connect();
        try {
          await assert.rejects(
            wrong.get(key),
            new RegExp(`MOVED ${slot} 127\\.0\\.0\\.1:${owner.port}`),
          );
        } finally {
          wrong.destroy();
        }
      }
    },
  );
});
