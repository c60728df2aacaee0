/**
 * MemoryBackend and RedisBackend (through the HTTP gateway) driven by the same
 * seeded random run of flow-controlled and plain jobs: dispatches (priorities,
 * delays), debounced and throttled dispatches, takes of 1 to 4, completions, retries (now or later), dead letters,
 * removals of waiting jobs, searches by tag and clock moves. After every step both must have
 * answered the same (the jobs taken, in order; each outcome; the jobs found) and count the same.
 * Debounced dispatches change priority, tag and concurrency key as they fold.
 * Ids are given (`jobId`), so ties in time break alike on each run.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue, RedisBackend } from "../../src/queue/mod.ts";
import type { QueueBackend } from "../../src/queue/backend_mod.ts";
import type { StoredJob } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { FakeClock } from "./_helpers.ts";

const schema = v.object({ key: v.string(), n: v.number() });
const tags = (payload: { key: string }) => [`key:${payload.key}`];
const definitions = [
  defineJob({
    name: "conc",
    schema,
    tags,
    concurrency: { key: (p) => p.key, limit: 2 },
    handle() {},
  }),
  defineJob({
    name: "rate",
    schema,
    tags,
    rateLimit: { key: (p) => p.key, limit: 2, per: 1_000 },
    handle() {},
  }),
  defineJob({
    name: "both",
    schema,
    tags,
    concurrency: { key: (p) => p.key, limit: 1 },
    rateLimit: { key: (p) => p.key, limit: 3, per: 1_300 },
    handle() {},
  }),
  defineJob({ name: "plain", schema, tags, handle() {} }),
];
const priorities = ["high", "normal", "low"] as const;
/** FLOW_DIFF_SEEDS=1,2,… runs other seeds; FLOW_DIFF_DEBUG=1 prints every step's answers. */
const seeds = (Deno.env.get("FLOW_DIFF_SEEDS") ?? "1,2,3,4,5,6,7,8").split(",").map(Number);
const debug = Deno.env.get("FLOW_DIFF_DEBUG") !== undefined;

