import assert from "node:assert/strict";
import { MemoryHistory, MemoryMutex, Scheduler } from "../../src/scheduler/mod.ts";
import { PingFailedError, TaskTimeoutError } from "../../src/public_errors.ts";
import { FakeClock, settle } from "./_fake_clock.ts";

const T0 = "2025-06-02T12:00:00Z"; // a Monday, on the minute
const at = (offsetMs = 0) => new Date(Date.parse(T0) + offsetMs);

function collectErrors(): {
  errors: { phase: string; error: unknown }[];
  onError: (error: unknown, info: { phase: string }) => void;
} {
  const errors: { phase: string; error: unknown }[] = [];
  return { errors, onError: (error, info) => errors.push({ phase: info.phase, error }) };
}

Deno.test("runDue() runs an occurrence once even when the tick is delivered twice at once", async () => {
  let runs = 0;
  const scheduler = new Scheduler();
  scheduler.call("count", async () => {
    runs++;
    await settle();
  }).everyMinute();
  const [first, second] = await Promise.all([scheduler.runDue(at()), scheduler.runDue(at())]);
  assert.equal(runs, 1);
  assert.deepEqual([first[0].status, second[0].status].sort(), ["skipped", "succeeded"]);
  const late = await scheduler.runDue(at(30_000)); // the same occurrence, seen from later
  assert.deepEqual(late.map((outcome) => outcome.status), ["skipped"]);
  assert.equal(runs, 1);
});

Deno.test("runDue() runs a task once for its latest occurrence within the window", async () => {
  const seen: string[] = [];
  const scheduler = new Scheduler({ window: 5 * 60_000 });
  scheduler.call("minutely", ({ scheduledAt }) => seen.push(scheduledAt.toISOString()))
    .everyMinute();
  scheduler.call("hourly", () => seen.push("hourly")).hourlyAt(50);
  await scheduler.runDue(at(3 * 60_000 + 10_000)); // 12:03:10
  assert.deepEqual(seen, ["2025-06-02T12:03:00.000Z"]); // 11:50 is outside the window
});

Deno.test("when() and skip() conditions must all agree, sync or async", async () => {
  const ran: string[] = [];
  const scheduler = new Scheduler();
  scheduler.call("all-true", () => ran.push("all-true")).when(() => true)
    .when(async () => await Promise.resolve(true)).skip(() => false);
  scheduler.call("one-false", () => ran.push("one-false")).when(() => true)
    .when(() => Promise.resolve(false));
  scheduler.call("skipped", () => ran.push("skipped")).skip(() => Promise.resolve(true));
  const outcomes = await scheduler.runDue(at());
  assert.deepEqual(ran, ["all-true"]);
  assert.deepEqual(
    outcomes.map((o) => [o.task, o.status === "skipped" ? o.reason : o.status]),
    [["all-true", "succeeded"], ["one-false", "condition"], ["skipped", "condition"]],
  );
});

Deno.test("then() runs the next task or function only after success, with the same occurrence", async () => {
  const ran: string[] = [];
  const scheduler = new Scheduler();
  scheduler.call("report", () => ran.push("report")).dailyAt("12:00")
    .then("notify").then(({ scheduledAt }) => ran.push(`fn@${scheduledAt.toISOString()}`));
  scheduler.call("notify", ({ scheduledAt }) => ran.push(`notify@${scheduledAt.toISOString()}`))
    .yearly();
  scheduler.call("broken", () => {
    throw new Error("no");
  }).dailyAt("12:00").then("notify");
  await scheduler.runDue(at());
  assert.deepEqual(ran, [
    "report",
    "notify@2025-06-02T12:00:00.000Z",
    "fn@2025-06-02T12:00:00.000Z",
  ]);
  assert.equal((await scheduler.history("notify")).length, 1);
});

Deno.test("hooks run in order: before, the handler, onSuccess or onFailure, then after", async () => {
  const calls: string[] = [];
  const scheduler = new Scheduler();
  for (const name of ["good", "bad"]) {
    scheduler.call(name, () => {
      calls.push(`${name}:run`);
      if (name === "bad") throw new Error("boom");
    }).before(({ task }) => calls.push(`${task}:before`))
      .onSuccess((run) => calls.push(`${run.task}:success`))
      .onFailure((error, run) => calls.push(`${run.task}:failure:${(error as Error).message}`))
      .after((run) => calls.push(`${run.task}:after:${run.status}`));
  }
  await scheduler.runDue(at());
  assert.deepEqual(calls.filter((c) => c.startsWith("good")), [
    "good:before",
    "good:run",
    "good:success",
    "good:after:succeeded",
  ]);
  assert.deepEqual(calls.filter((c) => c.startsWith("bad")), [
    "bad:before",
    "bad:run",
    "bad:failure:boom",
    "bad:after:failed",
  ]);
});

