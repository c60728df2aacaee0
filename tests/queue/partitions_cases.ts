/**
 * What a partitioned queue does beyond the conformance suites, written once
 * and run on MemoryBackend and RedisBackend (partitions_memory_test.ts,
 * partitions_redis_test.ts): jobs spread, counts add up, a job is found by id
 * in one call, each job runs once with several workers, unique keys hold,
 * order holds per partition, an idle worker's poll stays one request, and a
 * take that fails in one partition loses nothing done in another.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue } from "../../src/queue/mod.ts";
import type { QueueBackend, TakeRequest } from "../../src/queue/backend_mod.ts";
import { PartitionedBackend } from "../../src/queue/_partitions.ts";
import { partitionName, partitionOf } from "../../src/queue/_partition_keys.ts";
import { FakeClock, quietWorker, sleep, waitFor } from "./_helpers.ts";
import { InvalidCursorError } from "../../src/public_errors.ts";
import { slotOfTag } from "../../src/redis/_slot.ts";
import { FakeClock as ManualClock } from "../scheduler/_fake_clock.ts";

/** A fresh, empty backend to hold the partitions; `twin` reaches the same store. */
export type InnerFactory = () => QueueBackend & { twin?: () => QueueBackend };

type Case = [name: string, fn: (make: InnerFactory) => void | Promise<void>];

const noop = defineJob({ name: "noop", schema: v.number(), queue: "reports", handle() {} });

/** `inner` with every call of `method` counted by the queue name it was made for. */
function counting<M extends "take" | "findJobs" | "getJob">(
  inner: QueueBackend,
  method: M,
): { backend: QueueBackend; calls: string[] } {
  const calls: string[] = [];
  const backend = new Proxy(inner, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (property !== method) return value.bind(target);
      return (...args: unknown[]) => {
        const first = args[0];
        calls.push(typeof first === "string" ? first : (first as TakeRequest).queue);
        return value.apply(target, args);
      };
    },
  });
  return { backend, calls };
}

