/**
 * Chains and batches under a caller's id (issue 16's review): a call made
 * again, after its answer was lost, answers the workflow that exists and
 * dispatches nothing twice; ids that would take over other jobs are refused.
 * Run by workflow_conformance.ts on both backends.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, Queue } from "../../src/queue/mod.ts";
import type { QueueBackend } from "../../src/queue/backend_mod.ts";
import { quietWorker } from "./_helpers.ts";
import type { WorkflowCase } from "./workflow_conformance.ts";

/** A queue on `base`'s store whose workflow requests get in, but whose answers are lost while `lose()`. */
function losingAnswers(base: Queue, lose: () => boolean): Queue {
  const inner = base.backend;
  const backend = new Proxy(inner, {
    get(target, property) {
      if (property === "workflow") {
        return async (...args: Parameters<QueueBackend["workflow"]>) => {
          const done = await inner.workflow(...args);
          if (lose()) throw new TypeError("fetch failed");
          return done;
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return new Queue({ backend, clock: base.clock });
}

/** A job counting its runs per payload. */
function counting(runs: Map<string, number>) {
  return defineJob({
    name: "counted",
    schema: v.string(),
    handle: (s) => {
      runs.set(s, (runs.get(s) ?? 0) + 1);
      return s;
    },
  });
}

export const idCases: WorkflowCase[] = [
  [
    "chain() with an id, made again after its answer was lost, answers the chain that exists: every step and catch runs once",
    async ({ queue: base }) => {
      let lose = true;
      const queue = losingAnswers(base, () => lose);
      const runs = new Map<string, number>();
      const step = counting(runs);
      const steps = [[step, "a"], [step, "b"]] as const;
      await assert.rejects(queue.chain(steps, { id: "order-42" }), TypeError);
      lose = false;
      const again = await queue.chain(steps, { id: "order-42" });
      assert.deepEqual(again, {
        id: "order-42",
        queue: "default",
        jobIds: ["order-42-1", "order-42-2"],
      });
      assert.equal((await queue.counts()).ready, 1);
      await quietWorker(queue, { jobs: [step] }).drain();
      // Once it completed, the same call still answers it and runs nothing.
      assert.equal((await queue.chain(steps, { id: "order-42" })).id, "order-42");
      await quietWorker(queue, { jobs: [step] }).drain();
      assert.deepEqual([...runs], [["a", 1], ["b", 1]]);
      assert.equal((await queue.chainInfo("order-42"))?.state, "completed");
    },
  ],
  [
    "batch() with an id, made again after its answer was lost, is not cancelled and answers the batch that exists: members and then run once",
    async ({ queue: base }) => {
      let lose = true;
      const queue = losingAnswers(base, () => lose);
      const runs = new Map<string, number>();
      const work = counting(runs);
      const jobs = ["x", "y", "z"].map((s) => [work, s] as const);
      const options = { id: "import-7", then: [work, "then"] as const };
      await assert.rejects(queue.batch(jobs, options), TypeError);
      lose = false;
      const again = await queue.batch(jobs, options);
      assert.deepEqual(again.jobIds, ["import-7-0", "import-7-1", "import-7-2"]);
      await quietWorker(queue, { jobs: [work] }).drain();
      assert.deepEqual((await queue.batch(jobs, options)).id, "import-7");
      await quietWorker(queue, { jobs: [work] }).drain();
      assert.deepEqual([...runs].sort(), [["then", 1], ["x", 1], ["y", 1], ["z", 1]]);
      const info = await queue.batchInfo("import-7");
      assert.deepEqual([info?.total, info?.completed, info?.cancelled], [3, 3, false]);
    },
  ],
  [
    "a caller's id is refused, dispatching nothing, when malformed, held by the other kind of workflow, taken by existing jobs, or on a batch too large for one request",
    async ({ queue }) => {
      const runs = new Map<string, number>();
      const work = counting(runs);
      for (const id of ["", "a\0b", "line\nbreak", "x".repeat(201), 42 as unknown as string]) {
        await assert.rejects(queue.chain([[work, "a"]], { id }), TypeError);
        await assert.rejects(queue.batch([[work, "a"]], { id }), TypeError);
      }
      await queue.batch([[work, "member"]], { id: "shared" });
      await assert.rejects(queue.chain([[work, "step"]], { id: "shared" }), /taken/);
      await queue.chain([[work, "step"]], { id: "other" });
      await assert.rejects(queue.batch([[work, "member"]], { id: "other" }), /taken/);
      // Your own job named as a workflow's first job would be: left alone.
      await queue.dispatch(work, "mine", { jobId: "mine-1" });
      await assert.rejects(queue.chain([[work, "step"]], { id: "mine" }), /taken/);
      await queue.dispatch(work, "mine too", { jobId: "mine2-0" });
      await assert.rejects(queue.batch([[work, "member"]], { id: "mine2" }), /taken/);
      const big = Array.from({ length: 1_001 }, (_, i) => [work, `${i}`] as const);
      await assert.rejects(queue.batch(big, { id: "big" }), /one request/);
      assert.equal(await queue.batchInfo("big"), null);
      assert.equal(await queue.chainInfo("mine"), null);
      assert.equal(await queue.batchInfo("mine2"), null);
      await quietWorker(queue, { jobs: [work] }).drain();
      assert.deepEqual(
        runs,
        new Map([["member", 1], ["mine", 1], ["mine too", 1], ["step", 1]]),
      );
    },
  ],
];
