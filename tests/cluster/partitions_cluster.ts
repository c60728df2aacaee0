/**
 * A partitioned queue on a real 3-master Redis Cluster behind the gateway's `--cluster`
 * mode: its partitions' keys hash to slots on different masters (checked on each master
 * with node-redis, bypassing the gateway), and several workers still run every job
 * exactly once with the counts adding up across the masters.
 *
 * @module
 */

import assert from "node:assert/strict";
import calculateSlot from "cluster-key-slot";
import { createClient } from "redis";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend, silentLogger, Worker } from "../../src/queue/mod.ts";
import { partitionName } from "../../src/queue/_partition_keys.ts";
import { startClusterStack } from "./_cluster_stack.ts";

Deno.test("a queue in six partitions spreads over the cluster's masters and runs each job once", async () => {
  await using stack = await startClusterStack();
  const { cluster, redis } = stack;
  const partitions = { reports: 6 };
  const runs = new Map<number, number>();
  const job = defineJob({
    name: "report",
    schema: v.number(),
    queue: "reports",
    handle: (n) => void runs.set(n, (runs.get(n) ?? 0) + 1),
  });
  const queue = new Queue({ backend: new RedisBackend({ redis, prefix: "pc" }), partitions });
  const total = 300;
  await queue.dispatchMany(job, Array.from({ length: total }, (_, n) => n), { delay: 60_000 });

  // Each partition's keys sit on the master serving its hash tag's slot.
  const owners = new Map<string, number>();
  for (let k = 0; k < 6; k++) {
    const key = `pc:{${partitionName("reports", k, 6)}}:delayed`;
    const owner = await cluster.nodeForSlot(calculateSlot(key));
    const client = createClient({ url: owner.url });
    await client.connect();
    try {
      const held = await client.zCard(key);
      assert.ok(held > 0, `partition ${k} holds jobs on ${owner.url}`);
      owners.set(owner.url, (owners.get(owner.url) ?? 0) + held);
    } finally {
      client.destroy();
    }
  }
  assert.equal(owners.size, 3, `partitions on ${owners.size} masters: ${[...owners.keys()]}`);
  assert.equal([...owners.values()].reduce((a, b) => a + b), total);
  assert.equal((await queue.counts("reports")).delayed, total);

  // Three workers, each with its own Queue (its own rotation), as three processes would.
  for (
    const { id } of (await queue.jobs({ queue: "reports", state: "delayed", limit: 1_000 })).jobs
  ) {
    await queue.promote(id, "reports");
  }
  const summaries = await Promise.all(
    [0, 1, 2].map(() =>
      new Worker(new Queue({ backend: new RedisBackend({ redis, prefix: "pc" }), partitions }), {
        jobs: [job],
        queues: ["reports"],
        concurrency: 20,
        logger: silentLogger,
      }).drain()
    ),
  );
  assert.equal(runs.size, total);
  assert.ok([...runs.values()].every((n) => n === 1), "each job ran once");
  assert.equal(summaries.reduce((sum, s) => sum + s.completed, 0), total);
  const counts = await queue.counts("reports");
  assert.deepEqual([counts.ready, counts.active, counts.completed], [0, 0, total]);
  assert.deepEqual((await queue.queues()).map((q) => q.name), ["reports"]);
});
