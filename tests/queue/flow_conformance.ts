/**
 * Flow control per key (issue 16), written once and run against MemoryBackend
 * and RedisBackend (through the real HTTP gateway): per-key concurrency and
 * rate limits enforced when a job is taken, fairness across keys, debounce and
 * throttle at dispatch. Time is a hand-moved clock; jobs are taken and ended
 * through the backend's own calls, so each case reads exactly what one worker
 * round trip would get.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue } from "../../src/queue/mod.ts";
import type { QueueBackend } from "../../src/queue/backend_mod.ts";
import type { StoredJob } from "../../src/queue/mod.ts";
import { FakeClock, quietWorker } from "./_helpers.ts";

/** Creates a fresh, empty backend for one case. */
export type BackendFactory = () => QueueBackend | Promise<QueueBackend>;

interface Setup {
  backend: QueueBackend;
  clock: FakeClock;
  queue: Queue;
}

type Case = [name: string, fn: (setup: Setup) => Promise<void>];

const schema = v.object({ tenant: v.string(), n: v.number() });

function limited(limit: number) {
  return defineJob({
    name: "limited",
    schema,
    concurrency: { key: (payload) => payload.tenant, limit },
    handle() {},
  });
}

function rated(limit: number, per: number) {
  return defineJob({
    name: "rated",
    schema,
    rateLimit: { key: (payload) => payload.tenant, limit, per },
    handle() {},
  });
}

const plain = defineJob({ name: "plain", schema, handle() {} });

/** One worker round trip: completes `complete`, then reserves up to `reserve`. */
async function take(
  { backend, clock }: Setup,
  reserve: number,
  complete: readonly StoredJob[] = [],
  leases = new Map<string, string>(),
) {
  const token = crypto.randomUUID();
  const result = await backend.take({
    queue: "default",
    now: clock.now(),
    complete: complete.map((job) => ({ id: job.id, token: leases.get(job.id)!, flow: job.flow })),
    reserve,
    leaseDuration: 60_000,
    token,
  });
  for (const job of result.jobs) leases.set(job.id, token);
  return result;
}

/** The payloads of taken jobs, as "tenant:n". */
function names(jobs: readonly StoredJob[]): string[] {
  return jobs.map((job) => {
    const { tenant, n } = job.payload as { tenant: string; n: number };
    return `${tenant}:${n}`;
  });
}

function payloads(tenant: string, count: number, from = 1) {
  return Array.from({ length: count }, (_, i) => ({ tenant, n: from + i }));
}

