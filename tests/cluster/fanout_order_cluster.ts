/**
 * Realtime through a clustered gateway, at the level a Kiln user sees it: two hubs joined
 * by `RedisFanout`, one hub broadcasting a run of messages on one channel, a client of the
 * other hub receiving them. On one Redis the run arrives in the order it was sent; the
 * cluster must not reorder it (each PUBLISH may enter the cluster at another node).
 *
 * @module
 */

import assert from "node:assert/strict";
import { RedisFanout } from "../../src/realtime/redis_fanout.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { sign, startServer } from "../realtime/_support/server.ts";
import { TestClient } from "../realtime/_support/ws_client.ts";
import { startClusterStack } from "./_cluster_stack.ts";

Deno.test("RedisFanout over a clustered gateway delivers one hub's broadcasts on a channel in the order sent", async () => {
  await using stack = await startClusterStack();
  const fanout = () =>
    new RedisFanout({
      redis: new UpstashRedis({ url: stack.gatewayUrl, token: stack.token }),
      prefix: "order",
    });
  await using sender = startServer({ hub: { fanout: fanout() } });
  await using receiver = startServer({ hub: { fanout: fanout() } });
  await using alice = await TestClient.connect(receiver.url, await sign("alice"));
  await alice.subscribe("news");

  const count = 30;
  for (let n = 0; n < count; n++) await sender.hub.broadcast("news", "tick", n);
  const seen: unknown[] = [];
  for (let n = 0; n < count; n++) seen.push((await alice.next("message")).data);
  assert.deepEqual(seen, Array.from({ length: count }, (_, n) => n));
});
