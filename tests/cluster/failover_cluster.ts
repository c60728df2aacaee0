/**
 * The gateway in front of a Redis Cluster whose master dies: it answers (an error, not a
 * hang) while the slots have no master, and serves again once they have one: either the
 * killed master restarted on its address, or its replica promoted on another address
 * (the gateway must re-read the slot map when Redis answers MOVED). Kiln's queue, whose
 * keys share one hash tag, keeps working across the failover.
 *
 * @module
 */

import assert from "node:assert/strict";
import * as v from "valibot";
import { createClient } from "redis";
import { defineJob, Queue, RedisBackend, silentLogger, Worker } from "../../src/queue/mod.ts";
import { startClusterStack } from "./_cluster_stack.ts";

/** Slots of the hash tags used here (CRC16 of the tag, mod 16384); the harness test checks them. */
const SLOT_A = 15_495;
const RECOVERY_MS = 20_000;

/** Retries `attempt` until it resolves, for at most {@linkcode RECOVERY_MS}; returns its value. */
async function eventually<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RECOVERY_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`${what} did not recover within ${RECOVERY_MS} ms`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** POSTs one command to the gateway, giving up after `timeout` ms; returns the status and body. */
async function command(
  url: string,
  token: string,
  args: unknown[],
  timeout = 10_000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify(args),
    signal: AbortSignal.timeout(timeout),
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("a killed master restarted on its address: the gateway answers during the outage and serves again after", async () => {
  await using stack = await startClusterStack();
  const { cluster, redis } = stack;
  await redis.set("kiln:{b}:kept", "b");
  await redis.set("kiln:{c}:kept", "c");
  await redis.set("kiln:{a}:lost", "a");
  const victim = await cluster.nodeForSlot(SLOT_A);
  await cluster.kill(victim);

  // While slot 15495 has no master, a request for it is answered with an error in bounded
  // time, never left hanging on a dead connection.
  const during = await command(stack.gatewayUrl, stack.token, ["GET", "kiln:{a}:lost"]);
  assert.ok(during.status >= 400, `status ${during.status}: ${JSON.stringify(during.body)}`);
  assert.equal(typeof during.body.error, "string");

  await cluster.restart(victim);
  await eventually("SET on the restarted master", () => redis.set("kiln:{a}:again", "yes"));
  assert.equal(await redis.get("kiln:{a}:again"), "yes");
  assert.equal(
    await redis.get("kiln:{a}:lost"),
    null,
    "the restarted master is empty (no persistence)",
  );
  assert.deepEqual(await redis.mget("kiln:{b}:kept"), ["b"]);
  assert.equal(await redis.get("kiln:{c}:kept"), "c");
});

Deno.test("with cluster-require-full-coverage no, the other masters' slots keep serving through the gateway while one master is dead", async () => {
  await using stack = await startClusterStack({ requireFullCoverage: false });
  const { cluster, redis } = stack;
  await redis.set("kiln:{b}:up", "b");
  await redis.set("kiln:{c}:up", "c");
  await cluster.kill(await cluster.nodeForSlot(SLOT_A));
  // Across the node timeout (1 s) and the cluster marking the master failed, the live
  // masters' keys are served every time; the dead master's slot is answered with an error.
  for (let i = 0; i < 10; i++) {
    const b = await command(stack.gatewayUrl, stack.token, ["GET", "kiln:{b}:up"]);
    const c = await command(stack.gatewayUrl, stack.token, ["GET", "kiln:{c}:up"]);
    assert.deepEqual([b, c], [{ status: 200, body: { result: "b" } }, {
      status: 200,
      body: { result: "c" },
    }]);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const dead = await command(stack.gatewayUrl, stack.token, ["GET", "kiln:{a}:up"]);
  assert.ok(dead.status >= 400, `status ${dead.status}: ${JSON.stringify(dead.body)}`);
});

Deno.test("a killed master whose replica is promoted: the gateway follows the slots to the new master and the queue carries on", async () => {
  await using stack = await startClusterStack({ replicas: 1 });
  const { cluster, redis } = stack;
  const done: number[] = [];
  const job = defineJob({
    name: "count",
    queue: "a", // the queue's keys are kiln:{a}:…, all in slot 15495
    schema: v.object({ n: v.number() }),
    handle: ({ n }) => void done.push(n),
  });
  const queue = new Queue({ backend: new RedisBackend({ redis }) });
  await queue.dispatch(job, { n: 1 });
  await queue.dispatch(job, { n: 2 });
  await redis.set("kiln:{a}:survivor", "kept");

  const victim = await cluster.nodeForSlot(SLOT_A);
  // Make sure the replica has every write before its master dies: WAIT covers this
  // connection's own last write, and the replication stream is in order, so write first.
  const direct = createClient({ url: victim.url });
  await direct.connect();
  try {
    await direct.set("kiln:{a}:fence", "1");
    assert.equal(await direct.sendCommand(["WAIT", "1", "5000"]), 1);
  } finally {
    direct.destroy();
  }
  await cluster.kill(victim);
  await cluster.waitUntilHealthy();
  const promoted = await cluster.nodeForSlot(SLOT_A);
  assert.notEqual(promoted.port, victim.port);

  assert.equal(
    await eventually("GET after the failover", () => redis.get("kiln:{a}:survivor")),
    "kept",
  );
  await queue.dispatch(job, { n: 3 });
  const worker = new Worker(queue, { jobs: [job], queues: ["a"], logger: silentLogger });
  const report = await worker.drain({ maxJobs: 10, maxTime: 10_000 });
  assert.equal(report.completed, 3);
  assert.deepEqual(done.sort(), [1, 2, 3], "every job dispatched before and after ran once");
  const counts = await queue.counts("a");
  assert.deepEqual(
    {
      ready: counts.ready,
      active: counts.active,
      failed: counts.failed,
      completed: counts.completed,
    },
    { ready: 0, active: 0, failed: 0, completed: 3 },
  );
});
