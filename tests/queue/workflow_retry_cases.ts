/**
 * An operator retrying a failed chain step or batch member (issue 16's
 * review): the chain continues from the retried step, the batch counts the
 * member pending again and finishes again, each callback still at most once.
 * Run by workflow_conformance.ts on both backends.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { type ChainContext, defineJob, type Queue } from "../../src/queue/mod.ts";
import { quietWorker, waitFor } from "./_helpers.ts";
import type { WorkflowCase } from "./workflow_conformance.ts";

/** A callback job recording its payload. */
function recorder(seen: string[]) {
  return defineJob({ name: "cb", schema: v.string(), handle: (s) => void seen.push(s) });
}

/** A member that throws while `failing(n)` says so (no retries of its own). */
function switchable(failing: (n: number) => boolean) {
  return defineJob({
    name: "work",
    schema: v.number(),
    maxRetries: 0,
    handle: (n) => {
      if (failing(n)) throw new Error(`member ${n} failed`);
      return n;
    },
  });
}

/** A batch's counters and whether it has finished. */
async function counts(queue: Queue, id: string) {
  const info = await queue.batchInfo(id);
  return {
    total: info?.total,
    pending: info?.pending,
    completed: info?.completed,
    failed: info?.failed,
    finished: typeof info?.finishedAt === "number",
  };
}

/** A three-step chain whose middle step fails while `fail()` says so, with a catch. */
function failingChain(fail: () => boolean) {
  const runs: string[] = [];
  const caught: ChainContext["failed"][] = [];
  const step = defineJob({
    name: "step",
    schema: v.string(),
    maxRetries: 0,
    handle: (name, ctx) => {
      runs.push(`${name}:${JSON.stringify(ctx.previous ?? null)}`);
      if (name === "b" && fail()) throw new Error("b broke");
      return `${name} done`;
    },
  });
  const rescue = defineJob({
    name: "rescue",
    schema: v.null(),
    handle: (_p, ctx) => void caught.push(ctx.chain?.failed ?? null),
  });
  const chain = (queue: Queue) =>
    queue.chain([[step, "a"], [step, "b"], [step, "c"]], { catch: [rescue, null] });
  return { runs, caught, chain, jobs: [step, rescue] };
}

