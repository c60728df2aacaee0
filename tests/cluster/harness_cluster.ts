/**
 * The cluster harness itself, checked with node-redis's cluster client (a client nobody
 * here wrote): three masters cover every slot, keys land on the master that serves their
 * slot, a plain connection to the wrong master is redirected with MOVED, and with
 * replicas a killed master's replica takes over its slots without losing the data.
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
    // A killed node's socket errors; the client re-reads the slot map on its own.
  });
  await client.connect();
  return Object.assign(client, { [Symbol.asyncDispose]: () => client.close() });
}

Deno.test("three masters cover every slot between them", async () => {
  await using cluster = await startRedisCluster();
  assert.equal((await cluster.masters()).length, 3);
  const owners = new Set<number>();
  for (const slot of [0, 5_000, 10_000, 16_383]) owners.add((await cluster.nodeForSlot(slot)).port);
  assert.equal(owners.size, 3, "the slots are spread over the three masters");
});

Deno.test("keys land on the master serving their slot, and another master answers MOVED", async () => {
  await using cluster = await startRedisCluster();
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
    const other = cluster.nodes.find((n) => n.port !== owner.port && n.running)!;
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
});

Deno.test("with replicas, killing a master promotes its replica and keeps its keys", async () => {
  await using cluster = await startRedisCluster({ replicas: 1 });
  assert.equal(cluster.nodes.length, 6);
  await using client = await clusterClient(cluster.seedUrls);
  await client.set("kiln:{a}:survivor", "kept");
  await client.sendCommand("kiln:{a}:survivor", false, ["WAIT", "1", "2000"]);
  const victim = await cluster.nodeForSlot(15_495);
  await cluster.kill(victim);
  await cluster.waitUntilHealthy();
  const promoted = await cluster.nodeForSlot(15_495);
  assert.notEqual(promoted.port, victim.port, "a replica now serves the killed master's slots");
  const direct = createClient({ url: promoted.url });
  await direct.connect();
  try {
    assert.equal(await direct.get("kiln:{a}:survivor"), "kept");
  } finally {
    direct.destroy();
  }
  await cluster.restart(victim);
  assert.equal((await cluster.masters()).length, 3, "the old master came back as a replica");
});
