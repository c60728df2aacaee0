/**
 * Two servers, each with its own hub, joined by `RedisFanout` through a real
 * Redis behind Kiln's gateway: Pusher-protocol traffic crosses instances.
 */
import assert from "node:assert/strict";
import { Hub } from "../../../src/realtime/hub.ts";
import { RedisFanout } from "../../../src/realtime/redis_fanout.ts";
import { UpstashRedis } from "../../../src/redis/upstash_redis.ts";
import { type RedisStack, startRedisStack } from "../../support/redis_stack.ts";
import { startPusherServer } from "./_server.ts";
import { connectPusherJs, disconnect, next, serverSdk, signIn } from "./_clients.ts";

/** A hub joined to the others of `prefix` through the stack's Redis. */
function joinedHub(stack: RedisStack, prefix: string): Hub {
  return new Hub({
    fanout: new RedisFanout({
      redis: new UpstashRedis({ url: stack.gatewayUrl, token: stack.token }),
      prefix,
      onError: () => {},
    }),
    onError: () => {},
  });
}

Deno.test("a trigger on one instance and presence on another reach pusher-js across RedisFanout", async () => {
  await using stack = await startRedisStack();
  await using a = startPusherServer({ hubInstance: joinedHub(stack, "presence") });
  await using b = startPusherServer({ hubInstance: joinedHub(stack, "presence") });
  const alice = await connectPusherJs(a, "alice");
  const bob = await connectPusherJs(b, "bob");
  try {
    const atA = alice.subscribe("presence-room");
    await next((resolve) => atA.bind("pusher:subscription_succeeded", resolve), "alice joined");
    const added = next<{ id: string }>(
      (resolve) => atA.bind("pusher:member_added", resolve),
      "bob announced on A",
    );
    const atB = bob.subscribe("presence-room");
    await next((resolve) => atB.bind("pusher:subscription_succeeded", resolve), "bob joined");
    // Bob, on B, sees Alice, who is on A; Alice hears of Bob.
    assert.equal((atB as unknown as { members: { count: number } }).members.count, 2);
    assert.equal((await added).id, "bob");
    const got = next((resolve) => atA.bind("crossed", resolve), "the event on A");
    await serverSdk(b).trigger("presence-room", "crossed", { via: "redis" });
    assert.deepEqual(await got, { via: "redis" });
    const users = await serverSdk(b).get({ path: "/channels/presence-room/users" });
    const listed = (await users.json() as { users: { id: string }[] }).users.map((user) => user.id);
    assert.deepEqual(listed.sort(), ["alice", "bob"]);
  } finally {
    await disconnect(alice);
    await disconnect(bob);
  }
});

Deno.test("terminate_connections sent to one instance closes the user's connection on another", async () => {
  await using stack = await startRedisStack();
  await using a = startPusherServer({ hubInstance: joinedHub(stack, "terminate") });
  await using b = startPusherServer({ hubInstance: joinedHub(stack, "terminate") });
  const dana = await connectPusherJs(b, "dana");
  try {
    // The subscription settles once B's hub listens to the fan-out.
    const channel = dana.subscribe("news");
    await next((resolve) => channel.bind("pusher:subscription_succeeded", resolve), "subscribed");
    await signIn(dana);
    const closed = next<{ data: { code: number } }>(
      (resolve) => dana.connection.bind("error", resolve),
      "the close on B",
    );
    await serverSdk(a).terminateUserConnections("dana");
    assert.equal((await closed).data.code, 4009);
  } finally {
    await disconnect(dana);
  }
});
