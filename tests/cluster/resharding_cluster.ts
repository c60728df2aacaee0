/**
 * A slot moved between masters while the gateway serves it, the way `redis-cli --cluster
 * reshard` moves it: during the move a key already migrated is answered with ASK (the
 * gateway must ask the target with ASKING, without remembering the target for the slot),
 * and once the slot is handed over, with MOVED (the gateway must re-read the slot map).
 *
 * @module
 */

import assert from "node:assert/strict";
import { createClient } from "redis";
import type { ClusterNode } from "../support/redis_cluster.ts";
import { startClusterStack } from "./_cluster_stack.ts";

/** The slot of hash tag `{a}`. */
const SLOT = 15_495;

/** A plain node-redis connection to one node, closed with `await using`. */
async function connectTo(node: ClusterNode) {
  const client = createClient({ url: node.url });
  await client.connect();
  return Object.assign(client, { [Symbol.asyncDispose]: () => client.close() });
}

Deno.test("a slot moved between masters in use: the gateway follows ASK during the move and MOVED after", async () => {
  await using stack = await startClusterStack();
  const { cluster, redis } = stack;
  await redis.set("kiln:{a}:moved-first", "1");
  await redis.set("kiln:{a}:moved-last", "2");

  const source = await cluster.nodeForSlot(SLOT);
  const target = (await cluster.masters()).find((node) => node.port !== source.port)!;
  await using from = await connectTo(source);
  await using to = await connectTo(target);
  const fromId = String(await from.sendCommand(["CLUSTER", "MYID"]));
  const toId = String(await to.sendCommand(["CLUSTER", "MYID"]));
  await to.sendCommand(["CLUSTER", "SETSLOT", `${SLOT}`, "IMPORTING", fromId]);
  await from.sendCommand(["CLUSTER", "SETSLOT", `${SLOT}`, "MIGRATING", toId]);
  const migrate = (key: string) =>
    from.sendCommand(["MIGRATE", "127.0.0.1", `${target.port}`, key, "0", "5000"]);
  await migrate("kiln:{a}:moved-first");

  // Mid-move: one key on each side. The source answers ASK for the migrated key and for a
  // key it does not have; the gateway must follow each with ASKING to the target.
  assert.equal(await redis.get("kiln:{a}:moved-first"), 1);
  assert.equal(await redis.get("kiln:{a}:moved-last"), 2);
  await redis.set("kiln:{a}:created-mid-move", "3");
  assert.equal(await to.sendCommand(["ASKING"]), "OK");
  assert.equal(
    await to.get("kiln:{a}:created-mid-move"),
    "3",
    "a new key is created on the target",
  );
  // In a pipeline each command follows its own ASK, answered in order.
  assert.deepEqual(
    await redis.pipeline().get("kiln:{a}:moved-last").get("kiln:{a}:moved-first")
      .incr("kiln:{a}:moved-first").exec(),
    [2, 1, 2],
  );
  // A transaction on a migrated key runs on the target, as one unit.
  assert.deepEqual(
    await redis.multi().incr("kiln:{a}:moved-first").get("kiln:{a}:moved-first").exec(),
    [3, 3],
  );

  await migrate("kiln:{a}:moved-last");
  for (const node of cluster.nodes) {
    await using client = await connectTo(node);
    await client.sendCommand(["CLUSTER", "SETSLOT", `${SLOT}`, "NODE", toId]);
  }
  assert.equal((await cluster.nodeForSlot(SLOT)).port, target.port);

  // After the hand-over the source answers MOVED; every key is read from the target.
  assert.deepEqual(
    await redis.mget("kiln:{a}:moved-first", "kiln:{a}:moved-last", "kiln:{a}:created-mid-move"),
    [3, 2, 3],
  );
  await redis.set("kiln:{a}:after", "4");
  assert.equal(await to.get("kiln:{a}:after"), "4");
  assert.equal(await from.dbSize(), 0, "nothing of the slot is left on the source");
});
