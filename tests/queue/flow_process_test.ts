import assert from "node:assert/strict";
import * as v from "valibot";
import { UpstashRedis } from "../../src/redis/mod.ts";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { quietWorker, waitFor } from "./_helpers.ts";
import { endLeases, spawnWorker } from "./_processes.ts";
import { FakeClock as ManualClock } from "../scheduler/_fake_clock.ts";

const WORKER = "./_flow_worker_process.ts";

/** The same definition as the worker process's: at most 2 at once per tenant. */
const tenantJob = defineJob({
  name: "tenant",
  schema: v.object({ tenant: v.string(), n: v.number() }),
  concurrency: { key: (payload) => payload.tenant, limit: 2 },
  maxRetries: 0,
  handle() {},
});

Deno.test("concurrency per key holds across four worker processes: no tenant ever runs more than its limit", async () => {
  await using stack = await startRedisStack();
  const prefix = "flow4";
  const queue = new Queue({ backend: new RedisBackend({ redis: stack.redis, prefix }) });
  const tenants = ["a", "b", "c", "d", "e"];
  await queue.dispatchMany(
    tenantJob,
    tenants.flatMap((tenant) => Array.from({ length: 24 }, (_, n) => ({ tenant, n }))),
  );
  // Four processes of 8 slots each: 32 slots for 5 tenants of limit 2 (10 may run).
  const children = Array.from(
    { length: 4 },
    () => spawnWorker(WORKER, stack, prefix, "drain"),
  );
  const outputs = await Promise.all(children.map((child) => child.output()));
  for (const output of outputs) assert.equal(output.code, 0);
  const levels = (await stack.redis.lrange<string>(`${prefix}:levels`, 0, -1)).map(String);
  assert.equal(levels.length, 120, "every job ran once");
  const most = new Map<string, number>();
  for (const entry of levels) {
    const [tenant, level] = entry.split(":");
    most.set(tenant, Math.max(most.get(tenant) ?? 0, Number(level)));
  }
  // Never over the limit, and the limit was reached (so the check could have failed).
  assert.deepEqual([...most.values()].sort(), [2, 2, 2, 2, 2]);
  const runs = await stack.redis.hgetall<Record<string, number>>(`${prefix}:runs`) ?? {};
  assert.ok(Object.values(runs).every((count) => Number(count) === 1));
  const counts = await queue.counts();
  assert.deepEqual([counts.ready, counts.delayed, counts.active, counts.completed], [0, 0, 0, 120]);
});

Deno.test("a worker process SIGKILLed while holding a key's slot: the key's next job waits until the lease ends, then runs", async () => {
  await using stack = await startRedisStack();
  const prefix = "flowkill";
  const backend = new RedisBackend({ redis: stack.redis, prefix });
  const queue = new Queue({ backend });
  // Tenant t (limit 2): three jobs, so the third waits on the two the process holds.
  await queue.dispatchMany(tenantJob, [
    { tenant: "t", n: 1 },
    { tenant: "t", n: 2 },
    { tenant: "t", n: 3 },
    { tenant: "u", n: 1 },
  ]);
  const child = spawnWorker(WORKER, stack, prefix, "hang");
  await child.stdout.cancel();
  const runsKey = `${prefix}:runs`;
  const runs = async () => await stack.redis.hgetall<Record<string, number>>(runsKey) ?? {};
  await waitFor(async () => Object.keys(await runs()).length === 3, 15_000);
  assert.deepEqual(Object.keys(await runs()).sort(), ["t:1", "t:2", "u:1"]);
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");
  // Dead, the process still holds t's two slots: t:3 is not handed out.
  const probe = await backend.take({
    queue: "default",
    now: Date.now(),
    complete: [],
    reserve: 10,
    leaseDuration: 60_000,
    token: crypto.randomUUID(),
  });
  assert.deepEqual(probe.jobs, []);
  assert.equal((await queue.counts()).ready, 1);
  // Its leases end (as after their minute): ended by hand with its tokens, read from Redis.
  assert.equal((await endLeases(stack, backend, prefix)).length, 3);
  const seen: string[] = [];
  const job = defineJob({
    ...tenantJob,
    handle: ({ tenant, n }) => void seen.push(`${tenant}:${n}`),
  });
  const worker = quietWorker(queue, { jobs: [job], concurrency: 5, maxPollInterval: 100 });
  await worker.start();
  try {
    await waitFor(async () => (await queue.counts()).completed === 4, 10_000);
  } finally {
    await worker.stop();
  }
  assert.deepEqual(seen.sort(), ["t:1", "t:2", "t:3", "u:1"]);
});

