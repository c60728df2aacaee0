/**
 * RedisBackend reads every script reply strictly: a reply of the wrong shape
 * is a RedisError with code REDIS_UNEXPECTED_REPLY, never a silent "lost".
 *
 * @module
 */
import assert from "node:assert/strict";
import { RedisError } from "../../src/errors.ts";
import type { RedisArg, RedisLike, RedisReply } from "../../src/redis/redis_like.ts";
import { Keyspace } from "../../src/redis/keys.ts";
import { RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";

function isUnexpectedReply(error: unknown): boolean {
  assert.ok(error instanceof RedisError, `got ${error}`);
  assert.equal(error.code, "REDIS_UNEXPECTED_REPLY");
  return true;
}

const job = (id: string, now: number) => ({
  id,
  name: "record",
  queue: "default",
  payload: '{"n":1}',
  priority: "normal" as const,
  maxRetries: 3,
  createdAt: now,
  runAt: now,
});

Deno.test("fail() with a tampered replay memo throws REDIS_UNEXPECTED_REPLY instead of answering lost, and the job keeps its lease", async () => {
  await using stack = await startRedisStack();
  const prefix = "tampered-fail";
  const backend = new RedisBackend({ redis: stack.redis, prefix });
  const now = Date.now();
  await backend.enqueue("default", [job("a", now), job("b", now)], now);
  const taken = await backend.take({
    queue: "default",
    now,
    complete: [],
    reserve: 2,
    leaseDuration: 60_000,
    token: "lease",
  });
  assert.equal(taken.jobs.length, 2);
  // The memo a replayed fail() answers from: an outcome no script writes, and a non-number.
  const memo = new Keyspace("default", prefix).key("outcomes", "lease");
  await stack.redis.hset(memo, { a: "7", b: "garbage" });
  for (const id of ["a", "b"]) {
    await assert.rejects(
      backend.fail({ queue: "default", id, token: "lease", now, outcome: "dead", runAt: now }),
      isUnexpectedReply,
    );
  }
  // Nothing was changed on the way: both jobs are still active under their lease.
  assert.deepEqual(await backend.counts("default"), {
    ready: 0,
    delayed: 0,
    active: 2,
    failed: 0,
    completed: 0,
    paused: false,
  });
  assert.deepEqual(await backend.extend("default", [{ id: "a", token: "lease" }], 60_000, now), []);
});

Deno.test("take() replaying a tampered reservation memo throws REDIS_UNEXPECTED_REPLY, not a TypeError", async () => {
  await using stack = await startRedisStack();
  const prefix = "tampered-take";
  const backend = new RedisBackend({ redis: stack.redis, prefix });
  const now = Date.now();
  await backend.enqueue("default", [job("a", now)], now);
  const reservation = new Keyspace("default", prefix).key("reservation", "replayed");
  await stack.redis.set(reservation, JSON.stringify({ lost: 5, ids: [] }));
  await assert.rejects(
    backend.take({
      queue: "default",
      now,
      complete: [],
      reserve: 1,
      leaseDuration: 60_000,
      token: "replayed",
    }),
    isUnexpectedReply,
  );
  assert.equal((await backend.counts("default")).ready, 1, "the job was not touched");
});

/**
 * A RedisLike whose scripts all answer `reply`. Only for replies no real Redis
 * path can produce (the progress, count and rate-limit scripts keep no memo a
 * tampered key could feed): everything else in these tests runs on real Redis.
 */
function answering(reply: RedisReply): RedisLike {
  const script = (_s: string, _k: readonly string[], _a: readonly RedisArg[]) =>
    Promise.resolve(reply);
  const unused = () => Promise.reject(new Error("not used by this test"));
  return {
    eval: script,
    evalsha: script,
    get: unused,
    set: unused,
    del: unused,
    publish: unused,
    subscribe: unused,
    pipeline: () => Promise.resolve([{ ok: true, reply: 1 }]),
  };
}

Deno.test("RedisBackend refuses malformed replies from every script with REDIS_UNEXPECTED_REPLY", async () => {
  const calls: [string, (backend: RedisBackend) => Promise<unknown>][] = [
    [
      "fail",
      (b) => b.fail({ queue: "q", id: "a", token: "t", now: 0, outcome: "retry", runAt: 0 }),
    ],
    ["progress", (b) => b.progress("q", { id: "a", token: "t" }, 1)],
    ["manage", (b) => b.manage("q", { action: "retry", ids: ["a"], now: 0 })],
    ["jobs", (b) => b.findJobs("q", { limit: 1 })],
    ["hit", (b) => b.hit("k", "t", 1, 1_000, 0)],
    [
      "take",
      (b) => b.take({ queue: "q", now: 0, complete: [], reserve: 1, leaseDuration: 1, token: "t" }),
    ],
    ["enqueue", (b) => b.enqueue("q", [job("a", 0)], 0)],
  ];
  const malformed: RedisReply[] = [null, "OK", -1, 2.5, 99, [1, 2], [[], [], ["a"], -1, []]];
  for (const [name, call] of calls) {
    for (const reply of malformed) {
      const outcome = await call(new RedisBackend({ redis: answering(reply) })).then(
        (value) => ({ value }),
        (error) => ({ error }),
      );
      // Some replies are well-formed for some scripts (a count of 99, say); the rest must throw.
      if ("value" in outcome && acceptable(name, reply)) continue;
      assert.ok("error" in outcome, `${name} accepted ${JSON.stringify(reply)}`);
      isUnexpectedReply(outcome.error);
    }
  }
});

/** The replies above that a script may really give. */
function acceptable(script: string, reply: RedisReply): boolean {
  switch (script) {
    case "retryFailed":
    case "forgetFailed":
      return reply === 99;
    case "hit":
      return JSON.stringify(reply) === "[1,2]"; // allowed, retry after 2 ms
    default:
      return false;
  }
}
