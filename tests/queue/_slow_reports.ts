/**
 * A backend over a slow network, for the cases where a worker's completion
 * report and its reservation overtake each other, and a chain whose next step
 * only such a report makes due.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { type AnyJob, defineJob, Queue } from "../../src/queue/mod.ts";
import type { QueueBackend, TakeRequest, TakeResult } from "../../src/queue/backend.ts";
import { quietWorker, sleep, waitFor } from "./_helpers.ts";

/**
 * Wraps a backend: a take carrying completions spends `reportDelay` ms on its
 * way (and fails then, once, with `failNextReport`); once `holdReplies` is set,
 * the reply to a reservation that looked while a report was on its way (or
 * failed, not yet sent again) comes back only after the report landed.
 */
export class SlowReports {
  reportDelay = 0;
  failNextReport = false;
  holdReplies = false;
  /** The wrapped backend, to give a Queue. */
  readonly backend: QueueBackend;
  #reportsOnTheirWay = 0;
  #undelivered = false;

  constructor(inner: QueueBackend) {
    const take = (request: TakeRequest) => this.#take(inner, request);
    this.backend = new Proxy(inner, {
      get(target, property) {
        if (property === "take") return take;
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  async #take(inner: QueueBackend, request: TakeRequest): Promise<TakeResult> {
    if (request.complete.length > 0) {
      this.#reportsOnTheirWay++;
      try {
        await sleep(this.reportDelay);
        if (this.failNextReport) {
          this.failNextReport = false;
          this.#undelivered = true;
          throw new Error("connection reset");
        }
        const result = await inner.take(request);
        this.#undelivered = false;
        return result;
      } finally {
        this.#reportsOnTheirWay--;
      }
    }
    const reportPending = () => this.#reportsOnTheirWay > 0 || this.#undelivered;
    const overtaken = this.holdReplies && reportPending();
    const result = await inner.take(request);
    if (overtaken) {
      while (reportPending()) await sleep(2);
      await sleep(5);
    }
    return result;
  }
}

/** A chain step that pushes its name to `ran`, the first one 10 ms late. */
export function chainStep(ran: string[]) {
  return defineJob({
    name: "step",
    schema: v.string(),
    async handle(name) {
      if (name === "first") await sleep(10);
      ran.push(name);
    },
  });
}

/**
 * Over `inner` slowed by SlowReports (reports 100 ms on their way), a queue
 * holding seven jobs that time out at once but keep their slots until
 * `freeSlots()`, and a two-step chain whose steps push their names to `ran`:
 * with 8 slots, the first step's report then leaves with every slot taken and
 * reserves nothing. `freeSlots()` also holds back the replies of reservations
 * that looked while a report was on its way, until it has landed.
 */
export async function lateReportScenario(inner: QueueBackend): Promise<{
  queue: Queue;
  jobs: AnyJob[];
  ran: string[];
  freeSlots: () => void;
}> {
  const slow = new SlowReports(inner);
  slow.reportDelay = 100;
  const queue = new Queue({ backend: slow.backend });
  const ran: string[] = [];
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  const stubborn = defineJob({
    name: "stubborn",
    schema: v.number(),
    timeout: 5,
    maxRetries: 0,
    handle: () => gate,
  });
  const step = chainStep(ran);
  await queue.dispatchMany(stubborn, [1, 2, 3, 4, 5, 6, 7]);
  await queue.chain([[step, "first"], [step, "second"]]);
  const freeSlots = () => {
    slow.holdReplies = true;
    open();
  };
  return { queue, jobs: [stubborn, step], ran, freeSlots };
}

/**
 * drain() over `inner` in the late-report scenario: the slots free while the
 * first step's report is on its way, so the reservation sent then looks before
 * the report makes "second" due, and its reply comes back after it. The drain
 * must still run "second".
 */
export async function assertDrainRunsLateStep(inner: QueueBackend): Promise<void> {
  const { queue, jobs, ran, freeSlots } = await lateReportScenario(inner);
  const opened = soonAfterFirstStep(ran).then(freeSlots);
  const summary = await quietWorker(queue, { jobs, concurrency: 8 }).drain();
  await opened;
  assert.deepEqual(ran, ["first", "second"]);
  assert.equal(summary.completed, 2);
  assert.equal((await queue.counts()).ready, 0);
}

/**
 * Resolves 30 ms after the chain's first step ran, while its report (slowed
 * by more than that) is still on its way: the time to free the slots.
 */
export async function soonAfterFirstStep(ran: readonly string[]): Promise<void> {
  await waitFor(() => ran.includes("first"), 10_000);
  await sleep(30);
}