/** A small seeded generator (mulberry32), so a failing run can be replayed. */
function random(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

interface Side {
  backend: QueueBackend;
  queue: Queue;
  running: Map<number, { job: StoredJob; token: string }>;
}

function label(job: StoredJob): number {
  return (job.payload as { n: number }).n;
}

async function step(side: Side, op: Op, now: number): Promise<unknown> {
  const { backend, queue, running } = side;
  switch (op.kind) {
    case "dispatch": {
      const job = definitions[op.def];
      const result = await queue.dispatch(job, { key: op.key, n: op.n }, {
        jobId: `j${String(op.n).padStart(4, "0")}`,
        priority: op.priority,
        ...(op.delay > 0 ? { delay: op.delay } : {}),
      });
      return result.created;
    }
    case "debounce": {
      // No jobId with debounce: the answer's id is random, so only `created` is compared.
      const debounce = { key: op.key, delay: 400, ...(op.maxWait ? { maxWait: 900 } : {}) };
      const result = await queue.dispatch(definitions[op.def], { key: op.tag, n: op.n }, {
        debounce,
        priority: op.priority,
      });
      return result.created;
    }
    case "throttle": {
      const result = await queue.dispatch(definitions[3], { key: op.key, n: op.n }, {
        jobId: `j${String(op.n).padStart(4, "0")}`,
        throttle: { key: op.key, window: 700 },
      });
      return result;
    }
    case "take": {
      const token = crypto.randomUUID();
      const done = op.complete.map((n) => running.get(n)!);
      for (const n of op.complete) running.delete(n);
      const result = await backend.take({
        queue: "default",
        now,
        complete: done.map(({ job, token }) => ({ id: job.id, token, flow: job.flow })),
        reserve: op.reserve,
        leaseDuration: 600_000,
        token,
      });
      for (const job of result.jobs) running.set(label(job), { job, token });
      // (nextDueAt is left out: it also says when a lease ends, on each backend's own clock.)
      return { jobs: result.jobs.map(label), lost: result.lost };
    }
    case "fail": {
      const { job, token } = running.get(op.n)!;
      running.delete(op.n);
      return await backend.fail({
        queue: "default",
        id: job.id,
        token,
        now,
        outcome: op.outcome,
        runAt: now + op.after,
      });
    }
    case "search": {
      const { jobs } = await queue.jobs({ queue: "default", tag: `key:${op.tag}`, limit: 1_000 });
      return jobs.map((job) => `${label(job)} ${job.state} ${job.priority}`).sort();
    }
    case "remove":
      return await queue.remove(`j${String(op.n).padStart(4, "0")}`, "default");
  }
}

type Op =
  | {
    kind: "dispatch";
    def: number;
    key: string;
    n: number;
    priority: typeof priorities[number];
    delay: number;
  }
  | {
    kind: "debounce";
    def: number;
    key: string;
    tag: string;
    n: number;
    maxWait: boolean;
    priority: typeof priorities[number];
  }
  | { kind: "search"; tag: string }
  | { kind: "throttle"; key: string; n: number }
  | { kind: "take"; reserve: number; complete: number[] }
  | { kind: "fail"; n: number; outcome: "retry" | "dead"; after: number }
  | { kind: "remove"; n: number }
  | { kind: "advance"; ms: number };

async function run(
  seed: number,
  steps: number,
  make: () => QueueBackend,
  other: () => QueueBackend,
) {
  const pick = random(seed);
  const clock = new FakeClock();
  const sides: Side[] = [make(), other()].map((backend) => ({
    backend,
    queue: new Queue({ backend, clock }),
    running: new Map(),
  }));
  let n = 0;
  const log: string[] = [];
  for (let i = 0; i < steps; i++) {
    const roll = pick(100);
    const running = [...sides[0].running.keys()].sort((a, b) => a - b);
    let op: Op;
    if (roll < 35) {
      op = {
        kind: "dispatch",
        def: pick(definitions.length),
        key: ["a", "b", "c"][pick(3)],
        n: n++,
        priority: priorities[pick(3)],
        delay: pick(4) === 0 ? 500 + 7 * pick(300) : 0,
      };
    } else if (roll < 41) {
      op = {
        kind: "debounce",
        def: [0, 3][pick(2)],
        key: ["d1", "d2"][pick(2)],
        tag: ["a", "b", "c"][pick(3)],
        n: n++,
        maxWait: pick(2) === 0,
        priority: priorities[pick(3)],
      };
    } else if (roll < 45) {
      op = { kind: "throttle", key: ["t1", "t2"][pick(2)], n: n++ };
    } else if (roll < 60) {
      op = { kind: "take", reserve: 1 + pick(4), complete: running.filter(() => pick(2) === 0) };
    } else if (roll < 70 && running.length > 0) {
      op = {
        kind: "fail",
        n: running[pick(running.length)],
        outcome: pick(3) === 0 ? "dead" : "retry",
        after: pick(2) === 0 ? 0 : 200 + 7 * pick(100),
      };
    } else if (roll < 76 && n > 0) {
      op = { kind: "remove", n: pick(n) };
    } else if (roll < 79) {
      op = { kind: "search", tag: ["a", "b", "c"][pick(3)] };
    } else {
      op = { kind: "advance", ms: 1 + 3 * pick(200) };
    }
    log.push(JSON.stringify(op));
    if (op.kind === "advance") {
      clock.advance(op.ms);
      continue;
    }
    const answers = [];
    for (const side of sides) answers.push(await step(side, op, clock.now()));
    const counts = await Promise.all(sides.map((side) => side.queue.counts()));
    if (debug) console.log(i, JSON.stringify(op), JSON.stringify(answers));
    const where = `seed ${seed}, step ${i}; the last steps:\n${log.slice(-12).join("\n")}`;
    assert.deepEqual(answers[1], answers[0], `answers differ at ${where}`);
    assert.deepEqual(counts[1], counts[0], `counts differ at ${where}`);
    clock.advance(1); // every step at its own time, so no two run-ats tie by accident
  }
}

Deno.test("MemoryBackend and RedisBackend agree step by step on random runs of limited, rated and plain jobs", async (t) => {
  await using stack = await startRedisStack();
  for (const seed of seeds) {
    await t.step(`seed ${seed}`, async () => {
      await run(
        seed,
        250,
        () => new MemoryBackend(),
        () => new RedisBackend({ redis: stack.redis, prefix: `diff${seed}` }),
      );
    });
  }
});