Deno.test("an idle worker whose jobs wait on a busy key or a rate limit polls at most once per 5 s and wakes when the rate allows", async () => {
  await using stack = await startRedisStack();
  const clock = new ManualClock(1_700_000_000_000);
  const pollTimes: number[] = [];
  let inFlight = 0;
  const counting: typeof fetch = async (input, init) => {
    pollTimes.push(clock.now());
    inFlight++;
    try {
      return await fetch(input, init);
    } finally {
      inFlight--;
    }
  };
  const prefix = "flowidle";
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token, fetch: counting });
  const queue = new Queue({ backend: new RedisBackend({ redis, prefix }), clock });
  const ran: string[] = [];
  const busy = defineJob({
    name: "busy",
    schema: v.number(),
    concurrency: { key: () => "k", limit: 1 },
    handle: (n) => void ran.push(`busy:${n}`),
  });
  const rated = defineJob({
    name: "rated",
    schema: v.number(),
    rateLimit: { key: () => "k", limit: 1, per: 60_000 },
    handle: (n) => void ran.push(`rated:${n}`),
  });
  await queue.dispatchMany(busy, [1, 2]);
  await queue.dispatchMany(rated, [1, 2]);
  // Another worker (elsewhere) holds busy's slot for ten minutes and used rated's minute.
  const other = await queue.backend.take({
    queue: "default",
    now: clock.now(),
    complete: [],
    reserve: 10,
    leaseDuration: 600_000,
    token: crypto.randomUUID(),
  });
  assert.equal(other.jobs.length, 2);
  const freeAt = clock.now() + 60_000;
  assert.equal(other.nextDueAt, freeAt);
  pollTimes.length = 0;
  const worker = quietWorker(queue, {
    jobs: [busy, rated],
    leaseDuration: 600_000,
    maxPollInterval: 5_000,
  });
  await worker.start();
  try {
    // Move time to each timer the worker sleeps on (not the lease renewal's, a third of
    // its lease away, which is no poll), until past the rate window.
    const renewalAt = clock.now() + 200_000;
    while (clock.now() < freeAt + 10_000) {
      await waitFor(() => inFlight === 0 && clock.timers.some((t) => t.at < renewalAt), 60_000);
      await clock.advance(Math.max(0, clock.timers[0].at - clock.now()));
    }
    await waitFor(() => inFlight === 0);
  } finally {
    await worker.stop();
  }
  assert.deepEqual(ran, ["rated:2"]);
  const start = pollTimes[0];
  const gaps = pollTimes.slice(1).map((at, i) => at - pollTimes[i]).join(",");
  // Back-off from 50 ms to 5 s, then, while everything waits, never more than one request
  // per 5 s: the last wait ends early, at the instant the window lets rated:2 start.
  const idle = pollTimes.filter((at) => at - start > 6_500 && at < freeAt);
  const idleGaps = idle.slice(1).map((at, i) => at - idle[i]);
  assert.ok(idle.length >= 9 && idleGaps.every((gap) => gap >= 5_000), gaps);
  assert.ok(pollTimes.includes(freeAt), gaps);
  assert.ok(freeAt - idle.at(-1)! < 5_000, gaps);
});
