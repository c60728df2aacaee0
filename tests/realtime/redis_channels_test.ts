/**
 * The channel count scripts and messages against a real Redis behind Kiln's
 * gateway: replayed calls, and counts forged onto the fan-out topic.
 */
import assert from "node:assert/strict";
import { channelRead, channelSync } from "../../src/realtime/_scripts.ts";
import { Hub, type HubEvent } from "../../src/realtime/hub.ts";
import { RedisFanout } from "../../src/realtime/redis_fanout.ts";
import { defineScript, ScriptRunner } from "../../src/redis/script.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { within } from "./_support/ws_client.ts";

const KEYS = ["instances", "held", "mine", "totals"].map((part) => `t:{realtime}:channels:${part}`);

Deno.test("a channelSync call retried after a lost reply answers as the first did and counts once", async () => {
  await using stack = await startRedisStack();
  const runner = new ScriptRunner(new UpstashRedis({ url: stack.gatewayUrl, token: stack.token }));
  const sync = defineScript(channelSync);
  const keys = [...KEYS, "t:{realtime}:channels:replay:1"];
  const args = [1_000, 31_000, "instance-a", 60_000, "news", 3];
  const first = await runner.run(sync, keys, args);
  const replay = await runner.run(sync, keys, args);
  // The replay still reports the channel occupied: the first answer was the one lost.
  assert.deepEqual(replay, first);
  assert.deepEqual(first, [["news"], [], ["news", 3], 1]);
  const read = defineScript(channelRead);
  const others = await runner.run(read, [...KEYS, "t:{realtime}:channels:replay:2"], [
    2_000,
    "instance-b",
    60_000,
  ]);
  assert.deepEqual(others, [["news", 3], [], [], []]);
});

Deno.test("counts forged onto the fan-out topic are dropped unless well formed", async () => {
  await using stack = await startRedisStack();
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  const hub = new Hub({ fanout: new RedisFanout({ redis, prefix: "forged", onError: () => {} }) });
  try {
    const seen: HubEvent[] = [];
    hub.watch((event) => seen.push(event));
    await hub.broadcast("news", "start", null); // starts the fan-out's subscription
    const topic = "forged:{realtime}:fanout";
    const forged = [
      "not json",
      JSON.stringify({ i: "x", n: 1, k: "news" }),
      JSON.stringify({ i: "x", n: 2, k: ["news", -3, "a", "NaN", 5, "b", "c", 1.5, "d"] }),
      JSON.stringify({ i: "x", n: 3, k: ["ok", 2] }),
    ];
    for (const message of forged) await redis.publish(topic, message);
    await within(
      (async () => {
        while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      5_000,
      "the well-formed count",
    );
    assert.deepEqual(seen, [{ type: "subscription_count", channel: "ok", count: 2 }]);
  } finally {
    await hub.close();
  }
});
