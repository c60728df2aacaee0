import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue, Worker } from "../../src/queue/mod.ts";
import { JobValidationError } from "../../src/public_errors.ts";
import { Scheduler } from "../../src/scheduler/mod.ts";

const T0 = Date.parse("2025-06-02T12:00:00Z"); // a Monday, on the hour
const at = (offsetMs = 0) => new Date(T0 + offsetMs);

function digestJob(delivered: string[] = []) {
  return defineJob({
    name: "send-digest",
    queue: "mail",
    schema: v.object({ to: v.pipe(v.string(), v.email()), period: v.picklist(["hour", "day"]) }),
    handle(payload) {
      delivered.push(`${payload.to}/${payload.period}`);
    },
  });
}

Deno.test("job() puts the job and payload on a real queue each occurrence, and a worker runs them", async () => {
  const delivered: string[] = [];
  const digest = digestJob(delivered);
  const queue = new Queue({ backend: new MemoryBackend() });
  const scheduler = new Scheduler();
  scheduler.job(digest, { to: "team@example.com", period: "hour" }, queue).hourly();
  scheduler.job(digest, { to: "ops@example.com", period: "day" }, queue, {
    name: "ops-digest",
    dispatch: { priority: "high" },
  }).daily();

  await scheduler.runDue(at(-30 * 60_000)); // 11:30: no occurrence in the window
  assert.equal((await queue.counts("mail")).ready, 0);

  const outcomes = await scheduler.runDue(at()); // 12:00: hourly only
  assert.deepEqual(outcomes.map((o) => [o.task, o.status]), [["job:send-digest", "succeeded"]]);
  await scheduler.runDue(at()); // delivered twice: no second job
  assert.equal((await queue.counts("mail")).ready, 1);

  await scheduler.runDue(new Date("2025-06-03T00:00:00Z")); // midnight: both
  assert.equal((await queue.counts("mail")).ready, 3);

  const worker = new Worker(queue, { jobs: [digest], queues: ["mail"] });
  const summary = await worker.drain({ maxJobs: 10 });
  assert.equal(summary.completed, 3);
  // The high-priority dispatch option reached the queue: that job runs first.
  assert.deepEqual(delivered, [
    "ops@example.com/day",
    "team@example.com/hour",
    "team@example.com/hour",
  ]);
  assert.equal((await queue.counts("mail")).ready, 0);
});

Deno.test("job() rejects a payload that fails the job's schema at registration, naming the task and the paths", () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const scheduler = new Scheduler();
  const options = { name: "weekly-digest" };
  assert.throws(
    // @ts-expect-error: the payload's type comes from the job's schema, so this does not compile
    () => scheduler.job(digestJob(), { to: "not an email", period: "week" }, queue, options),
    (error: Error) =>
      error instanceof TypeError &&
      error.message.startsWith('Task "weekly-digest": invalid payload for job send-digest: ') &&
      error.message.includes("to: Invalid email") &&
      error.message.includes("period: Invalid type"),
  );
  assert.throws(
    () => scheduler.job(digestJob(), undefined as never, queue),
    /^TypeError: Task "job:send-digest": invalid payload for job send-digest: \(payload\): /,
  );
  // Nothing was registered by the failed calls.
  scheduler.job(digestJob(), { to: "a@example.com", period: "day" }, queue, {
    name: "weekly-digest",
  });
});

Deno.test("job() with a payload only the dispatch can reject fails the run with the queue's JobValidationError", async () => {
  // An async schema cannot be checked at registration; the queue checks it at dispatch.
  const taken = new Set(["ada"]);
  const signup = defineJob({
    name: "welcome",
    schema: v.pipeAsync(
      v.object({ user: v.string() }),
      v.checkAsync((input) => Promise.resolve(!taken.has(input.user)), "user already welcomed"),
    ),
    handle() {},
  });
  const queue = new Queue({ backend: new MemoryBackend() });
  const failures: string[] = [];
  const scheduler = new Scheduler();
  scheduler.job(signup, { user: "ada" }, queue).everyMinute()
    .onFailure((error) => failures.push(String(error)));

  const [outcome] = await scheduler.runDue(at());
  assert.equal(outcome.status, "failed");
  assert.ok(outcome.status === "failed" && outcome.error instanceof JobValidationError);
  assert.equal(outcome.error.code, "QUEUE_INVALID_PAYLOAD");
  assert.equal(
    outcome.error.message,
    "Invalid payload for job welcome: (payload): user already welcomed",
  );
  assert.deepEqual(failures, [
    "JobValidationError: Invalid payload for job welcome: (payload): user already welcomed",
  ]);
  const [record] = await scheduler.history("job:welcome");
  assert.equal(record.status, "failed");
  assert.equal(record.error, "Invalid payload for job welcome: (payload): user already welcomed");
  assert.equal((await queue.counts("default")).ready, 0);

  taken.clear(); // the next occurrence dispatches
  const [next] = await scheduler.runDue(at(60_000));
  assert.equal(next.status, "succeeded");
  assert.equal((await queue.counts("default")).ready, 1);
});

Deno.test("job() rejects something that is not a job definition or not a queue, naming the task", () => {
  const queue = new Queue({ backend: new MemoryBackend() });
  const scheduler = new Scheduler();
  assert.throws(
    () => scheduler.job({ name: "mail" } as never, {}, queue),
    /Scheduler job\(\): expected a job definition from defineJob\(\)/,
  );
  assert.throws(() => scheduler.job(null as never, {}, queue), TypeError);
  assert.throws(
    () => scheduler.job(digestJob(), { to: "a@example.com", period: "day" }, {} as never),
    /Task "job:send-digest": job\(\) expects a queue with a dispatch\(\) method/,
  );
});

Deno.test("job() dispatches each occurrence once even when two schedulers tick it", async () => {
  const digest = digestJob();
  const queue = new Queue({ backend: new MemoryBackend() });
  // Two instances without a shared mutex: the job id (task and scheduled time) still dedupes.
  const first = new Scheduler();
  const second = new Scheduler();
  for (const scheduler of [first, second]) {
    scheduler.job(digest, { to: "team@example.com", period: "hour" }, queue).hourly();
  }
  await Promise.all([first.runDue(at()), second.runDue(at())]);
  assert.equal((await queue.counts("mail")).ready, 1);
  const job = await queue.job("job:send-digest@2025-06-02T12:00:00.000Z", "mail");
  assert.equal(job?.state, "waiting");
  await first.runDue(at(60 * 60_000));
  assert.equal((await queue.counts("mail")).ready, 2);
});