export const retryCases: WorkflowCase[] = [
  [
    "retrying the failed step of a chain whose catch ran continues the chain from there: later steps run in order, ctx.previous is the retried result",
    async ({ queue }) => {
      let fail = true;
      const { runs, caught, chain: start, jobs } = failingChain(() => fail);
      const chain = await start(queue);
      const worker = quietWorker(queue, { jobs });
      await worker.drain();
      assert.deepEqual(runs, ["a:null", 'b:"a done"']);
      assert.equal(caught.length, 1);
      assert.equal((await queue.chainInfo(chain.id))?.state, "failed");
      fail = false;
      assert.equal(await queue.retry(chain.jobIds[1]), true);
      const reopened = await queue.chainInfo(chain.id);
      assert.deepEqual(
        [reopened?.state, reopened?.step, reopened?.failed, reopened?.finishedAt],
        ["running", 2, null, null],
      );
      await worker.drain();
      assert.deepEqual(runs, ["a:null", 'b:"a done"', 'b:"a done"', 'c:"b done"']);
      // The catch that ran is not undone, nor run again.
      assert.equal(caught.length, 1);
      const info = await queue.chainInfo(chain.id);
      assert.deepEqual([info?.state, info?.step, info?.failed], ["completed", 3, null]);
      assert.equal(typeof info?.finishedAt, "number");
      assert.equal((await queue.job(chain.jobIds[2]))?.state, "completed");
    },
  ],
  [
    "a retried chain step that fails again runs catch again as a new job reading the new failure; retrying it once more can still complete the chain",
    async ({ queue }) => {
      let failures = 2;
      const { runs, caught, chain: start, jobs } = failingChain(() => failures-- > 0);
      const chain = await start(queue);
      const worker = quietWorker(queue, { jobs });
      await worker.drain();
      const first = await queue.chainInfo(chain.id);
      assert.equal(first?.catchId, `${chain.id}-catch`);
      // queue.failed.retry() is the same operator action.
      assert.equal(await queue.failed.retry(chain.jobIds[1]), true);
      assert.equal((await queue.chainInfo(chain.id))?.catchId, `${chain.id}-catch-2`);
      await worker.drain();
      assert.equal(caught.length, 2);
      assert.equal(caught[1]?.jobId, chain.jobIds[1]);
      assert.equal(caught[1]?.error.message, "b broke");
      const again = await queue.chainInfo(chain.id);
      assert.equal(again?.state, "failed");
      assert.equal(again?.failed?.jobId, chain.jobIds[1]);
      assert.equal((await queue.job(`${chain.id}-catch`))?.state, "completed");
      assert.equal((await queue.job(`${chain.id}-catch-2`))?.state, "completed");
      assert.equal(await queue.retryAll(), 1);
      await worker.drain();
      assert.equal(caught.length, 2);
      assert.equal((await queue.chainInfo(chain.id))?.state, "completed");
      assert.equal(runs.filter((r) => r.startsWith("c:")).length, 1);
    },
  ],
  [
    "retrying a chain's failed catch, or a step retried twice by racing operators, continues the chain at most once",
    async ({ queue, twin }) => {
      let fail = true;
      let catchFails = true;
      const runs: string[] = [];
      const step = defineJob({
        name: "step",
        schema: v.string(),
        maxRetries: 0,
        handle: (name) => {
          runs.push(name);
          if (name === "b" && fail) throw new Error("b broke");
        },
      });
      const rescue = defineJob({
        name: "rescue",
        schema: v.null(),
        maxRetries: 0,
        handle: () => {
          runs.push("rescue");
          if (catchFails) throw new Error("rescue broke");
        },
      });
      const chain = await queue.chain([[step, "a"], [step, "b"], [step, "c"]], {
        catch: [rescue, null],
      });
      const worker = quietWorker(queue, { jobs: [step, rescue] });
      await worker.drain();
      catchFails = false;
      assert.equal(await queue.retry(`${chain.id}-catch`), true);
      await worker.drain();
      assert.equal((await queue.chainInfo(chain.id))?.state, "failed");
      assert.deepEqual(runs, ["a", "b", "rescue", "rescue"]);
      fail = false;
      const both = await Promise.all([queue.retry(chain.jobIds[1]), twin().retry(chain.jobIds[1])]);
      assert.deepEqual(both.sort(), [false, true]);
      await worker.drain();
      assert.deepEqual(runs, ["a", "b", "rescue", "rescue", "b", "c"]);
      assert.equal((await queue.chainInfo(chain.id))?.state, "completed");
    },
  ],
  [
    "retrying a failed member after its batch finished counts it pending again, then completed: the batch finishes again and then runs; catch and finally ran once",
    async ({ queue }) => {
      const seen: string[] = [];
      let fail = true;
      const work = switchable((n) => n === 0 && fail);
      const cb = recorder(seen);
      const batch = await queue.batch([[work, 0], [work, 1]], {
        then: [cb, "then"],
        catch: [cb, "catch"],
        finally: [cb, "finally"],
      });
      const worker = quietWorker(queue, { jobs: [work, cb] });
      await worker.drain();
      assert.deepEqual(seen.sort(), ["catch", "finally"]);
      assert.deepEqual(await counts(queue, batch.id), {
        total: 2,
        pending: 0,
        completed: 1,
        failed: 1,
        finished: true,
      });
      fail = false;
      assert.equal(await queue.retry(batch.jobIds[0]), true);
      assert.deepEqual(await counts(queue, batch.id), {
        total: 2,
        pending: 1,
        completed: 1,
        failed: 0,
        finished: false,
      });
      assert.equal((await queue.batchInfo(batch.id))?.progress, 50);
      await worker.drain();
      assert.deepEqual(seen.sort(), ["catch", "finally", "then"]);
      assert.deepEqual(await counts(queue, batch.id), {
        total: 2,
        pending: 0,
        completed: 2,
        failed: 0,
        finished: true,
      });
    },
  ],
  [
    "a retried member that fails again is counted failed again, and no callback runs twice",
    async ({ queue }) => {
      const seen: string[] = [];
      const work = switchable((n) => n === 0);
      const cb = recorder(seen);
      const batch = await queue.batch([[work, 0], [work, 1]], {
        then: [cb, "then"],
        catch: [cb, "catch"],
        finally: [cb, "finally"],
      });
      const worker = quietWorker(queue, { jobs: [work, cb] });
      await worker.drain();
      for (let round = 0; round < 2; round++) {
        assert.equal(await queue.retry(batch.jobIds[0]), true);
        await worker.drain();
      }
      assert.deepEqual(seen.sort(), ["catch", "finally"]);
      assert.deepEqual(await counts(queue, batch.id), {
        total: 2,
        pending: 0,
        completed: 1,
        failed: 1,
        finished: true,
      });
    },
  ],
  [
    "with allowFailures, retrying every failed member until it completes runs then once; finally ran once when nothing was pending the first time",
    async ({ queue }) => {
      const seen: string[] = [];
      let fail = true;
      const work = switchable((n) => n < 2 && fail);
      const cb = recorder(seen);
      const batch = await queue.batch([[work, 0], [work, 1], [work, 2]], {
        allowFailures: true,
        then: [cb, "then"],
        catch: [cb, "catch"],
        finally: [cb, "finally"],
      });
      const worker = quietWorker(queue, { jobs: [work, cb] });
      await worker.drain();
      assert.deepEqual(seen, ["finally"]);
      fail = false;
      // retryAll takes both failed members in one step.
      assert.equal(await queue.retryAll(), 2);
      assert.equal((await counts(queue, batch.id)).pending, 2);
      await worker.drain();
      assert.deepEqual(seen, ["finally", "then"]);
      assert.deepEqual(await counts(queue, batch.id), {
        total: 3,
        pending: 0,
        completed: 3,
        failed: 0,
        finished: true,
      });
    },
  ],
  [
    "a member retried while its batch still runs, racing the last completion from another process: then and finally once each, after both",
    async ({ queue, twin }) => {
      for (const retryFirst of [true, false]) {
        const seen: string[] = [];
        let fail = true;
        let open!: () => void;
        const gate = new Promise<void>((resolve) => (open = resolve));
        const work = defineJob({
          name: "work",
          schema: v.number(),
          maxRetries: 0,
          async handle(n) {
            if (n === 0 && fail) throw new Error("first time");
            if (n === 1) await gate;
          },
        });
        const cb = recorder(seen);
        const batch = await queue.batch([[work, 0], [work, 1]], {
          then: [cb, "then"],
          catch: [cb, "catch"],
          finally: [cb, "finally"],
        });
        const worker = quietWorker(queue, { jobs: [work, cb], concurrency: 2 });
        await worker.start();
        await waitFor(async () => (await queue.job(batch.jobIds[0]))?.state === "failed");
        await waitFor(() => seen.includes("catch"));
        fail = false;
        const other = twin();
        if (retryFirst) {
          // The retry and the last member's completion land at the same moment.
          open();
          assert.equal(await other.retry(batch.jobIds[0]), true);
        } else {
          open();
          await waitFor(() => seen.includes("finally"));
          assert.equal(await other.retry(batch.jobIds[0]), true);
        }
        await waitFor(() => seen.includes("then"));
        await waitFor(async () => (await counts(queue, batch.id)).finished);
        await worker.stop();
        assert.deepEqual(seen.sort(), ["catch", "finally", "then"]);
        assert.deepEqual(await counts(queue, batch.id), {
          total: 2,
          pending: 0,
          completed: 2,
          failed: 0,
          finished: true,
        });
      }
    },
  ],
  [
    "retrying a batch's failed callback or a member of a cancelled batch runs the job and leaves the batch's counts alone",
    async ({ queue }) => {
      const seen: string[] = [];
      let thenFails = true;
      const work = switchable(() => false);
      const flaky = defineJob({
        name: "flaky-cb",
        schema: v.string(),
        maxRetries: 0,
        handle: (s) => {
          seen.push(s);
          if (thenFails) throw new Error("then broke");
        },
      });
      const batch = await queue.batch([[work, 0]], { then: [flaky, "then"] });
      const worker = quietWorker(queue, { jobs: [work, flaky] });
      await worker.drain();
      thenFails = false;
      assert.equal(await queue.retry(`${batch.id}-then`), true);
      await worker.drain();
      assert.deepEqual(seen, ["then", "then"]);
      assert.deepEqual(await counts(queue, batch.id), {
        total: 1,
        pending: 0,
        completed: 1,
        failed: 0,
        finished: true,
      });

      // A running member cancelled with its batch is dead-lettered, not counted.
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const slow = defineJob({
        name: "slow",
        schema: v.number(),
        maxRetries: 0,
        handle: () => gate,
      });
      const cancelled = await queue.batch([[slow, 0]]);
      const runner = quietWorker(queue, { jobs: [slow] });
      await runner.start();
      await waitFor(async () => (await queue.job(cancelled.jobIds[0]))?.state === "active");
      assert.equal(await queue.cancelBatch(cancelled.id), true);
      open();
      await waitFor(async () => (await queue.job(cancelled.jobIds[0]))?.state === "failed");
      await runner.stop();
      const before = await queue.batchInfo(cancelled.id);
      assert.equal(await queue.retry(cancelled.jobIds[0]), true);
      await quietWorker(queue, { jobs: [slow] }).drain();
      assert.equal((await queue.job(cancelled.jobIds[0]))?.state, "completed");
      assert.deepEqual(await queue.batchInfo(cancelled.id), before);
    },
  ],
];
