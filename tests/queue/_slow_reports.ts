/**
 * A backend over a slow network, for the cases where a worker's completion
 * report and its reservation overtake each other, and a chain whose next step
 * only such a report makes due.
 *
 * @module
 */
import * as v from "valibot";
import { type AnyJob, defineJob, type Queue } from "../../src/queue/mod.ts";
import type { QueueBackend, TakeRequest, TakeResult } from "../../src/queue/backend.ts";
import { sleep, waitFor } from "./_helpers.ts";

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

/**
 * Dispatches seven jobs that time out at once but keep their slots until
 * `gate` resolves, and a two-step chain whose steps push their names to `ran`:
 * with 8 slots, the first step's report then leaves with every slot taken and
 * reserves nothing. Returns the definitions, for the worker.
 */
export async function stubbornAndChain(
  queue: Queue,
  gate: Promise<void>,
  ran: string[],
): Promise<AnyJob[]> {
  const stubborn = defineJob({
    name: "stubborn",
    schema: v.number(),
    timeout: 5,
    maxRetries: 0,
    handle: () => gate,
  });
  const step = defineJob({
    name: "step",
    schema: v.string(),
    async handle(name) {
      if (name === "first") await sleep(10);
      ran.push(name);
    },
  });
  await queue.dispatchMany(stubborn, [1, 2, 3, 4, 5, 6, 7]);
  await queue.chain([[step, "first"], [step, "second"]]);
  return [stubborn, step];
}

/**
 * Resolves 30 ms after the chain's first step ran, while its report (slowed
 * by more than that) is still on its way: the time to free the slots.
 */
export async function soonAfterFirstStep(ran: readonly string[]): Promise<void> {
  await waitFor(() => ran.includes("first"), 10_000);
  await sleep(30);
}
