/**
 * A worker with 8 slots, two round trips on their way at once when busy, is
 * still one request per poll when idle: at most one per `maxPollInterval`.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue } from "../../src/queue/mod.ts";
import type { TakeRequest, TakeResult } from "../../src/queue/backend.ts";
import { FakeClock as ManualClock } from "../scheduler/_fake_clock.ts";
import { quietWorker, waitFor } from "./_helpers.ts";

/** A MemoryBackend that notes the clock's time of every take, and takes on their way. */
class PollLog extends MemoryBackend {
  times: number[] = [];
  inFlight = 0;
  constructor(readonly clock: ManualClock) {
    super();
  }
  override async take(request: TakeRequest): Promise<TakeResult> {
    this.times.push(this.clock.now());
    this.inFlight++;
    try {
      return await super.take(request);
    } finally {
      this.inFlight--;
    }
  }
}

Deno.test("a worker with 8 slots, one of them running a job that holds its key, polls at most once per 5 s while the other jobs of the key wait", async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const backend = new PollLog(clock);
  const queue = new Queue({ backend, clock });
  const { promise: release, resolve: finish } = Promise.withResolvers<void>();
  let ran = 0;
  const keyed = defineJob({
    name: "keyed",
    schema: v.number(),
    concurrency: { key: () => "k", limit: 1 },
    handle: () => (ran++ === 0 ? release : undefined),
  });
  await queue.dispatchMany(keyed, [1, 2, 3]);
  const worker = quietWorker(queue, {
    jobs: [keyed],
    concurrency: 8,
    maxPollInterval: 5_000,
    leaseDuration: 600_000,
  });
  await worker.start();
  const start = clock.now();
  let polls: number[] = [];
  try {
    // Move time to each timer the worker sleeps on, but the lease renewal's (no poll).
    const renewalAt = start + 200_000;
    while (clock.now() < start + 60_000) {
      await waitFor(() => backend.inFlight === 0 && clock.timers.some((t) => t.at < renewalAt));
      await clock.advance(Math.max(0, clock.timers[0].at - clock.now()));
    }
    await waitFor(() => backend.inFlight === 0);
    polls = [...backend.times]; // before the running job ends and the worker reports it
  } finally {
    finish();
    await worker.stop();
  }
  assert.equal(ran, 1);
  const idle = polls.filter((at) => at - start > 6_500);
  const gaps = idle.slice(1).map((at, i) => at - idle[i]);
  assert.ok(idle.length >= 9 && gaps.every((gap) => gap >= 5_000), gaps.join(","));
});
