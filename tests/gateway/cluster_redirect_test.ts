/**
 * In `--cluster` mode the gateway follows the cluster's redirections: a slot that moved
 * after the gateway read the slot table answers MOVED and the command is resent to the new
 * master; a slot being migrated answers ASK and the command goes to the importing master
 * after ASKING. Run against a real 3-master Redis Cluster; the slots are moved by hand
 * with CLUSTER SETSLOT, as `redis-cli --cluster reshard` does. A SCAN whose pattern fixes
 * no hash tag walks every master. A killed master costs only the commands it serves.
 */

import assert from "node:assert/strict";
import { createClient } from "redis";
import { slotOfKey } from "../../scripts/_gateway/cluster_slot_map.ts";
import { startGateway } from "../../scripts/redis_http.ts";
import { type ClusterNode, startRedisCluster } from "../support/redis_cluster.ts";

type NodeClient = ReturnType<typeof createClient>;

/** A key whose slot is served by `owner`, other than the ones in `taken`. */
async function keyServedBy(
  nodeForSlot: (slot: number) => Promise<ClusterNode>,
  owner: ClusterNode,
  taken: Set<number>,
): Promise<{ key: string; slot: number }> {
  for (let i = 0;; i++) {
    const key = `redirect:{${i}}`;
    const slot = slotOfKey(key);
    if (!taken.has(slot) && (await nodeForSlot(slot)).port === owner.port) return { key, slot };
  }
}

Deno.test("the clustered gateway follows MOVED and ASK, SCAN walks every master, and a dead master fails only its own commands", async () => {
  await using cluster = await startRedisCluster();
  const token = "redirect-token";
  await using gateway = await startGateway({
    port: 0,
    redisUrl: cluster.seedUrls,
    cluster: true,
    token,
  });
  const call = async (body: unknown, path = "/") => {
    const response = await fetch(gateway.url + path, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };
  const [a, b, c] = await cluster.masters();
  const clients = new Map<number, NodeClient>();
  for (const node of cluster.nodes) {
    const client = createClient({ url: node.url, socket: { reconnectStrategy: false } });
    client.on("error", () => {}); // the master this test kills drops its client
    await client.connect();
    clients.set(node.port, client);
  }
  try {
    const id = async (node: ClusterNode) =>
      String(await clients.get(node.port)!.sendCommand(["CLUSTER", "MYID"]));
    const [idA, idB] = [await id(a), await id(b)];
    const taken = new Set<number>();
    const moved = await keyServedBy((s) => cluster.nodeForSlot(s), a, taken);
    taken.add(moved.slot);
    const asked = await keyServedBy((s) => cluster.nodeForSlot(s), a, taken);
    // The gateway reads the slot table now, before anything moves.
    assert.deepEqual((await call(["SET", "warm", "1"])).body, { result: "OK" });

    // MOVED: the (empty) slot now belongs to B; every master is told, as reshard does.
    for (const node of cluster.nodes) {
      await clients.get(node.port)!.sendCommand([
        "CLUSTER",
        "SETSLOT",
        String(moved.slot),
        "NODE",
        idB,
      ]);
    }
    assert.deepEqual((await call(["SET", moved.key, "moved"])).body, { result: "OK" });
    assert.equal(await clients.get(b.port)!.get(moved.key), "moved");
    const piped = await call([["GET", moved.key], ["SET", `${moved.key}:2`, "x"]], "/pipeline");
    assert.deepEqual(piped.body, [{ result: "moved" }, { result: "OK" }]);

    // ASK: A is migrating the slot to B, and the key is not on A any more.
    await clients.get(b.port)!.sendCommand([
      "CLUSTER",
      "SETSLOT",
      String(asked.slot),
      "IMPORTING",
      idA,
    ]);
    await clients.get(a.port)!.sendCommand([
      "CLUSTER",
      "SETSLOT",
      String(asked.slot),
      "MIGRATING",
      idB,
    ]);
    assert.deepEqual((await call(["SET", asked.key, "asked"])).body, { result: "OK" });
    assert.equal(
      await clients.get(b.port)!.sendCommand(["CLUSTER", "COUNTKEYSINSLOT", String(asked.slot)]),
      1,
      "the key was written on the importing master",
    );
    assert.deepEqual((await call(["GET", asked.key])).body, { result: "asked" });
    // A transaction in the migrating slot runs on the importing master (after ASKING,
    // which holds for the whole MULTI). Several keys there would get Redis's TRYAGAIN
    // until the migration ends, as Redis answers any multi-key command mid-migration.
    const counter = `${asked.key}:n`;
    const tx = await call([["INCR", counter], ["INCRBY", counter, 41]], "/multi-exec");
    assert.deepEqual(tx, { status: 200, body: [{ result: 1 }, { result: 42 }] });
    assert.equal(
      await clients.get(b.port)!.sendCommand(["CLUSTER", "COUNTKEYSINSLOT", String(asked.slot)]),
      2,
    );

    // SCAN without a hash tag in its pattern visits every master, one after the other.
    const keys = Array.from({ length: 30 }, (_, i) => `scan:${i}`);
    await call(keys.map((key) => ["SET", key, "1"]), "/pipeline");
    const holders = await Promise.all(
      [a, b].map((node) => clients.get(node.port)!.sendCommand(["KEYS", "scan:*"])),
    );
    assert.ok(
      holders.every((held) => (held as unknown as string[]).length > 0),
      "keys on several masters",
    );
    const seen: string[] = [];
    let cursor = "0";
    do {
      const reply = await call(["SCAN", cursor, "MATCH", "scan:*", "COUNT", 5]);
      const [next, found] = reply.body.result as [string, string[]];
      seen.push(...found);
      cursor = next;
    } while (cursor !== "0");
    assert.deepEqual([...new Set(seen)].sort(), [...keys].sort());

    // A master that dies: a pipeline keeps the other masters' results and gets an error in
    // place of each of its commands; a command for it alone is a 503.
    const onC = await keyServedBy((s) => cluster.nodeForSlot(s), c, taken);
    await call(["SET", onC.key, "c"]);
    await cluster.kill(c);
    const partial = await call([["GET", moved.key], ["GET", onC.key]], "/pipeline");
    assert.equal(partial.status, 200);
    const [kept, lost] = partial.body as Array<{ result?: string; error?: string }>;
    assert.deepEqual(kept, { result: "moved" });
    assert.match(lost.error!, /^ERR Redis is unreachable/);
    assert.equal((await call(["GET", onC.key])).status, 503);
  } finally {
    for (const client of clients.values()) if (client.isOpen) client.destroy();
  }
});