const cases: Case[] = [
  [
    "concurrency: at most `limit` jobs of a key are taken at once, the rest wait without an attempt, and other keys overtake them",
    async (setup) => {
      const { queue } = setup;
      const job = limited(2);
      await queue.dispatchMany(job, payloads("a", 5));
      await queue.dispatch(job, { tenant: "b", n: 1 });
      const leases = new Map<string, string>();
      const first = await take(setup, 10, [], leases);
      assert.deepEqual(names(first.jobs).sort(), ["a:1", "a:2", "b:1"]);
      assert.deepEqual(await queue.counts(), {
        ready: 3,
        delayed: 0,
        active: 3,
        failed: 0,
        completed: 0,
        paused: false,
      });
      assert.deepEqual(names((await take(setup, 10, [], leases)).jobs), [], "a is at its limit");
      // One of a's ends: exactly one more of a's starts, in dispatch order, on its first attempt.
      const a1 = first.jobs.find((j) => names([j])[0] === "a:1")!;
      const next = await take(setup, 10, [a1], leases);
      assert.deepEqual(names(next.jobs), ["a:3"]);
      assert.equal(next.jobs[0].attempts, 1);
      // a:4 and a:5 wait: found by name (or id) as waiting; the plain waiting listing reads
      // the line, which a key at its limit has no job in.
      const byName = await queue.jobs({ name: "limited", limit: 10 });
      assert.deepEqual(
        byName.jobs.filter((j) => j.state === "waiting").map((j) => names([j])[0]).sort(),
        ["a:4", "a:5"],
      );
      assert.deepEqual(names((await queue.jobs({ state: "waiting", limit: 10 })).jobs), []);
    },
  ],
  [
    "fairness: a key with 1,000 queued jobs does not hold back another key's single job by more than one job per slot",
    async (setup) => {
      const { queue } = setup;
      const job = limited(5);
      await queue.dispatchMany(job, payloads("busy", 1_000));
      await queue.dispatch(job, { tenant: "quiet", n: 1 });
      // Five slots, all free: the quiet key's job is among the first five started.
      const leases = new Map<string, string>();
      const first = await take(setup, 5, [], leases);
      assert.ok(names(first.jobs).includes("quiet:1"), names(first.jobs).join());
      // Every slot busy with the busy key, then one more quiet job: it starts with the
      // very next free slot, ahead of the busy key's 995 waiting jobs.
      let running = first.jobs.filter((j) => names([j])[0] !== "quiet:1");
      const quietDone = first.jobs.find((j) => names([j])[0] === "quiet:1")!;
      const refill = await take(setup, 1, [quietDone], leases);
      assert.deepEqual(names(refill.jobs), ["busy:5"]);
      running = [...running, ...refill.jobs];
      await queue.dispatch(job, { tenant: "quiet", n: 2 });
      const afterOne = await take(setup, 1, [running[0]], leases);
      assert.deepEqual(names(afterOne.jobs), ["quiet:2"]);
    },
  ],
  [
    "concurrency: a slot frees when its job fails, is retried, is cancelled or its lease ends (a stall)",
    async (setup) => {
      const { queue, backend, clock } = setup;
      const job = limited(1);
      await queue.dispatchMany(job, payloads("a", 5));
      const leases = new Map<string, string>();
      const [a1] = (await take(setup, 5, [], leases)).jobs;
      assert.deepEqual(names([a1]), ["a:1"]);
      // Retried: the slot frees; the retry waits behind the key's next job.
      assert.equal(
        await backend.fail({
          queue: "default",
          id: a1.id,
          token: leases.get(a1.id)!,
          now: clock.now(),
          outcome: "retry",
          runAt: clock.now(),
        }),
        "retried",
      );
      const [a2] = (await take(setup, 5, [], leases)).jobs;
      assert.deepEqual(names([a2]), ["a:2"]);
      // Cancelled by an operator: the slot frees.
      assert.equal(await queue.remove(a2.id, "default"), true);
      const [a3] = (await take(setup, 5, [], leases)).jobs;
      assert.deepEqual(names([a3]), ["a:3"], "the retried job went to the back of its key's line");
      // Its lease ends (the worker died): the stall frees the slot, and a job runs again.
      assert.deepEqual(
        await backend.extend("default", [{ id: a3.id, token: leases.get(a3.id)! }], 0, clock.now()),
        [],
      );
      clock.advance(1);
      const again = await take(setup, 5, [], leases);
      assert.deepEqual(again.stalled, [a3.id]);
      assert.equal(again.jobs.length, 1);
      // Dead-lettered: the slot frees.
      const held = again.jobs[0];
      assert.equal(
        await backend.fail({
          queue: "default",
          id: held.id,
          token: leases.get(held.id)!,
          now: clock.now(),
          outcome: "dead",
          runAt: clock.now(),
        }),
        "failed",
      );
      assert.equal((await take(setup, 5, [], leases)).jobs.length, 1);
    },
  ],
  [
    "concurrency: removing the job whose turn it is, or a parked one, never leaves the key stuck",
    async (setup) => {
      const { queue } = setup;
      const job = limited(1);
      const ids = (await queue.dispatchMany(job, payloads("a", 4))).map((r) => r.id);
      // a:1's turn (in line), a:2 and a:3 parked: remove a:1 and a:3.
      assert.equal((await queue.job(ids[2], "default"))?.state, "waiting");
      assert.equal(await queue.remove(ids[0], "default"), true);
      assert.equal(await queue.remove(ids[2], "default"), true);
      assert.equal(await queue.job(ids[2], "default"), null);
      const leases = new Map<string, string>();
      const first = await take(setup, 5, [], leases);
      assert.deepEqual(names(first.jobs), ["a:2"]);
      assert.deepEqual(names((await take(setup, 5, first.jobs, leases)).jobs), ["a:4"]);
      assert.equal((await queue.counts()).ready, 0);
    },
  ],
  [
    "rate limit: at most `limit` starts per key in any window of `per` ms, the next due when the window allows it, other keys unaffected",
    async (setup) => {
      const { queue, clock } = setup;
      const job = rated(3, 1_000);
      await queue.dispatchMany(job, payloads("a", 7));
      await queue.dispatch(plain, { tenant: "x", n: 1 });
      const start = clock.now();
      const first = await take(setup, 10);
      // The key's next job goes to the back of the line as one starts: x overtakes it.
      assert.deepEqual(names(first.jobs), ["a:1", "x:1", "a:2", "a:3"]);
      assert.equal(
        first.nextDueAt,
        start + 1_000,
        "the worker may sleep until the window allows a:4",
      );
      clock.advance(600);
      const mid = await take(setup, 10);
      assert.deepEqual(names(mid.jobs), []);
      assert.equal(mid.nextDueAt, start + 1_000);
      clock.advance(399);
      assert.deepEqual(names((await take(setup, 10)).jobs), []);
      clock.advance(1);
      assert.deepEqual(names((await take(setup, 10)).jobs), ["a:4", "a:5", "a:6"]);
      clock.advance(500);
      assert.deepEqual(names((await take(setup, 10)).jobs), []);
      clock.advance(500);
      const last = await take(setup, 10);
      assert.deepEqual(names(last.jobs), ["a:7"]);
      assert.equal((await queue.counts()).ready + (await queue.counts()).delayed, 0);
    },
  ],
  [
    "rate limit: the window slides, so starts spread over it free up one by one",
    async (setup) => {
      const { queue, clock } = setup;
      const job = rated(2, 1_000);
      const start = clock.now();
      await queue.dispatch(job, { tenant: "a", n: 1 });
      assert.deepEqual(names((await take(setup, 10)).jobs), ["a:1"]);
      clock.advance(400);
      await queue.dispatchMany(job, payloads("a", 3, 2));
      const second = await take(setup, 10);
      assert.deepEqual(names(second.jobs), ["a:2"]);
      assert.equal(second.nextDueAt, start + 1_000, "a:1's start leaves the window first");
      clock.advance(600);
      const third = await take(setup, 10);
      assert.deepEqual(names(third.jobs), ["a:3"]);
      assert.equal(third.nextDueAt, start + 1_400);
      clock.advance(400);
      assert.deepEqual(names((await take(setup, 10)).jobs), ["a:4"]);
    },
  ],
  [
    "concurrency and rate limit together: a job starts only when both allow it",
    async (setup) => {
      const { queue, clock } = setup;
      const job = defineJob({
        name: "both",
        schema,
        concurrency: { key: (payload) => payload.tenant, limit: 1 },
        rateLimit: { key: (payload) => payload.tenant, limit: 2, per: 1_000 },
        handle() {},
      });
      const start = clock.now();
      await queue.dispatchMany(job, payloads("a", 4));
      const leases = new Map<string, string>();
      const first = await take(setup, 10, [], leases);
      assert.deepEqual(names(first.jobs), ["a:1"]);
      clock.advance(10);
      const second = await take(setup, 10, first.jobs, leases);
      assert.deepEqual(names(second.jobs), ["a:2"]);
      clock.advance(10);
      const third = await take(setup, 10, second.jobs, leases);
      assert.deepEqual(names(third.jobs), [], "the slot is free, the window is not");
      assert.equal(third.nextDueAt, start + 1_000);
      clock.advance(980);
      assert.deepEqual(names((await take(setup, 10, [], leases)).jobs), ["a:3"]);
      assert.deepEqual(names((await take(setup, 10, [], leases)).jobs), [], "a:3 holds the slot");
    },
  ],
  [
    "concurrency and rate limit together: a key's long line waiting on its window costs a bounded number of polls, then the worker may sleep until the window",
    async (setup) => {
      const { queue, clock } = setup;
      const job = defineJob({
        name: "both",
        schema,
        concurrency: { key: (payload) => payload.tenant, limit: 1 },
        rateLimit: { key: (payload) => payload.tenant, limit: 1, per: 60_000 },
        handle() {},
      });
      const start = clock.now();
      await queue.dispatchMany(job, payloads("a", 1_500));
      const leases = new Map<string, string>();
      const first = await take(setup, 10, [], leases);
      assert.deepEqual(names(first.jobs), ["a:1"]);
      clock.advance(10);
      // a:1 ends: the slot is free, the window is not. Each job of a's concurrency line
      // then moves to its rate line (the two keys could differ: a job whose rate key is
      // free must not wait behind one whose key is not); a take moves up to 1,000 on
      // Redis and says "now" while more are due, so a worker polls a few times, then
      // sleeps until the window.
      let next = await take(setup, 10, first.jobs, leases);
      let polls = 1;
      while (next.nextDueAt !== null && next.nextDueAt <= clock.now() && polls < 10) {
        assert.deepEqual(names(next.jobs), []);
        next = await take(setup, 10, [], leases);
        polls++;
      }
      assert.deepEqual(names(next.jobs), []);
      assert.equal(next.nextDueAt, start + 60_000);
      assert.ok(polls <= 2, `${polls} polls`);
      clock.advance(60_000);
      assert.deepEqual(names((await take(setup, 10, [], leases)).jobs), ["a:2"]);
      const counts = await queue.counts();
      assert.equal(counts.ready + counts.delayed, 1_498);
    },
  ],
  [
    "debounce: dispatches within the delay collapse into one job that runs `delay` after the last, with the last payload",
    async (setup) => {
      const { queue, clock } = setup;
      const start = clock.now();
      const debounce = { key: "doc-7", delay: 1_000 };
      const first = await queue.dispatch(plain, { tenant: "a", n: 1 }, { debounce });
      assert.equal(first.created, true);
      clock.advance(500);
      const second = await queue.dispatch(plain, { tenant: "a", n: 2 }, { debounce });
      assert.deepEqual(second, { id: first.id, created: false });
      // Another key is its own job.
      const other = await queue.dispatch(plain, { tenant: "b", n: 1 }, {
        debounce: { key: "doc-8", delay: 1_000 },
      });
      assert.equal(other.created, true);
      clock.advance(999);
      const early = await take(setup, 10);
      assert.deepEqual(names(early.jobs), []);
      assert.equal(early.nextDueAt, start + 1_500);
      clock.advance(1);
      const due = await take(setup, 10);
      assert.deepEqual(due.jobs.map((j) => j.id), [first.id, other.id]);
      assert.deepEqual(names(due.jobs), ["a:2", "b:1"]);
      // Once it started, the next dispatch is a new job.
      const next = await queue.dispatch(plain, { tenant: "a", n: 3 }, { debounce });
      assert.equal(next.created, true);
      assert.notEqual(next.id, first.id);
      assert.equal((await queue.counts()).delayed, 1);
    },
  ],
  [
    "debounce with maxWait: a steady stream of dispatches runs the job maxWait after the first, with the last payload, then starts a new series",
    async (setup) => {
      const { queue, clock } = setup;
      const start = clock.now();
      const debounce = { key: "doc-7", delay: 1_000, maxWait: 2_500 };
      const first = await queue.dispatch(plain, { tenant: "a", n: 1 }, { debounce });
      for (const n of [2, 3]) {
        clock.advance(900);
        assert.deepEqual(await queue.dispatch(plain, { tenant: "a", n }, { debounce }), {
          id: first.id,
          created: false,
        });
      }
      // Without maxWait it would run at start + 2,800; the longest wait ends at start + 2,500.
      clock.advance(699);
      const early = await take(setup, 10);
      assert.deepEqual(names(early.jobs), []);
      assert.equal(early.nextDueAt, start + 2_500);
      clock.advance(1);
      const due = await take(setup, 10);
      assert.deepEqual(due.jobs.map((j) => j.id), [first.id]);
      assert.deepEqual(names(due.jobs), ["a:3"]);
      assert.deepEqual(due.jobs[0].flow?.debounce, {
        key: "plain:doc-7",
        delay: 1_000,
        maxWait: 2_500,
      });
      // The next dispatch opens a new series with its own longest wait; one without
      // maxWait on the same key after it is not bound by the earlier deadline.
      const next = await queue.dispatch(plain, { tenant: "a", n: 4 }, { debounce });
      assert.notEqual(next.id, first.id);
      clock.advance(2_500);
      assert.deepEqual(names((await take(setup, 10)).jobs), ["a:4"]);
      const plainDebounce = { key: "doc-7", delay: 1_000 };
      const third = await queue.dispatch(plain, { tenant: "a", n: 5 }, { debounce: plainDebounce });
      clock.advance(900);
      await queue.dispatch(plain, { tenant: "a", n: 6 }, { debounce: plainDebounce });
      clock.advance(999);
      assert.deepEqual(names((await take(setup, 10)).jobs), []);
      clock.advance(1);
      const last = await take(setup, 10);
      assert.deepEqual(last.jobs.map((j) => j.id), [third.id]);
      assert.deepEqual(names(last.jobs), ["a:6"]);
      // Folds after the longest wait's end keep that run-at: the job runs once.
      const capped = { key: "doc-9", delay: 400, maxWait: 500 };
      await queue.dispatch(plain, { tenant: "a", n: 10 }, { debounce: capped });
      clock.advance(450);
      await queue.dispatch(plain, { tenant: "a", n: 11 }, { debounce: capped });
      clock.advance(10);
      await queue.dispatch(plain, { tenant: "a", n: 12 }, { debounce: capped });
      clock.advance(100);
      assert.deepEqual(names((await take(setup, 10)).jobs), ["a:12"]);
      assert.equal((await queue.counts()).ready, 0);
      // maxWait below delay cannot be met: refused.
      await assert.rejects(
        queue.dispatch(plain, { tenant: "a", n: 7 }, {
          debounce: { key: "x", delay: 100, maxWait: 99 },
        }),
        RangeError,
      );
    },
  ],
  [
    "debounce: the folded job looks like the last dispatch (payload, priority, tags, flow keys) and keeps the first's id and dispatch time; a search by tag finds it by its new tag only",
    async (setup) => {
      const { queue, clock } = setup;
      const start = clock.now();
      const tagged = defineJob({
        name: "tagged",
        schema,
        tags: (payload) => [`tenant:${payload.tenant}`],
        concurrency: { key: (payload) => payload.tenant, limit: 1 },
        handle() {},
      });
      const ids = async (query: Parameters<Queue["jobs"]>[0]) =>
        (await queue.jobs(query)).jobs.map((job) => job.id);
      const debounce = { key: "doc-7", delay: 1_000 };
      const first = await queue.dispatch(tagged, { tenant: "a", n: 1 }, {
        debounce,
        priority: "low",
      });
      clock.advance(500);
      const second = await queue.dispatch(tagged, { tenant: "b", n: 2 }, {
        debounce,
        priority: "high",
      });
      assert.deepEqual(second, { id: first.id, created: false });
      const info = await queue.job(first.id);
      assert.deepEqual(
        [info?.state, info?.payload, info?.priority, info?.tags, info?.createdAt, info?.runAt],
        ["delayed", { tenant: "b", n: 2 }, "high", ["tenant:b"], start, start + 1_500],
      );
      assert.deepEqual(info?.flow?.concurrency, { key: "tagged:b", limit: 1 });
      assert.deepEqual(await ids({ tag: "tenant:b" }), [first.id]);
      assert.deepEqual(await ids({ tag: "tenant:a" }), []);
      assert.deepEqual(await ids({ name: "tagged" }), [first.id]);
      // Found by its first dispatch's time, the time it keeps.
      assert.deepEqual(await ids({ since: start, until: start + 1 }), [first.id]);
      assert.deepEqual(await ids({ since: start + 1 }), []);
      // A second key's job folded a -> b -> c, then removed: no search finds it.
      const other = { key: "doc-8", delay: 1_000 };
      const removed = await queue.dispatch(tagged, { tenant: "a", n: 10 }, { debounce: other });
      await queue.dispatch(tagged, { tenant: "b", n: 11 }, { debounce: other });
      await queue.dispatch(tagged, { tenant: "c", n: 12 }, { debounce: other });
      assert.deepEqual(await ids({ tag: "tenant:c" }), [removed.id]);
      assert.deepEqual(await ids({ tag: "tenant:b" }), [first.id]);
      assert.equal(await queue.remove(removed.id, "default"), true);
      assert.deepEqual(await ids({ tag: "tenant:c" }), []);
      assert.deepEqual(await ids({ name: "tagged" }), [first.id]);
      // Its new band: due with a normal job dispatched before it, it goes first.
      await queue.dispatch(plain, { tenant: "p", n: 0 }, { delay: 1_000 });
      clock.advance(1_000);
      const due = await take(setup, 1);
      assert.deepEqual(due.jobs.map((job) => [job.id, job.priority]), [[first.id, "high"]]);
      assert.deepEqual(names(due.jobs), ["b:2"]);
      assert.deepEqual(due.jobs[0].tags, ["tenant:b"]);
      // It holds b's slot, not a's: b's next job waits, a's runs.
      await queue.dispatch(tagged, { tenant: "b", n: 3 });
      await queue.dispatch(tagged, { tenant: "a", n: 4 });
      assert.deepEqual(names((await take(setup, 10)).jobs), ["p:0", "a:4"]);
    },
  ],
  [
    "debounce: replays of folded dispatches (the HTTP client retrying) change nothing: not after a later fold, nor once the job started; the first's still answers `created`",
    async (setup) => {
      const { backend, clock } = setup;
      const job = (id: string, n: number, token: string) => ({
        id,
        name: "plain",
        queue: "default",
        maxRetries: 3,
        flow: { debounce: { key: "plain:doc", delay: 1_000 } },
        payload: JSON.stringify({ tenant: "a", n }),
        priority: "normal" as const,
        createdAt: clock.now(),
        runAt: clock.now() + 1_000,
        dispatchToken: token,
      });
      const send = (...jobs: ReturnType<typeof job>[]) =>
        backend.enqueue("default", jobs, clock.now());
      const payload = async () => (await backend.getJob("default", "first"))?.payload;
      const first = job("first", 1, "t1");
      assert.deepEqual(await send(first), [{ id: "first", created: true }]);
      clock.advance(10);
      const second = job("second", 2, "t2");
      assert.deepEqual(await send(second), [{ id: "first", created: false }]);
      // Both calls again, as after lost answers.
      assert.deepEqual(await send(first), [{ id: "first", created: true }]);
      assert.deepEqual(await send(second), [{ id: "first", created: false }]);
      assert.deepEqual(await payload(), { tenant: "a", n: 2 });
      clock.advance(10);
      assert.deepEqual(await send(job("third", 3, "t3")), [{ id: "first", created: false }]);
      // The second's retry comes in after the third: the job keeps the third's payload and run-at.
      clock.advance(10);
      assert.deepEqual(await send(second), [{ id: "first", created: false }]);
      assert.deepEqual(await payload(), { tenant: "a", n: 3 });
      assert.equal((await backend.getJob("default", "first"))?.runAt, clock.now() - 10 + 1_000);
      clock.advance(990);
      const taken = await take(setup, 10);
      assert.deepEqual([taken.jobs.map((j) => j.id), names(taken.jobs)], [["first"], ["a:3"]]);
      // Once it started, a retry of a dispatch it folded is no new job either.
      assert.deepEqual(await send(second), [{ id: "first", created: false }]);
      const counts = await backend.counts("default");
      assert.deepEqual([counts.ready, counts.delayed, counts.active], [0, 0, 1]);
      assert.equal(await backend.getJob("default", "second"), null);
    },
  ],
  [
    "throttle: the first dispatch runs, the rest within the window are dropped with its id; the next window runs again",
    async (setup) => {
      const { queue, clock } = setup;
      const throttle = { key: "user-1", window: 1_000 };
      const first = await queue.dispatch(plain, { tenant: "a", n: 1 }, { throttle });
      assert.equal(first.created, true);
      clock.advance(999);
      assert.deepEqual(await queue.dispatch(plain, { tenant: "a", n: 2 }, { throttle }), {
        id: first.id,
        created: false,
      });
      assert.equal(
        (await queue.dispatch(plain, { tenant: "a", n: 3 }, {
          throttle: { key: "user-2", window: 1_000 },
        }))
          .created,
        true,
      );
      clock.advance(1);
      const later = await queue.dispatch(plain, { tenant: "a", n: 4 }, { throttle });
      assert.equal(later.created, true);
      assert.deepEqual(names((await take(setup, 10)).jobs), ["a:1", "a:3", "a:4"]);
    },
  ],
  [
    "flow options are checked: at definition, and at dispatch before anything is enqueued",
    async ({ queue }) => {
      const base = { name: "bad", schema, handle() {} };
      assert.throws(
        () => defineJob({ ...base, concurrency: { key: (p) => p.tenant, limit: 0 } }),
        RangeError,
      );
      assert.throws(
        () => defineJob({ ...base, concurrency: { key: "tenant" as never, limit: 1 } }),
        TypeError,
      );
      assert.throws(
        () => defineJob({ ...base, rateLimit: { key: (p) => p.tenant, limit: 1_001, per: 1_000 } }),
        RangeError,
      );
      assert.throws(
        () => defineJob({ ...base, rateLimit: { key: (p) => p.tenant, limit: 1, per: 0.5 } }),
        RangeError,
      );
      const job = limited(1);
      await assert.rejects(queue.dispatch(job, { tenant: "", n: 1 }), TypeError);
      await assert.rejects(queue.dispatch(job, { tenant: "x".repeat(201), n: 1 }), TypeError);
      await assert.rejects(
        queue.dispatch(plain, { tenant: "a", n: 1 }, {
          debounce: { key: "k", delay: 1_000 },
          delay: 5,
        }),
        TypeError,
      );
      await assert.rejects(
        queue.dispatch(plain, { tenant: "a", n: 1 }, { debounce: { key: "k", delay: -1 } }),
        RangeError,
      );
      await assert.rejects(
        queue.dispatch(plain, { tenant: "a", n: 1 }, { throttle: { key: "k", window: 0 } }),
        RangeError,
      );
      // On a partitioned queue a key's jobs would spread over partitions: refused.
      const spread = new Queue({ backend: queue.backend, partitions: { spread: 2 } });
      const elsewhere = defineJob({
        ...base,
        queue: "spread",
        concurrency: { key: (p) => p.tenant, limit: 1 },
      });
      await assert.rejects(spread.dispatch(elsewhere, { tenant: "a", n: 1 }), TypeError);
      await assert.rejects(
        spread.dispatch(defineJob({ ...base, queue: "spread" }), { tenant: "a", n: 1 }, {
          throttle: { key: "k", window: 10 },
        }),
        TypeError,
      );
      assert.equal((await spread.counts("spread")).ready, 0);
      // A hostile key (quotes, slashes, spaces, NUL, braces) is only a key.
      const odd = '"} r/1/1/x \u0000 {"f":"c/1/y"}';
      await queue.dispatchMany(job, [{ tenant: odd, n: 1 }, { tenant: odd, n: 2 }]);
      await queue.dispatch(plain, { tenant: ',"f":"c/1/x"', n: 3 });
      assert.deepEqual((await queue.counts()).ready, 3);
    },
  ],
  [
    "a batch cancelled while a member holds its key's slot frees the slot, and its members waiting on the key leave their line",
    async (setup) => {
      const { queue } = setup;
      const job = limited(1);
      const batch = await queue.batch(payloads("k", 3).map((p) => [job, p] as const));
      const leases = new Map<string, string>();
      const first = await take(setup, 10, [], leases);
      assert.deepEqual(names(first.jobs), ["k:1"]);
      assert.equal(await queue.cancelBatch(batch.id), true);
      // k:2 (its turn) and k:3 (parked) were pending: removed, not left to run.
      assert.equal((await queue.counts()).ready, 0);
      await queue.dispatch(job, { tenant: "k", n: 9 });
      assert.deepEqual(
        names((await take(setup, 10, [], leases)).jobs),
        ["k:9"],
        "k's slot is free",
      );
      assert.equal((await queue.counts()).ready, 0);
    },
  ],
  [
    "a job handed back unstarted (a stopping worker) gives its start back to its key's rate window",
    async (setup) => {
      const { queue, backend, clock } = setup;
      const job = rated(1, 60_000);
      await queue.dispatchMany(job, payloads("a", 2));
      const leases = new Map<string, string>();
      const [a1] = (await take(setup, 10, [], leases)).jobs;
      assert.equal(
        await backend.fail({
          queue: "default",
          id: a1.id,
          token: leases.get(a1.id)!,
          now: clock.now(),
          outcome: "release",
          runAt: clock.now(),
          undoAttempt: true,
        }),
        "released",
      );
      clock.advance(1);
      const again = await take(setup, 10, [], leases);
      assert.deepEqual(names(again.jobs), ["a:1"], "a:1 starts again at once");
      assert.equal(again.jobs[0].attempts, 1);
      assert.deepEqual(
        names((await take(setup, 10, [], leases)).jobs),
        [],
        "then the window is used",
      );
    },
  ],
  [
    "a key that is not well-formed Unicode (a lone surrogate) is refused with a TypeError",
    async ({ queue }) => {
      await assert.rejects(queue.dispatch(limited(1), { tenant: "a\uD800", n: 1 }), TypeError);
      await assert.rejects(
        queue.dispatch(plain, { tenant: "a", n: 1 }, { throttle: { key: "\uDC00", window: 10 } }),
        TypeError,
      );
      assert.equal((await queue.counts()).ready, 0);
    },
  ],
  [
    "drain() does not call the queue empty while a due job waits behind 1,000 jobs parked in one take",
    async (setup) => {
      const { queue, clock } = setup;
      const ran: string[] = [];
      const job = defineJob({
        name: "limited",
        schema,
        concurrency: { key: (payload) => payload.tenant, limit: 1 },
        handle: (payload) => void ran.push(`${payload.tenant}:${payload.n}`),
      });
      await queue.dispatch(job, { tenant: "busy", n: 0 });
      // Another worker holds busy's only slot for a minute.
      assert.equal((await take(setup, 1)).jobs.length, 1);
      // A scheduled burst of busy's jobs, and a quiet key's job due just after them.
      await queue.dispatchMany(job, payloads("busy", 1_000), { delay: 1_000 });
      clock.advance(1);
      await queue.dispatch(job, { tenant: "quiet", n: 1 }, { delay: 1_000 });
      clock.advance(1_000);
      const worker = quietWorker(queue, { jobs: [job], concurrency: 1 });
      const summary = await worker.drain({ maxJobs: 1 });
      assert.deepEqual(ran, ["quiet:1"]);
      assert.equal(summary.completed, 1);
      assert.equal((await queue.counts()).ready, 1_000);
    },
  ],
  [
    "a started worker on a paused queue with a due delayed job polls at its idle pace, it does not spin",
    async (setup) => {
      const { queue, backend, clock } = setup;
      let takes = 0;
      const counting = new Proxy(backend, {
        get(target, property) {
          const value = Reflect.get(target, property);
          if (property === "take") {
            return (request: Parameters<QueueBackend["take"]>[0]) => {
              takes++;
              return target.take(request);
            };
          }
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const paused = new Queue({ backend: counting, clock });
      await paused.dispatch(plain, { tenant: "a", n: 1 }, { delay: 10 });
      await queue.pause("default");
      clock.advance(10);
      const worker = quietWorker(paused, { jobs: [plain], maxPollInterval: 200 });
      await worker.start();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await worker.stop();
      // Backing off from 50 ms: a handful of polls in 300 ms, not one per turn of the event loop.
      assert.ok(takes <= 8, `${takes} takes in 300 ms`);
      assert.equal((await queue.counts()).ready + (await queue.counts()).delayed, 1);
    },
  ],
  [
    "a plain job whose payload imitates flow rules is not held back",
    async (setup) => {
      const { queue } = setup;
      const spoof = defineJob({
        name: "spoof",
        schema: v.record(v.string(), v.unknown()),
        handle() {},
      });
      for (let n = 0; n < 3; n++) {
        await queue.dispatch(spoof, { d: "x", f: "c/1/spoof:k", n });
      }
      assert.equal((await take(setup, 10)).jobs.length, 3);
    },
  ],
];

/** Runs every case as a step of `t`, each on a fresh backend. */
export async function runFlowConformance(
  t: Deno.TestContext,
  make: BackendFactory,
): Promise<void> {
  for (const [name, fn] of cases) {
    await t.step(name, async () => {
      const backend = await make();
      const clock = new FakeClock();
      await fn({ backend, clock, queue: new Queue({ backend, clock }) });
    });
  }
}