Deno.test("a before() hook that throws fails the run without calling the handler", async () => {
  let called = false;
  const scheduler = new Scheduler();
  scheduler.call("guarded", () => called = true).before(() => {
    throw new Error("not ready");
  });
  const [outcome] = await scheduler.runDue(at());
  assert.equal(outcome.status, "failed");
  assert.equal(called, false);
  assert.equal((await scheduler.history("guarded"))[0].error, "not ready");
});

Deno.test("pingBefore() and thenPing() send real HTTP requests around the run; a failed ping is reported, not fatal", async () => {
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    hits.push(`${request.method} ${path}`);
    return new Response("ok", { status: path === "/down" ? 503 : 200 });
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const { errors, onError } = collectErrors();
    const scheduler = new Scheduler({ onError });
    scheduler.call("pinged", () => hits.push("run"))
      .pingBefore(`${base}/start`).thenPing(`${base}/done`).thenPing(`${base}/down`);
    const [outcome] = await scheduler.runDue(at());
    assert.equal(outcome.status, "succeeded");
    assert.deepEqual(hits.slice(0, 2), ["GET /start", "run"]);
    assert.deepEqual(hits.slice(2).sort(), ["GET /done", "GET /down"]);
    assert.equal(errors.length, 1);
    const error = errors[0].error;
    assert.ok(error instanceof PingFailedError);
    assert.equal(error.code, "SCHEDULER_PING_FAILED");
    assert.equal(error.status, 503);
    assert.equal(error.url, `${base}/down`);
    assert.match(error.message, /answered HTTP 503/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("retry() re-runs a failed attempt after its backoff and records the attempts", async () => {
  const clock = new FakeClock(T0);
  const attempts: number[] = [];
  const scheduler = new Scheduler({ clock });
  scheduler.call("flaky", ({ attempt }) => {
    attempts.push(attempt);
    if (attempt < 3) throw new Error(`attempt ${attempt} failed`);
  }).retry(3, [100, 1_000]);
  const running = scheduler.runDue(at());
  await settle();
  assert.deepEqual(attempts, [1]);
  await clock.advance(99);
  assert.deepEqual(attempts, [1]);
  await clock.advance(1);
  assert.deepEqual(attempts, [1, 2]);
  await clock.advance(1_000);
  const [outcome] = await running;
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.deepEqual(outcome, { task: "flaky", scheduledAt: at(), status: "succeeded", attempts: 3 });
  const [run] = await scheduler.history("flaky");
  assert.equal(run.attempts, 3);
  assert.equal(run.duration, 1_100);
});

Deno.test("a run that exhausts its retries fails with the last error", async () => {
  const scheduler = new Scheduler();
  scheduler.call("doomed", ({ attempt }) => {
    throw new Error(`attempt ${attempt}`);
  }).retry(1);
  const [outcome] = await scheduler.runDue(at());
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.status === "failed" && (outcome.error as Error).message, "attempt 2");
});

Deno.test("timeout() fails a hanging attempt, aborts its signal, and the other tasks still finish", async () => {
  const clock = new FakeClock(T0);
  let signal: AbortSignal | undefined;
  const scheduler = new Scheduler({ clock });
  scheduler.call("hangs", (context) => {
    signal = context.signal;
    return new Promise(() => {}); // never settles
  }).timeout(5_000);
  scheduler.call("fails", () => Promise.reject(new Error("broken")));
  scheduler.call("works", () => "fine");
  const running = scheduler.runDue(at());
  await clock.advance(4_999);
  assert.equal(signal?.aborted, false);
  await clock.advance(1);
  const outcomes = await running;
  assert.ok(signal?.aborted);
  assert.ok(signal?.reason instanceof TaskTimeoutError);
  const byTask = Object.fromEntries(outcomes.map((o) => [o.task, o]));
  assert.equal(byTask.hangs.status, "failed");
  assert.ok(byTask.hangs.status === "failed" && byTask.hangs.error instanceof TaskTimeoutError);
  assert.equal(byTask.fails.status, "failed");
  assert.equal(byTask.works.status, "succeeded");
  assert.equal((await scheduler.history("hangs"))[0].error, 'Task "hangs" timed out after 5000 ms');
});

Deno.test("withoutOverlapping() skips an occurrence while the previous run is still going", async () => {
  const clock = new FakeClock(T0);
  let finish = () => {};
  let runs = 0;
  const scheduler = new Scheduler({ clock });
  scheduler.call("sync", () => {
    runs++;
    return new Promise<void>((resolve) => finish = resolve);
  }).everyMinute().withoutOverlapping();
  const first = scheduler.runDue(at());
  await settle();
  const [second] = await scheduler.runDue(at(60_000));
  assert.deepEqual(second, {
    task: "sync",
    scheduledAt: at(60_000),
    status: "skipped",
    reason: "overlapping",
  });
  finish();
  assert.equal((await first)[0].status, "succeeded");
  const running = scheduler.runDue(at(120_000));
  await settle();
  finish();
  const [third] = await running;
  assert.equal(third.status, "succeeded");
  assert.equal(runs, 2);
  const history = await scheduler.history("sync");
  // Newest occurrence first, whatever order the runs finished in.
  assert.deepEqual(history.map((r) => [r.scheduledAt - at().getTime(), r.status, r.error]), [
    [120_000, "succeeded", undefined],
    [60_000, "skipped", "overlapping"],
    [0, "succeeded", undefined],
  ]);
});

Deno.test("a crashed run's overlap lock expires after its TTL, so the task runs again", async () => {
  const clock = new FakeClock(T0);
  const mutex = new MemoryMutex({ clock });
  // A process that took the lock and then died: nobody will ever release it.
  await mutex.acquire("overlap:sync", "crashed-process", 10 * 60_000);
  let runs = 0;
  const scheduler = new Scheduler({ clock, mutex });
  scheduler.call("sync", () => runs++).everyFiveMinutes().withoutOverlapping(10 * 60_000);
  clock.jump(at(5 * 60_000).getTime());
  const [blocked] = await scheduler.runDue(at(5 * 60_000));
  assert.equal(blocked.status === "skipped" && blocked.reason, "overlapping");
  clock.jump(at(10 * 60_000).getTime()); // the lock's TTL has passed
  const [freed] = await scheduler.runDue(at(10 * 60_000));
  assert.equal(freed.status, "succeeded");
  assert.equal(runs, 1);
});

Deno.test("onOneServer() among schedulers sharing a mutex runs each occurrence on one of them", async () => {
  const mutex = new MemoryMutex();
  const ranOn: string[] = [];
  const schedulers = ["a", "b", "c"].map((instance) => {
    const scheduler = new Scheduler({ mutex, instance });
    scheduler.call("backup", () => ranOn.push(instance)).everyMinute().onOneServer();
    scheduler.call("local", () => ranOn.push(`local-${instance}`)).everyMinute();
    return scheduler;
  });
  for (let minute = 0; minute < 4; minute++) {
    await Promise.all(schedulers.map((scheduler) => scheduler.runDue(at(minute * 60_000))));
  }
  assert.equal(ranOn.filter((name) => !name.startsWith("local")).length, 4);
  assert.equal(ranOn.filter((name) => name.startsWith("local")).length, 12);
});

Deno.test("history keeps the last runs per task, newest first, with status, error and timing", async () => {
  const clock = new FakeClock(T0);
  const scheduler = new Scheduler({
    clock,
    history: new MemoryHistory({ limit: 3 }),
    instance: "i1",
  });
  let n = 0;
  scheduler.call("alternating", async () => {
    await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), 250));
    if (n++ % 2 === 1) throw new Error(`odd run ${n}`);
  });
  for (let minute = 0; minute < 5; minute++) {
    clock.jump(at(minute * 60_000).getTime());
    const running = scheduler.runDue(at(minute * 60_000));
    await clock.advance(250);
    await running;
  }
  const history = await scheduler.history("alternating");
  assert.equal(history.length, 3);
  assert.deepEqual(history.map((r) => new Date(r.scheduledAt).toISOString()), [
    "2025-06-02T12:04:00.000Z",
    "2025-06-02T12:03:00.000Z",
    "2025-06-02T12:02:00.000Z",
  ]);
  assert.deepEqual(history[1], {
    task: "alternating",
    scheduledAt: Date.parse("2025-06-02T12:03:00Z"),
    startedAt: Date.parse("2025-06-02T12:03:00Z"),
    finishedAt: Date.parse("2025-06-02T12:03:00.250Z"),
    duration: 250,
    status: "failed",
    attempts: 1,
    error: "odd run 4",
    instance: "i1",
    trigger: "schedule",
  });
  assert.equal(history[0].status, "succeeded");
});

Deno.test("errors in hooks after the run are reported to onError and do not change the outcome", async () => {
  const { errors, onError } = collectErrors();
  const scheduler = new Scheduler({ onError });
  scheduler.call("ok", () => {}).after(() => {
    throw new Error("after broke");
  }).onSuccess(() => Promise.reject(new Error("success broke")));
  const [outcome] = await scheduler.runDue(at());
  assert.equal(outcome.status, "succeeded");
  assert.deepEqual(errors.map((e) => e.phase), ["onSuccess hook", "after hook"]);
});
