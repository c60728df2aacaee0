/**
 * The presence scripts keep each call's answer so an HTTP replay gets the
 * same one; what they keep must not grow with the channel, or a channel of N
 * members holds N² bytes of answers while people join.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../src/clock.ts";
import { defineScript, Keyspace, ScriptRunner, UpstashRedis } from "../../src/redis/mod.ts";
import { RedisPresence } from "../../src/realtime/_redis_presence.ts";
import { presenceJoin, presenceMembers, presenceTouch } from "../../src/realtime/_scripts.ts";
import { startRedisStack } from "../support/redis_stack.ts";

Deno.test("presence joins and member lists keep small replay answers however many members the channel has, and a replay still gets the first answer", async () => {
  await using stack = await startRedisStack();
  const prefix = `presence-${crypto.randomUUID()}`;
  const redis = UpstashRedis.fromClient(stack.newRedis());
  const presence = new RedisPresence({
    runner: new ScriptRunner(redis),
    prefix,
    instanceId: "instance-a",
    clock: systemClock,
    ttl: 30_000,
    heartbeatInterval: 10_000,
    onError: (error) => {
      throw error;
    },
  });
  const info = "x".repeat(200);
  for (let i = 0; i < 300; i++) {
    const joined = await presence.join("room", { id: `user-${i}`, info: { name: info } });
    assert.equal(joined.added, true);
    assert.equal(joined.members.length, i + 1);
  }
  assert.equal((await presence.members("room")).length, 300);
  const answers: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await stack.redis.scan(cursor, {
      match: `${prefix}:*:replay:*`,
      count: 1_000,
    });
    answers.push(...keys);
    cursor = String(next);
  } while (cursor !== "0");
  assert.ok(answers.length >= 300, `${answers.length} answers kept`);
  let largest = 0;
  for (const key of answers) largest = Math.max(largest, await stack.redis.strlen(key));
  // Before: the 300th join kept all 300 members (over 60 KB); now a few flags and lapsed members.
  assert.ok(largest < 1_000, `the largest kept answer is ${largest} bytes`);
  presence.stop();

  // A replay (the same call, the same answer key) still gets the first run's answer.
  const runner = new ScriptRunner(redis);
  const keys = new Keyspace("realtime.replayed", prefix);
  const keysOf = (call: string) => [
    keys.key("conns"),
    keys.key("counts"),
    keys.key("members"),
    keys.key("replay", call),
  ];
  const now = Date.now();
  const join = (instance: string, user: string, deadline: number, call: string) =>
    runner.run(defineScript(presenceJoin), keysOf(call), [
      now,
      deadline,
      instance,
      user,
      JSON.stringify({ id: user }),
      60_000,
    ]);
  const first = await join("b", "ann", now + 30_000, "join-ann");
  assert.deepEqual(await join("b", "ann", now + 30_000, "join-ann"), first);
  assert.deepEqual(first, [1, ['{"id":"ann"}'], [], 0]);
  // Carl's instance has stopped heartbeating: the first members() call prunes him, and its
  // replay must say so again, or his leave is never announced.
  await join("c", "carl", now - 1, "join-carl");
  const members = () =>
    runner.run(defineScript(presenceMembers), keysOf("members-1"), [now, "b", 60_000]);
  const listed = await members();
  assert.deepEqual(listed, [['{"id":"ann"}'], ['{"id":"carl"}']]);
  assert.deepEqual(await members(), listed);
  // A members() call that pruned nothing keeps nothing.
  await runner.run(defineScript(presenceMembers), keysOf("members-2"), [now, "b", 60_000]);
  assert.equal(await stack.redis.exists(keys.key("replay", "members-2")), 0);
  // Nor does a heartbeat that changed nobody's presence, the common case.
  const touched = await runner.run(defineScript(presenceTouch), keysOf("touch-1"), [
    now,
    now + 30_000,
    "b",
    60_000,
    "ann",
    '{"id":"ann"}',
  ]);
  assert.deepEqual(touched, [[], []]);
  assert.equal(await stack.redis.exists(keys.key("replay", "touch-1")), 0);
});
