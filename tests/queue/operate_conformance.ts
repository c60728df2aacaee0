/**
 * What an operator sees and does (issue #12), written once and run against
 * MemoryBackend and RedisBackend (through the real HTTP gateway): retention,
 * search, logs, tags, dedupe windows, remove/cancel, promote, retry, pause.
 * Hostile cases first: forged ids and cursors, oversized results and logs,
 * races with a worker, pause across instances.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, type JobInfo, Queue, type QueueOptions } from "../../src/queue/mod.ts";
import { InvalidCursorError, JobCancelledError } from "../../src/public_errors.ts";
import type { QueueBackend } from "../../src/queue/backend_mod.ts";
import type { JobEvent } from "../../src/queue/mod.ts";
import { FakeClock, quietWorker, waitFor } from "./_helpers.ts";

/** A fresh, empty store, and a way to reach the same store as another instance would. */
export interface OperateStore {
  /** The store as this instance sees it. */
  backend: QueueBackend;
  /** Another backend object on the same store (another process, for Redis). */
  twin(): QueueBackend;
}

/** Creates a fresh store for one case. */
export type StoreFactory = () => OperateStore | Promise<OperateStore>;

interface Setup {
  store: OperateStore;
  clock: FakeClock;
  queue(options?: Partial<QueueOptions>): Queue;
}

type Case = [name: string, fn: (setup: Setup) => Promise<void>];

const tagged = (name = "invoice", extra: Record<string, unknown> = {}) =>
  defineJob({
    name,
    schema: v.object({ user: v.number(), fail: v.optional(v.boolean()) }),
    maxRetries: 0,
    tags: (payload) => [`user:${payload.user}`, "tenant:acme"],
    handle(payload, ctx) {
      ctx.log(`user ${payload.user}`);
      if (payload.fail) throw new Error("refused");
      return { paid: payload.user };
    },
    ...extra,
  });