const cases: Case[] = [
  [
    "QueueOptions.partitions is checked at construction: counts 1 to 256, key-safe names, no name that is a partition's",
    async (make) => {
      const backend = make();
      for (const bad of [{ reports: 0 }, { reports: 1.5 }, { reports: 257 }, { reports: NaN }]) {
        assert.throws(() => new Queue({ backend, partitions: bad }), RangeError);
      }
      for (
        const bad of ["6", ["reports"], { "a b": 2 }, { "a{b}": 2 }, { reports: 3, "reports#1": 2 }]
      ) {
        assert.throws(() => new Queue({ backend, partitions: bad as never }), TypeError);
      }
      // One partition is the plain queue: no wrapping, the same keys as before.
      assert.equal(new Queue({ backend, partitions: { reports: 1 } }).backend, backend);
      const queue = new Queue({ backend, partitions: { reports: 3 } });
      const sneaky = defineJob({ name: "x", schema: v.null(), queue: "reports#1", handle() {} });
      await assert.rejects(queue.dispatch(sneaky, null), TypeError, "a partition is not a queue");
      await assert.rejects(queue.counts("reports#2"), TypeError);
      // "reports#3" is not a partition of a 3-partition queue: an ordinary queue.
      assert.equal((await queue.counts("reports#3")).ready, 0);
    },
  ],
  [
    "partitionOf() is FNV-1a of the UTF-8 bytes (a lone surrogate as U+FFFD), stable for any id",
    () => {
      const reference = (key: string, count: number) => {
        let hash = 0x811c9dc5;
        for (const byte of new TextEncoder().encode(key)) hash = Math.imul(hash ^ byte, 0x01000193);
        return (hash >>> 0) % count;
      };
      const keys = [
        "",
        "a",
        "job-1",
        "é",
        "日本語",
        "🙂 emoji",
        "\ud800",
        "x\udc00y",
        "\u07ff\u0800",
      ];
      for (let i = 0; i < 300; i++) keys.push(crypto.randomUUID() + String.fromCodePoint(i * 331));
      for (const key of keys) {
        for (const count of [2, 3, 7, 256]) {
          assert.equal(partitionOf(key, count), reference(key, count), key);
        }
      }
      // Pinned: a partitioned queue's jobs stay where they are only while this holds.
      assert.equal(partitionOf("job-1", 2 ** 32 - 1), 801_270_038);
    },
  ],
  [
    "partition names put their hash tags in equal slot ranges, so an evenly split cluster gets them evenly",
    () => {
      for (const count of [2, 3, 6, 7, 64]) {
        for (let k = 0; k < count; k++) {
          const name = partitionName("reports", k, count);
          assert.match(name, /^reports#\d+(\.\d+)?$/);
          const slot = slotOfTag(name);
          assert.ok(slot >= Math.floor((k * 16_384) / count), `${name} at ${slot}`);
          assert.ok(slot < Math.floor(((k + 1) * 16_384) / count), `${name} at ${slot}`);
        }
      }
    },
  ],
  [
    "jobs spread over the partitions by id, and counts(), queues() and a job by id answer for the whole queue",
    async (make) => {
      const inner = make();
      const { backend: spied, calls } = counting(inner, "findJobs");
      const queue = new Queue({ backend: spied, partitions: { reports: 3 } });
      const results = await queue.dispatchMany(noop, Array.from({ length: 90 }, (_, i) => i), {
        delay: 60_000,
      });
      const perPartition = await Promise.all(
        [0, 1, 2].map(async (k) => (await inner.counts(partitionName("reports", k, 3))).delayed),
      );
      assert.ok(perPartition.every((n) => n > 10), `spread: ${perPartition}`);
      assert.equal(perPartition.reduce((a, b) => a + b), 90);
      for (const { id } of results) {
        const k = partitionOf(id, 3);
        assert.equal((await inner.getJob(partitionName("reports", k, 3), id))?.id, id);
      }
      assert.equal((await queue.counts("reports")).delayed, 90);
      const listed = await queue.queues();
      assert.deepEqual(listed.map((q) => [q.name, q.counts.delayed]), [["reports", 90]]);
      calls.length = 0;
      const one = await queue.job(results[7].id, "reports");
      assert.equal(one?.state, "delayed");
      assert.equal(one?.queue, "reports");
      assert.ok(calls.length <= 1, `one partition asked, not ${calls.join(", ")}`);
      assert.equal(await queue.promote(results[7].id), true);
      assert.equal((await queue.job(results[7].id))?.state, "waiting");
      assert.equal(await queue.remove(results[8].id), true);
      assert.equal(await queue.job(results[8].id), null);
      await queue.pause("reports");
      assert.equal((await queue.counts("reports")).paused, true);
      for (const k of [0, 1, 2]) {
        assert.equal((await inner.counts(partitionName("reports", k, 3))).paused, true);
      }
      await queue.resume("reports");
      assert.equal((await queue.counts("reports")).paused, false);
    },
  ],
  [
    "jobs() pages through every partition, each job once: merged newest first, waiting jobs partition by partition; a forged partition cursor is refused",
    async (make) => {
      const clock = new FakeClock();
      const queue = new Queue({ backend: make(), clock, partitions: { reports: 3 } });
      const ids: string[] = [];
      for (let n = 0; n < 25; n++) {
        ids.push((await queue.dispatch(noop, n)).id);
        clock.advance(1); // distinct dispatch times: "newest first" is well defined
      }
      const pages = async (query: Parameters<Queue["jobs"]>[0]) => {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await queue.jobs({ ...query, limit: 4, cursor });
          assert.ok(page.jobs.length <= 4);
          seen.push(...page.jobs.map((job) => job.id));
          cursor = page.cursor ?? undefined;
        } while (cursor !== undefined);
        return seen;
      };
      assert.deepEqual(await pages({ queue: "reports" }), [...ids].reverse(), "newest first");
      const waiting = await pages({ queue: "reports", state: "waiting" });
      assert.deepEqual([...waiting].sort(), [...ids].sort(), "each waiting job once");
      const first = await queue.jobs({ queue: "reports", state: "waiting", limit: 4 });
      const cursor = JSON.parse(atob(first.cursor!.replaceAll("-", "+").replaceAll("_", "/")));
      const forged = btoa(JSON.stringify({ ...cursor, i: `7/${cursor.i}` })).replace(/=+$/, "");
      await assert.rejects(
        queue.jobs({ queue: "reports", state: "waiting", limit: 4, cursor: forged }),
        InvalidCursorError,
      );
    },
  ],
  [
    "several workers run every job of every partition exactly once, and the counts add up",
    async (make) => {
      const inner = make();
      const queue = new Queue({ backend: inner, partitions: { reports: 3 } });
      const runs = new Map<number, number>();
      const job = defineJob({
        name: "count",
        schema: v.number(),
        queue: "reports",
        async handle(n) {
          runs.set(n, (runs.get(n) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, n % 3));
        },
      });
      const total = 600;
      await queue.dispatchMany(job, Array.from({ length: total }, (_, i) => i));
      // Separate Queue objects: each worker has its own rotation, as in another process.
      const workers = [0, 1, 2].map(() =>
        quietWorker(new Queue({ backend: inner, partitions: { reports: 3 } }), {
          jobs: [job],
          queues: ["reports"],
          concurrency: 10,
        })
      );
      const summaries = await Promise.all(workers.map((worker) => worker.drain()));
      assert.equal(runs.size, total);
      assert.ok([...runs.values()].every((n) => n === 1), "each job ran once");
      assert.equal(summaries.reduce((sum, s) => sum + s.completed, 0), total);
      assert.ok(summaries.filter((s) => s.completed > 0).length >= 2, "the work was shared");
      assert.deepEqual(await queue.counts("reports"), {
        ready: 0,
        delayed: 0,
        active: 0,
        failed: 0,
        completed: total,
        paused: false,
      });
      const points = await queue.metrics({ queue: "reports" });
      assert.equal(points.reduce((sum, point) => sum + point.completed, 0), total);
    },
  ],
  [
    "a unique key is held in its own partition: the job gets an id there, and a jobId beside it is refused",
    async (make) => {
      const inner = make();
      const queue = new Queue({ backend: inner, partitions: { reports: 4 } });
      for (const key of ["a", "b", "c", "d", "e", "f"]) {
        const first = await queue.dispatch(noop, 1, { uniqueKey: key });
        assert.equal(partitionOf(first.id, 4), partitionOf(key, 4));
        assert.deepEqual(await queue.dispatch(noop, 2, { uniqueKey: key }), {
          id: first.id,
          created: false,
        });
      }
      assert.equal((await queue.counts("reports")).ready, 6);
      await assert.rejects(
        queue.dispatch(noop, 3, { uniqueKey: "g", jobId: "mine" }),
        TypeError,
      );
      // The backend refuses the pair too, for a caller that skips the Queue.
      const wrapped = queue.backend;
      const stray = {
        id: "x",
        name: "noop",
        queue: "reports",
        payload: "1",
        priority: "normal" as const,
        maxRetries: 0,
        createdAt: 0,
        runAt: 0,
      };
      const key = ["k1", "k2", "k3", "k4", "k5"].find((k) =>
        partitionOf(k, 4) !== partitionOf("x", 4)
      )!;
      await assert.rejects(
        wrapped.enqueue("reports", [{ ...stray, uniqueKey: key }], 0),
        TypeError,
      );
      assert.equal((await queue.counts("reports")).ready, 6, "nothing enqueued");
      await quietWorker(queue, { jobs: [noop], queues: ["reports"] }).drain();
      // Completed: the keys are free again.
      assert.equal((await queue.dispatch(noop, 4, { uniqueKey: "a" })).created, true);
    },
  ],
  [
    "priority bands and FIFO hold within each partition",
    async (make) => {
      const queue = new Queue({ backend: make(), partitions: { reports: 3 } });
      const seen: { n: number; id: string }[] = [];
      const job = defineJob({
        name: "ordered",
        schema: v.number(),
        queue: "reports",
        handle: (n, ctx) => void seen.push({ n, id: ctx.jobId }),
      });
      const priorities = ["low", "normal", "high"] as const;
      const sent: { n: number; id: string; band: number }[] = [];
      for (let n = 0; n < 30; n++) {
        const band = n % 3;
        const { id } = await queue.dispatch(job, n, { priority: priorities[band] });
        sent.push({ n, id, band });
      }
      await quietWorker(queue, { jobs: [job], queues: ["reports"], concurrency: 1 }).drain();
      assert.equal(seen.length, 30);
      for (const k of [0, 1, 2]) {
        const ran = seen.filter((s) => partitionOf(s.id, 3) === k).map((s) => s.n);
        const expected = sent.filter((s) => partitionOf(s.id, 3) === k)
          .sort((a, b) => b.band - a.band || a.n - b.n)
          .map((s) => s.n);
        assert.deepEqual(ran, expected, `partition ${k}`);
      }
    },
  ],
  [
    "a partition with more due delayed jobs than one take promotes does not keep a worker from the others",
    async (make) => {
      const backend = new PartitionedBackend(make(), () => 2);
      const clock = new FakeClock();
      const queue = new Queue({ backend, clock });
      const j = defineJob({ name: "j", schema: v.number(), handle() {} });
      // RedisBackend promotes at most 1,000 due delayed jobs per take: 8,000 stay due for 8.
      const ids = Array.from({ length: 20_000 }, (_, n) => `job-${n}`);
      const flood = ids.filter((id) => partitionOf(id, 2) === 0).slice(0, 8_000);
      const lone = ids.find((id) => partitionOf(id, 2) === 1)!;
      await queue.dispatchMany(j, flood.map((_, n) => n), {
        delay: 1_000,
        jobId: (_, n) => flood[n],
      });
      await queue.dispatch(j, -1, { jobId: lone });
      clock.advance(1_000); // every flood job is due: more than one take promotes on Redis
      const reserved: string[] = [];
      for (let take = 0; take < 6 && !reserved.includes(lone); take++) {
        const result = await backend.take({
          queue: "default",
          now: clock.time,
          complete: [],
          reserve: 10,
          leaseDuration: 60_000,
          token: `t${take}`,
        });
        reserved.push(...result.jobs.map((job) => job.id));
      }
      assert.ok(reserved.includes(lone), "the lone job in partition 1 was taken within 6 takes");
    },
  ],
  [
    "an idle worker reads one partition per poll after one round, and still finds a job in any partition",
    async (make) => {
      const inner = make();
      const { backend: spied, calls } = counting(inner, "take");
      const clock = new ManualClock(1_700_000_000_000);
      const queue = new Queue({ backend: spied, clock, partitions: { reports: 4 } });
      const seen: number[] = [];
      const job = defineJob({
        name: "late",
        schema: v.number(),
        queue: "reports",
        handle: (n) => void seen.push(n),
      });
      const worker = quietWorker(queue, {
        jobs: [job],
        queues: ["reports"],
        minPollInterval: 1_000,
        maxPollInterval: 1_000,
        leaseDuration: 3_000_000, // its renewal timer stays out of the polls' way
      });
      await worker.start();
      // Moves time to the next poll once the worker sleeps until it.
      const poll = async () => {
        await waitFor(() => clock.timers.some((timer) => timer.at === clock.now() + 1_000));
        await clock.advance(1_000);
      };
      // The first poll reads on through every partition (a worker starts warm).
      await waitFor(() => calls.length === 4);
      for (let i = 1; i <= 8; i++) {
        await poll();
        await waitFor(() => calls.length >= 4 + i);
      }
      await sleep(50);
      assert.equal(calls.length, 4 + 8, "one request per poll while idle");
      // A job dispatched by another process is found within one round of polls.
      const other = new PartitionedBackend(inner.twin?.() ?? inner, () => 4);
      await other.enqueue("reports", [{
        id: "from-elsewhere",
        name: "late",
        queue: "reports",
        payload: "7",
        priority: "normal",
        maxRetries: 0,
        createdAt: clock.now(),
        runAt: clock.now(),
      }], clock.now());
      for (let i = 0; i < 4 && seen.length === 0; i++) {
        const before = calls.length;
        await poll();
        await waitFor(() => calls.length > before);
        await sleep(20);
      }
      await waitFor(() => seen.length === 1);
      assert.deepEqual(seen, [7]);
      // A stop's own waits (a report retried after a failed round trip) run on this clock too.
      let stopped = false;
      const stopping = worker.stop().finally(() => (stopped = true));
      for (let i = 0; i < 120 && !stopped; i++) await clock.advance(1_000);
      await stopping;
    },
  ],
  [
    "a take that fails in one partition hands back what it reserved and does not report done completions as lost",
    async (make) => {
      const inner = make();
      let failNext = "";
      const flaky = new Proxy(inner, {
        get(target, property) {
          const value = Reflect.get(target, property, target);
          if (typeof value !== "function") return value;
          if (property !== "take") return value.bind(target);
          return (request: TakeRequest) => {
            if (request.queue === failNext) {
              failNext = "";
              return Promise.reject(new Error("partition unreachable"));
            }
            return value.call(target, request);
          };
        },
      });
      const backend = new PartitionedBackend(flaky, () => 2);
      const clock = new FakeClock();
      const queue = new Queue({ backend, clock });
      // Four jobs, two in each partition.
      const j = defineJob({ name: "j", schema: v.number(), handle() {} });
      const candidates = Array.from({ length: 40 }, (_, n) => `job-${n}`);
      const ids = [0, 1].flatMap((k) =>
        candidates.filter((id) => partitionOf(id, 2) === k).slice(0, 2)
      );
      for (const [n, id] of ids.entries()) await queue.dispatch(j, n, { jobId: id });
      const take = (request: Partial<TakeRequest>) =>
        backend.take({
          queue: "default",
          now: clock.time,
          complete: [],
          reserve: 0,
          leaseDuration: 60_000,
          token: crypto.randomUUID(),
          ...request,
        });
      const first = await take({ reserve: 100, sweep: true, token: "t1" });
      assert.equal(first.jobs.length, ids.length);
      const byPartition = (k: number) => first.jobs.filter((j) => partitionOf(j.id, 2) === k);
      // Complete everything, reserving more from partition 0 (where this process just
      // enqueued: the next take reads it first) while partition 1 fails.
      const off = backend.onEnqueue(() => {});
      await queue.dispatch(j, 99, {
        jobId: candidates.find((id) => partitionOf(id, 2) === 0 && !ids.includes(id)),
      });
      off();
      failNext = partitionName("default", 1, 2);
      const complete = first.jobs.map((job) => ({ id: job.id, token: "t1" }));
      await assert.rejects(take({ complete, reserve: 10, token: "t2" }), /partition unreachable/);
      const counts = await queue.counts();
      assert.equal(
        counts.completed,
        byPartition(0).length,
        "partition 0's completions went through",
      );
      assert.equal(counts.active, byPartition(1).length, "nothing newly leased is left stranded");
      // The worker sends the same batch again: nothing is reported lost.
      const again = await take({ complete, reserve: 0, token: "t3" });
      assert.deepEqual(again.lost, []);
      assert.deepEqual(await queue.counts(), {
        ready: 1,
        delayed: 0,
        active: 0,
        failed: 0,
        completed: ids.length,
        paused: false,
      });
    },
  ],
  [
    "retention is shared out: a partitioned queue keeps about retain.failed.count failed jobs",
    async (make) => {
      const queue = new Queue({
        backend: make(),
        partitions: { reports: 3 },
        retain: { failed: { count: 6, age: 0 } },
      });
      const boom = defineJob({
        name: "boom",
        schema: v.number(),
        queue: "reports",
        maxRetries: 0,
        handle() {
          throw new Error("no");
        },
      });
      await queue.dispatchMany(boom, Array.from({ length: 30 }, (_, i) => i));
      await quietWorker(queue, { jobs: [boom], queues: ["reports"], concurrency: 5 }).drain();
      const kept = (await queue.counts("reports")).failed;
      assert.ok(kept <= 6, `each partition keeps 2: ${kept}`);
      assert.equal((await queue.failed.list({ queue: "reports" })).length, kept);
    },
  ],
  [
    "chains, batches and flow control are refused on a partitioned queue with a TypeError; other queues keep them",
    async (make) => {
      const inner = make();
      const queue = new Queue({ backend: inner, partitions: { reports: 2 } });
      const plain = defineJob({ name: "plain", schema: v.number(), handle() {} });
      const keyed = defineJob({
        name: "keyed",
        schema: v.number(),
        queue: "reports",
        concurrency: { key: (n) => `k${n}`, limit: 1 },
        handle() {},
      });
      await assert.rejects(queue.chain([[noop, 1], [noop, 2]]), TypeError);
      await assert.rejects(queue.batch([[noop, 1], [noop, 2]]), TypeError);
      await assert.rejects(queue.dispatch(keyed, 1), TypeError);
      const now = Date.now();
      await assert.rejects(
        queue.backend.workflow("reports", { action: "cancel", id: "b", now }),
        TypeError,
      );
      await assert.rejects(queue.backend.chainInfo("reports", "c"), TypeError);
      await assert.rejects(queue.backend.batchInfo("reports", "b"), TypeError);
      assert.equal((await queue.counts("reports")).ready, 0, "nothing enqueued");
      // A queue of one partition, beside it, runs chains as before.
      const chain = await queue.chain([[plain, 1], [plain, 2]]);
      assert.equal(typeof chain.id, "string");
      assert.equal((await queue.counts("default")).ready, 1, "the chain's first step");
    },
  ],
];

/**
 * Runs every partition case as a step of `t`, each on a fresh backend.
 *
 * @param t The test context.
 * @param make Creates an empty backend to hold the partitions.
 */
export async function runPartitionCases(t: Deno.TestContext, make: InnerFactory): Promise<void> {
  for (const [name, fn] of cases) await t.step(name, async () => await fn(make));
}