async function all(queue: Queue, query: Parameters<Queue["jobs"]>[0]): Promise<JobInfo[]> {
  const jobs: JobInfo[] = [];
  let cursor: string | undefined;
  do {
    const page = await queue.jobs({ ...query, cursor });
    jobs.push(...page.jobs);
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return jobs;
}

const cases: Case[] = [
  [
    "a completed job is kept with its result, logs, tags and last run; an unknown id reads null",
    async ({ clock, queue: make }) => {
      const queue = make();
      const job = tagged();
      const { id } = await queue.dispatch(job, { user: 42 });
      const worker = quietWorker(queue, { jobs: [job] });
      assert.equal((await worker.drain()).completed, 1);
      const done = await queue.job(id);
      assert.equal(done?.state, "completed");
      assert.deepEqual(done?.result, { paid: 42 });
      assert.deepEqual(done?.logs, ["user 42"]);
      assert.deepEqual(done?.tags, ["user:42", "tenant:acme"]);
      assert.equal(done?.startedAt, clock.time);
      assert.equal(done?.finishedAt, clock.time);
      assert.equal(done?.workerId, worker.id);
      assert.equal(done?.runAt, null);
      assert.equal(await queue.job("no-such-job"), null);
      assert.equal(await queue.job("../../etc/passwd\u0000", "default"), null);
      assert.equal(await queue.job(id, "another-queue"), null);
    },
  ],
  [
    "retain: { completed: false } deletes completed jobs at once, from the search too",
    async ({ queue: make }) => {
      const queue = make({ retain: { completed: false } });
      const job = tagged();
      const { id } = await queue.dispatch(job, { user: 1 });
      await quietWorker(queue, { jobs: [job] }).drain();
      assert.equal(await queue.job(id), null);
      assert.deepEqual(await all(queue, { tag: "user:1" }), []);
      assert.equal((await queue.counts()).completed, 1);
    },
  ],
  [
    "completed jobs beyond retain's count, or older than its age, are trimmed with their index entries",
    async ({ clock, queue: make }) => {
      const queue = make({ retain: { completed: { count: 2, age: 60_000 } } });
      const job = tagged();
      const ids: string[] = [];
      for (const user of [1, 2, 3]) {
        ids.push((await queue.dispatch(job, { user })).id);
        await quietWorker(queue, { jobs: [job] }).drain();
        clock.advance(1_000);
      }
      assert.equal(await queue.job(ids[0]), null, "the oldest beyond the count is gone");
      assert.deepEqual(await all(queue, { tag: "user:1" }), []);
      assert.deepEqual((await all(queue, { state: "completed" })).map((j) => j.id), [
        ids[2],
        ids[1],
      ]);
      clock.advance(61_000);
      const { id } = await queue.dispatch(job, { user: 4 });
      await quietWorker(queue, { jobs: [job] }).drain();
      assert.deepEqual((await all(queue, { state: "completed" })).map((j) => j.id), [id]);
      assert.deepEqual(await all(queue, { tag: "tenant:acme" }).then((j) => j.length), 1);
    },
  ],
  [
    "an oversized or non-JSON result completes the job and is kept as null",
    async ({ queue: make }) => {
      const queue = make();
      const results: Record<string, unknown> = {
        huge: "x".repeat(70_000),
        big: 10n,
        cyclic: (() => {
          const o: Record<string, unknown> = {};
          o.self = o;
          return o;
        })(),
        nothing: undefined,
      };
      const job = defineJob({
        name: "odd",
        schema: v.string(),
        handle: (key) => results[key],
      });
      const ids = await queue.dispatchMany(job, Object.keys(results));
      assert.equal((await quietWorker(queue, { jobs: [job] }).drain()).completed, 4);
      for (const { id } of ids) {
        const done = await queue.job(id);
        assert.equal(done?.state, "completed");
        assert.equal(done?.result, null);
      }
    },
  ],
  [
    "ctx.log keeps the newest 100 lines, each cut at 2,000 characters, across attempts",
    async ({ queue: make }) => {
      const queue = make();
      const job = defineJob({
        name: "chatty",
        schema: v.null(),
        maxRetries: 1,
        backoff: { type: "fixed", delay: 0 },
        handle(_payload, ctx) {
          for (let i = 0; i < 150; i++) ctx.log(`attempt ${ctx.attempt} line ${i}`);
          ctx.log("y".repeat(100_000));
          assert.throws(() => ctx.log(42 as unknown as string), TypeError);
          if (ctx.attempt === 1) throw new Error("again");
        },
      });
      const { id } = await queue.dispatch(job, null);
      const summary = await quietWorker(queue, { jobs: [job] }).drain();
      assert.equal(summary.completed, 1);
      const logs = (await queue.job(id))!.logs;
      assert.equal(logs.length, 100);
      assert.equal(logs[0], "attempt 2 line 51");
      assert.equal(logs.at(-1)!.length, 2_001);
    },
  ],
  [
    "tags from defineJob are indexed on every state: a tag search finds waiting, delayed, active, completed and failed jobs",
    async ({ queue: make }) => {
      const queue = make();
      const job = tagged();
      const other = tagged("other");
      const failed = (await queue.dispatch(job, { user: 7, fail: true })).id;
      const completed = (await queue.dispatch(job, { user: 7 })).id;
      await quietWorker(queue, { jobs: [job] }).drain();
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const slow = defineJob({
        name: "slow",
        schema: v.object({ user: v.number() }),
        tags: (payload) => [`user:${payload.user}`],
        async handle() {
          await held;
        },
      });
      const active = (await queue.dispatch(slow, { user: 7 })).id;
      const worker = quietWorker(queue, { jobs: [slow], maxPollInterval: 50 });
      await worker.start();
      await waitFor(async () => (await queue.job(active))?.state === "active");
      const waiting = (await queue.dispatch(other, { user: 7 })).id;
      const delayed = (await queue.dispatch(job, { user: 7 }, { delay: 60_000 })).id;
      await queue.dispatch(job, { user: 8 });
      try {
        const found = await all(queue, { tag: "user:7" });
        assert.deepEqual(
          Object.fromEntries(found.map((j) => [j.id, j.state])),
          {
            [failed]: "failed",
            [completed]: "completed",
            [active]: "active",
            [waiting]: "waiting",
            [delayed]: "delayed",
          },
        );
        assert.deepEqual(
          (await all(queue, { tag: "user:7", state: "failed" })).map((j) => j.id),
          [failed],
        );
        assert.deepEqual(
          (await all(queue, { tag: "user:7", name: "other" })).map((j) => j.id),
          [waiting],
        );
        assert.deepEqual((await all(queue, { name: "slow" })).map((j) => j.id), [active]);
        assert.deepEqual(await all(queue, { tag: "user:9" }), []);
        assert.deepEqual(await all(queue, { tag: "user:7\u0000x" }), []);
      } finally {
        release();
        await worker.stop();
      }
    },
  ],
  [
    "jobs() pages newest first with a cursor, each job once, and filters by dispatch time",
    async ({ clock, queue: make }) => {
      const queue = make();
      const job = tagged();
      const ids: string[] = [];
      for (let user = 0; user < 7; user++) {
        ids.push((await queue.dispatch(job, { user }, { jobId: `job-${user}` })).id);
        clock.advance(10);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await queue.jobs({ tag: "tenant:acme", limit: 3, cursor });
        seen.push(...page.jobs.map((j) => j.id));
        cursor = page.cursor ?? undefined;
        pages++;
      } while (cursor !== undefined);
      assert.deepEqual(seen, ids.toReversed());
      assert.ok(pages >= 3);
      const since = clock.time - 40; // the last 4 were dispatched at or after this
      assert.deepEqual((await all(queue, { since })).map((j) => j.id), ids.slice(3).toReversed());
      assert.deepEqual(
        (await all(queue, { since, until: since + 20, state: "waiting" })).map((j) => j.id),
        ["job-4", "job-3"],
      );
      assert.deepEqual((await all(queue, { state: "waiting", limit: 2 })).length, 7);
      assert.deepEqual((await queue.jobs({ id: "job-2" })).jobs.map((j) => j.id), ["job-2"]);
      assert.deepEqual((await queue.jobs({ id: "job-2", state: "failed" })).jobs, []);
    },
  ],
  [
    "tags holding quotes, commas, backslashes and non-ASCII text are indexed as written and found by an exact search",
    async ({ queue: make }) => {
      const queue = make();
      const odd = ['say "hi", then', "a\\b", "ünï,cødé", '","', "plain"];
      const job = defineJob({
        name: "odd-tags",
        schema: v.number(),
        tags: (n) => (n === 0 ? odd : [odd[n]]),
        handle() {},
      });
      const all = (await queue.dispatchMany(job, [0, 1, 2, 3, 4])).map((r) => r.id);
      assert.deepEqual((await queue.job(all[0]))?.tags, odd);
      for (const [n, tag] of odd.entries()) {
        const found = (await queue.jobs({ tag })).jobs.map((j) => j.id).toSorted();
        assert.deepEqual(found, [...new Set([all[0], all[n]])].toSorted(), tag);
      }
      assert.deepEqual((await queue.jobs({ tag: "say" })).jobs, []);
    },
  ],
  [
    "jobs() without a name or tag lists every job of every name newest first, ties by id, one page after another",
    async ({ clock, queue: make }) => {
      const queue = make();
      const names = ["beta", "alpha", "gamma"].map((name) => tagged(name));
      const expected: { id: string; at: number }[] = [];
      for (let round = 0; round < 4; round++) {
        for (const [i, job] of names.entries()) {
          // Two jobs of one name in one millisecond: the page orders them by id, newest first.
          const results = await queue.dispatchMany(job, [{ user: round }, { user: round }], {
            jobId: (_, k) => `r${round}-${i}-${k}`,
          });
          for (const { id } of results) expected.push({ id, at: clock.time });
          clock.advance(i === 1 ? 0 : 5); // names "beta" and "alpha" share a millisecond
        }
      }
      const newestFirst = expected.toSorted((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1))
        .map((job) => job.id);
      for (const limit of [1, 2, 5, 50]) {
        assert.deepEqual((await all(queue, { limit })).map((j) => j.id), newestFirst);
      }
      const since = expected[6].at;
      const until = expected[18].at;
      assert.deepEqual(
        (await all(queue, { since, until, limit: 4 })).map((j) => j.id),
        expected.filter((job) => job.at >= since && job.at < until)
          .toSorted((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1)).map((job) => job.id),
      );
      assert.deepEqual(
        (await all(queue, { state: "waiting", since, limit: 3 })).length,
        expected.filter((job) => job.at >= since).length,
      );
    },
  ],
  [
    "a cursor tampered with, or replayed against another search, is refused with InvalidCursorError",
    async ({ queue: make }) => {
      const queue = make();
      const job = tagged();
      await queue.dispatchMany(job, [{ user: 1 }, { user: 2 }, { user: 3 }]);
      const { cursor } = await queue.jobs({ tag: "tenant:acme", limit: 1 });
      assert.ok(cursor);
      for (const forged of ["", "%%%", btoa("{}"), btoa("null"), cursor.slice(0, -4)]) {
        const error = await queue.jobs({ tag: "tenant:acme", cursor: forged }).then(
          () => null,
          (e) => e,
        );
        assert.ok(
          error instanceof InvalidCursorError || error instanceof TypeError,
          `accepted ${forged}`,
        );
      }
      await assert.rejects(queue.jobs({ tag: "user:1", cursor }), InvalidCursorError);
      await assert.rejects(queue.jobs({ state: "waiting", cursor }), InvalidCursorError);
      await assert.rejects(queue.jobs({ limit: 0 }), RangeError);
      await assert.rejects(queue.jobs({ limit: 1_001 }), RangeError);
      await assert.rejects(queue.jobs({ state: "done" as never }), TypeError);
      await assert.rejects(queue.jobs({ since: 1.5 }), RangeError);
    },
  ],
  [
    "defineJob refuses malformed tags at dispatch, and names with control characters at definition",
    async ({ queue: make }) => {
      const queue = make();
      const bad = (tags: unknown) =>
        defineJob({ name: "bad", schema: v.null(), tags: () => tags as string[], handle() {} });
      for (const tags of [["a\u0000b"], [""], ["x".repeat(201)], "tag", Array(21).fill("t"), [1]]) {
        await assert.rejects(queue.dispatch(bad(tags), null), TypeError);
      }
      assert.throws(
        () => defineJob({ name: "a\u0000b", schema: v.null(), handle() {} }),
        TypeError,
      );
      assert.equal((await queue.counts()).ready, 0);
    },
  ],
  [
    "dedupeFor keeps a completed job's id and unique key reserved for the window, then frees them",
    async ({ clock, queue: make }) => {
      const queue = make();
      const job = tagged();
      const first = await queue.dispatch(job, { user: 1 }, {
        jobId: "webhook-1",
        uniqueKey: "user-1",
        dedupeFor: 60_000,
      });
      assert.equal(first.created, true);
      await quietWorker(queue, { jobs: [job] }).drain();
      clock.advance(30_000);
      assert.deepEqual(await queue.dispatch(job, { user: 1 }, { jobId: "webhook-1" }), {
        id: "webhook-1",
        created: false,
      });
      assert.deepEqual(await queue.dispatch(job, { user: 1 }, { uniqueKey: "user-1" }), {
        id: "webhook-1",
        created: false,
      });
      clock.advance(31_000);
      assert.equal((await queue.dispatch(job, { user: 1 }, { jobId: "webhook-1" })).created, true);
      assert.equal((await queue.dispatch(job, { user: 1 }, { uniqueKey: "user-1" })).created, true);
      await assert.rejects(queue.dispatch(job, { user: 1 }, { dedupeFor: -1 }), RangeError);
    },
  ],
  [
    "without dedupeFor a completed job's id is free at once: a new dispatch replaces the kept job",
    async ({ queue: make }) => {
      const queue = make();
      const job = tagged();
      await queue.dispatch(job, { user: 1 }, { jobId: "j", uniqueKey: "k" });
      await quietWorker(queue, { jobs: [job] }).drain();
      assert.equal((await queue.job("j"))?.state, "completed");
      assert.equal((await queue.dispatch(job, { user: 2 }, { jobId: "j" })).created, true);
      const again = await queue.job("j");
      assert.equal(again?.state, "waiting");
      assert.deepEqual(again?.payload, { user: 2 });
      assert.deepEqual((await all(queue, { tag: "user:1" })).length, 0, "old index entries gone");
      assert.deepEqual((await all(queue, { tag: "user:2" })).map((j) => j.id), ["j"]);
      // A failed job still holds its id (as before): retry it, do not re-dispatch it.
      assert.equal((await queue.dispatch(job, { user: 2 }, { jobId: "j" })).created, false);
    },
  ],
  [
    "remove() deletes waiting, delayed, completed and failed jobs; a forged or unknown id removes nothing",
    async ({ queue: make }) => {
      const queue = make();
      const job = tagged();
      const failed = (await queue.dispatch(job, { user: 1, fail: true })).id;
      const completed = (await queue.dispatch(job, { user: 2 })).id;
      await quietWorker(queue, { jobs: [job] }).drain();
      const waiting = (await queue.dispatch(job, { user: 3 }, { uniqueKey: "u3" })).id;
      const delayed = (await queue.dispatch(job, { user: 4 }, { delay: 60_000 })).id;
      assert.equal(await queue.remove("no-such-job"), false);
      assert.equal(await queue.remove(""), false);
      for (const id of [failed, completed, waiting, delayed]) {
        assert.equal(await queue.remove(id), true, id);
        assert.equal(await queue.job(id), null);
        assert.equal(await queue.remove(id), false, "removed once");
      }
      assert.deepEqual(await all(queue, { tag: "tenant:acme" }), []);
      const counts = await queue.counts();
      assert.deepEqual([counts.ready, counts.delayed, counts.failed], [0, 0, 0]);
      assert.equal((await queue.dispatch(job, { user: 3 }, { uniqueKey: "u3" })).created, true);
    },
  ],
  [
    "remove() of an active job cancels it: ctx.signal aborts with JobCancelledError, it fails without retry, its result is refused",
    async ({ queue: make }) => {
      const queue = make();
      let reason: unknown;
      let started = 0;
      const job = defineJob({
        name: "long",
        schema: v.null(),
        maxRetries: 3,
        async handle(_payload, ctx) {
          started++;
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          reason = ctx.signal.reason;
          return "too late";
        },
      });
      const { id } = await queue.dispatch(job, null);
      const worker = quietWorker(queue, { jobs: [job], leaseDuration: 300 });
      const failures: unknown[] = [];
      worker.on("failed", ({ error }) => failures.push(error));
      await worker.start();
      await waitFor(async () => (await queue.job(id))?.state === "active");
      assert.equal(await queue.remove(id), true);
      await waitFor(() => reason !== undefined);
      await worker.stop();
      assert.ok(reason instanceof JobCancelledError);
      assert.equal(reason.code, "QUEUE_JOB_CANCELLED");
      assert.ok(failures[0] instanceof JobCancelledError);
      const dead = await queue.job(id);
      assert.equal(dead?.state, "failed");
      assert.equal(dead?.errors.at(-1)?.name, "JobCancelledError");
      assert.equal(started, 1, "not retried");
      const counts = await queue.counts();
      assert.deepEqual([counts.active, counts.failed, counts.completed], [0, 1, 0]);
    },
  ],
  [
    "removeAll() racing a worker that completes the same jobs: each job ends once, completed or removed",
    async ({ queue: make }) => {
      const queue = make();
      const job = defineJob({ name: "quick", schema: v.number(), handle: (n) => n });
      const ids = (await queue.dispatchMany(job, Array.from({ length: 200 }, (_, i) => i)))
        .map((r) => r.id);
      const worker = quietWorker(queue, { jobs: [job], concurrency: 20 });
      const [summary, removed] = await Promise.all([
        worker.drain(),
        queue.removeAll({ queue: "default" }),
      ]);
      let completed = 0;
      let gone = 0;
      for (const id of ids) {
        const job = await queue.job(id);
        if (job === null) gone++; // removed while waiting or after completing
        else if (job.state === "completed") completed++;
        else if (job.state === "failed") {
          assert.equal(job.errors.at(-1)?.name, "JobCancelledError"); // removed while active
          gone++;
        } else assert.fail(`job ${id} left ${job.state}`);
      }
      assert.equal(completed + gone, 200);
      assert.equal(removed, gone, "every job removed is counted once");
      assert.equal((await queue.counts()).completed, summary.completed);
      assert.equal((await queue.counts()).active, 0);
    },
  ],
  [
    "promote() runs a delayed job now; retry() and retryAll(query) requeue failed jobs with a fresh budget",
    async ({ queue: make }) => {
      const queue = make();
      const job = tagged();
      const delayed = (await queue.dispatch(job, { user: 1 }, { delay: 3_600_000 })).id;
      assert.equal(await queue.promote("no-such-job"), false);
      assert.equal(await queue.promote(delayed), true);
      assert.equal(await queue.promote(delayed), false, "no longer delayed");
      assert.equal((await queue.job(delayed))?.state, "waiting");
      await quietWorker(queue, { jobs: [job] }).drain();
      const failed = await queue.dispatchMany(job, [
        { user: 2, fail: true },
        { user: 3, fail: true },
        { user: 3, fail: true },
      ]);
      await quietWorker(queue, { jobs: [job] }).drain();
      assert.equal(await queue.retry(delayed), false, "a completed job is not retried");
      assert.equal(await queue.retry(failed[0].id), true);
      const retried = await queue.job(failed[0].id);
      assert.equal(retried?.state, "waiting");
      assert.deepEqual([retried?.attempts, retried?.errors, retried?.logs], [0, [], []]);
      assert.equal(await queue.retryAll({ tag: "user:3" }), 2);
      assert.equal(await queue.retryAll({ tag: "user:3" }), 0);
      assert.equal((await queue.counts()).ready, 3);
    },
  ],
  [
    "pause() on one instance stops a worker on another within a poll; resume() lets it go on; queues() shows it",
    async ({ store, clock }) => {
      const admin = new Queue({ backend: store.backend, clock });
      const remote = new Queue({ backend: store.twin(), clock });
      const job = defineJob({ name: "p", schema: v.number(), queue: "mail", handle() {} });
      const other = defineJob({ name: "o", schema: v.number(), handle() {} });
      await admin.pause("mail");
      await admin.dispatchMany(job, [1, 2, 3]);
      await admin.dispatch(other, 1);
      const worker = quietWorker(remote, {
        jobs: [job, other],
        queues: ["mail", "default"],
        maxPollInterval: 50,
      });
      let done = 0;
      worker.on("completed", () => done++);
      await worker.start();
      try {
        await waitFor(() => done === 1); // the other queue goes on
        await new Promise((resolve) => setTimeout(resolve, 200)); // several polls
        assert.equal(done, 1);
        const summaries = await admin.queues();
        const mail = summaries.find((q) => q.name === "mail");
        assert.equal(mail?.paused, true);
        assert.equal(mail?.counts.ready, 3);
        assert.equal(summaries.find((q) => q.name === "default")?.paused, false);
        await admin.resume("mail");
        await waitFor(() => done === 4);
        assert.equal((await remote.counts("mail")).paused, false);
      } finally {
        await worker.stop();
      }
      await assert.rejects(admin.pause(""), TypeError);
    },
  ],
  [
    "workers() lists a worker by its heartbeat, riding on its polls; a worker that stops beating leaves after its ttl",
    async ({ store, clock }) => {
      const calls: string[] = [];
      const counted = new Proxy(store.backend, {
        get(target, property) {
          const value = Reflect.get(target, property, target);
          if (typeof value !== "function") return value;
          return (...args: unknown[]) => {
            calls.push(String(property));
            return value.apply(target, args);
          };
        },
      });
      const queue = new Queue({ backend: counted, clock });
      const job = defineJob({ name: "w", schema: v.null(), handle() {} });
      await queue.dispatch(job, null); // the queue exists
      const worker = quietWorker(queue, { jobs: [job], concurrency: 3, maxPollInterval: 100 });
      await worker.start();
      try {
        await waitFor(() => calls.filter((c) => c === "take").length >= 4);
        calls.length = 0;
        await new Promise((resolve) => setTimeout(resolve, 300));
        // Idle: only polls went out; the heartbeat added no request of its own.
        assert.deepEqual([...new Set(calls)], ["take"]);
        const observer = new Queue({ backend: store.twin(), clock });
        const [seen] = await observer.workers();
        assert.equal(seen.id, worker.id);
        assert.deepEqual(seen.queues, ["default"]);
        assert.equal(seen.concurrency, 3);
        assert.deepEqual(seen.active, []);
        assert.ok(seen.runtime.length > 0 && seen.host.length > 0);
        assert.equal(seen.lastSeen, clock.time);
      } finally {
        await worker.stop();
      }
      // A worker killed mid-job: its last heartbeat said it ran a job, then nothing more.
      await store.backend.take({
        queue: "default",
        now: clock.time,
        complete: [],
        reserve: 1,
        sweep: true, // every partition of a partitioned queue
        leaseDuration: 60_000,
        token: crypto.randomUUID(),
        worker: "doomed",
        heartbeat: {
          info: {
            id: "doomed",
            host: "h",
            runtime: "r",
            queues: ["default"],
            concurrency: 1,
            active: ["some-job"],
            startedAt: clock.time,
          },
          ttl: 30_000,
        },
      });
      assert.deepEqual(
        (await queue.workers()).map((w) => w.id).sort(),
        ["doomed", worker.id].sort(),
      );
      assert.deepEqual((await queue.workers()).find((w) => w.id === "doomed")?.active, [
        "some-job",
      ]);
      clock.advance(30_001);
      assert.deepEqual(await queue.workers(), [], "both are past their ttl");
    },
  ],
  [
    "metrics() counts per minute and hour, with run- and wait-time percentiles from known durations",
    async ({ store, clock, queue: make }) => {
      const queue = make();
      const job = defineJob({ name: "m", schema: v.number(), handle() {} });
      const due = clock.time;
      await queue.dispatchMany(job, Array.from({ length: 100 }, (_, i) => i));
      clock.advance(2_000); // every job waits 2 s
      const token = crypto.randomUUID();
      const taken = await store.backend.take({
        queue: "default",
        now: clock.time,
        complete: [],
        reserve: 100,
        sweep: true, // every partition of a partitioned queue
        leaseDuration: 60_000,
        token,
      });
      assert.equal(taken.jobs.length, 100);
      await store.backend.take({
        queue: "default",
        now: clock.time,
        complete: taken.jobs.map((j, i) => ({ id: j.id, token, runTime: i + 1 })), // 1..100 ms
        reserve: 0,
        leaseDuration: 60_000,
        token: crypto.randomUUID(),
      });
      const flaky = defineJob({
        name: "flaky",
        schema: v.null(),
        maxRetries: 1,
        backoff: { type: "fixed", delay: 0 },
        handle() {
          throw new Error("no");
        },
      });
      await queue.dispatch(flaky, null);
      await quietWorker(queue, { jobs: [flaky] }).drain();
      const [point] = await queue.metrics({ queue: "default", since: due });
      assert.equal(point.at, Math.floor(clock.time / 60_000) * 60_000);
      assert.deepEqual(
        [point.completed, point.failed, point.retried, point.stalled],
        [100, 1, 1, 0],
      );
      assert.equal(point.run.count, 102);
      assert.deepEqual([point.run.p50, point.run.p95, point.run.p99], [50, 100, 100]);
      assert.equal(point.wait.count, 101);
      assert.deepEqual([point.wait.p50, point.wait.p95, point.wait.p99], [2_500, 2_500, 2_500]);
      const [hour] = await queue.metrics({ resolution: "hour" });
      assert.equal(hour.completed, 100);
      // A day later the minute is trimmed as the next one is written; the hour is kept 30 days.
      clock.advance(86_400_000 + 60_000);
      await queue.dispatch(job, 1);
      await quietWorker(queue, { jobs: [job] }).drain();
      const minutes = await queue.metrics({ queue: "default", since: due, until: clock.time });
      assert.deepEqual(minutes.map((p) => p.completed), [1]);
      const hours = await queue.metrics({ resolution: "hour", since: due, until: clock.time });
      assert.deepEqual(hours.map((p) => p.completed), [100, 1]);
      await assert.rejects(queue.metrics({ resolution: "day" as never }), TypeError);
      await assert.rejects(queue.metrics({ since: Number.NaN }), RangeError);
    },
  ],
  [
    "search: false and metrics: false: found by id and state only, no run record, nothing counted",
    async ({ clock, queue: make }) => {
      const plain = make({ search: false, metrics: false, retain: { completed: false } });
      const job = tagged();
      const { id } = await plain.dispatch(job, { user: 7 });
      const failing = await plain.dispatch(job, { user: 8, fail: true });
      // Not indexed: a search by name, tag or dispatch time does not find them.
      assert.deepEqual(await all(plain, { tag: "user:7" }), []);
      assert.deepEqual(await all(plain, { name: "invoice" }), []);
      assert.deepEqual(await all(plain, { since: 0 }), []);
      assert.deepEqual(
        (await all(plain, { state: "waiting" })).map((j) => j.id).sort(),
        [
          id,
          failing.id,
        ].sort(),
      );
      assert.equal((await plain.job(id))?.state, "waiting");
      const worker = quietWorker(plain, { jobs: [job] });
      assert.deepEqual(
        await worker.drain().then((s) => [s.completed, s.failed]),
        [1, 1],
      );
      assert.equal(await plain.job(id), null, "completed: false deletes it");
      const dead = await plain.job(failing.id);
      assert.equal(dead?.state, "failed");
      assert.deepEqual(dead?.tags, ["user:8", "tenant:acme"], "the record keeps its tags");
      assert.equal(dead?.startedAt, null);
      assert.equal(dead?.workerId, null);
      assert.deepEqual(await plain.metrics({ queue: "default", since: 0 }), []);
      // The same store with the features on indexes and counts the jobs it dispatches from now on.
      const full = make();
      const later = await full.dispatch(job, { user: 7 });
      assert.deepEqual((await all(full, { tag: "user:7" })).map((j) => j.id), [later.id]);
      await quietWorker(full, { jobs: [job] }).drain();
      assert.equal((await full.job(later.id))?.startedAt, clock.time);
      const [point] = await full.metrics({ queue: "default", since: 0 });
      assert.equal(point.completed, 1);
    },
  ],
  [
    "events() on one instance hears another instance's jobs change state, and stops when aborted",
    async ({ store, clock }) => {
      const watcher = new Queue({ backend: store.backend, clock });
      const other = new Queue({ backend: store.twin(), clock });
      const job = defineJob({ name: "e", schema: v.null(), handle() {} });
      const controller = new AbortController();
      const events = watcher.events({ queues: ["default"], signal: controller.signal });
      await events.ready;
      const { id } = await other.dispatch(job, null);
      await quietWorker(other, { jobs: [job] }).drain();
      assert.equal(await other.remove(id), true);
      const seen: JobEvent[] = [];
      for await (const event of events) {
        seen.push(event);
        if (event.state === "removed") controller.abort();
      }
      assert.deepEqual(seen.map((e) => [e.id, e.state]), [
        [id, "waiting"],
        [id, "active"],
        [id, "completed"],
        [id, "removed"],
      ]);
      assert.ok(seen.every((e) => e.queue === "default" && e.at === clock.time));
    },
  ],
];

/**
 * Runs every operating case as a step of `t`, each on a fresh store.
 *
 * @param t The test context.
 * @param make Creates an empty store.
 * @param options Whether the store partitions its queues.
 */
export async function runOperateConformance(
  t: Deno.TestContext,
  make: StoreFactory,
  options: { partitioned?: boolean } = {},
): Promise<void> {
  for (const [name, fn] of cases) {
    await t.step({
      name,
      ignore: options.partitioned === true && ONE_PARTITION.has(name),
      fn: async () => {
        const store = await make();
        const clock = new FakeClock();
        await fn({
          store,
          clock,
          queue: (options = {}) => new Queue({ backend: store.backend, clock, ...options }),
        });
      },
    });
  }
}

/**
 * Cases a partitioned queue answers otherwise, by design (docs/QUEUES.md,
 * "Partitions"): retention counts hold per partition, and a job with a
 * `uniqueKey` cannot take a `jobId`. They run as ignored steps there;
 * tests/queue/partitions_*_test.ts check what a partitioned queue does instead.
 */
const ONE_PARTITION = new Set([
  "completed jobs beyond retain's count, or older than its age, are trimmed with their index entries",
  "dedupeFor keeps a completed job's id and unique key reserved for the window, then frees them",
  "without dedupeFor a completed job's id is free at once: a new dispatch replaces the kept job",
]);
