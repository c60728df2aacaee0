/**
 * Channel counts across instances: two servers, each with its own hub, joined
 * by `RedisFanout` through a real Redis behind Kiln's gateway. Subscription
 * counts, the HTTP API's channel listings and the occupied/vacated webhooks
 * are the cluster's, not one instance's; an instance that stops heartbeating
 * loses its subscribers; racing instances report a channel's change once.
 */
import assert from "node:assert/strict";
import type { Clock } from "../../../src/clock.ts";
import { Hub, type HubEvent } from "../../../src/realtime/hub.ts";
import { RedisFanout } from "../../../src/realtime/redis_fanout.ts";
import { MemoryBackend } from "../../../src/queue/memory_backend.ts";
import { Queue } from "../../../src/queue/queue.ts";
import { Worker } from "../../../src/queue/worker.ts";
import { pusherWebhook } from "../../../src/realtime/pusher/webhooks.ts";
import { UpstashRedis } from "../../../src/redis/upstash_redis.ts";
import { type RedisStack, startRedisStack } from "../../support/redis_stack.ts";
import { within } from "../_support/ws_client.ts";
import { APP, startPusherServer } from "./_server.ts";
import { connectPusherJs, disconnect, next, type PusherJsClient, serverSdk } from "./_clients.ts";
import { RawPusher } from "./_raw.ts";
import { receiver } from "./_receiver.ts";

const COUNTING = { ...APP, subscriptionCount: true };

/** A hub joined to the others of `prefix` through the stack's Redis. */
function joinedHub(
  stack: RedisStack,
  prefix: string,
  fanout: { presenceTtl?: number; clock?: Clock } = {},
): Hub {
  return new Hub({
    fanout: new RedisFanout({
      redis: new UpstashRedis({ url: stack.gatewayUrl, token: stack.token }),
      prefix,
      onError: () => {},
      ...fanout,
    }),
    onError: () => {},
  });
}

/** Resolves once `check` holds, polling every 20 ms; fails after 5 s with `what`. */
async function until(check: () => boolean | Promise<boolean>, what: () => string): Promise<void> {
  await within(
    (async () => {
      while (!await check()) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
    5_000,
    what,
  );
}

/** The hub events of `hubs` about channel occupancy, in arrival order. */
function occupancy(...hubs: Hub[]): string[] {
  const seen: string[] = [];
  for (const hub of hubs) {
    hub.watch((event: HubEvent) => {
      if (event.type === "channel_occupied" || event.type === "channel_vacated") {
        seen.push(`${event.type} ${event.channel}`);
      }
    });
  }
  return seen;
}

/** Subscribes a pusher-js client and records the counts it hears. */
async function counting(client: PusherJsClient, name: string) {
  const channel = client.subscribe(name);
  const counts: number[] = [];
  channel.bind("pusher:subscription_count", (data: { subscription_count: number }) => {
    counts.push(data.subscription_count);
  });
  await next((resolve) => channel.bind("pusher:subscription_succeeded", resolve), "subscribed");
  return {
    counts,
    until: (want: number) =>
      until(() => counts.at(-1) === want, () => `a count of ${want} (saw ${counts.join(", ")})`),
  };
}

Deno.test("subscription counts and the HTTP API's channel listings add up the subscribers of every instance", async () => {
  await using stack = await startRedisStack();
  const options = { apps: [COUNTING], subscriptionCountInterval: 50 };
  await using a = startPusherServer({ hubInstance: joinedHub(stack, "sum"), pusher: options });
  await using b = startPusherServer({ hubInstance: joinedHub(stack, "sum"), pusher: options });
  const [x, y, z] = await Promise.all([
    connectPusherJs(a, "xena"),
    connectPusherJs(b, "yann"),
    connectPusherJs(b, "zoe"),
  ]);
  try {
    const atA = await counting(x, "news");
    await atA.until(1);
    const atB = await counting(y, "news");
    // The subscriber on B counts on A: A's client hears 2, told through Redis.
    await Promise.all([atA.until(2), atB.until(2)]);
    const only = z.subscribe("only-on-b");
    await next((resolve) => only.bind("pusher:subscription_succeeded", resolve), "only-on-b");
    const room = z.subscribe("presence-room");
    await next((resolve) => room.bind("pusher:subscription_succeeded", resolve), "the room");

    const sdkA = serverSdk(a);
    // B stores its subscribers a round trip after it answers them.
    await until(
      async () => (await a.hub.channels()).size === 3,
      () => "A to read B's three channels",
    );
    // A lists channels whose subscribers are all on B, with B's presence members.
    const listed = await (await sdkA.get({ path: "/channels" })).json();
    assert.deepEqual(Object.keys(listed.channels).sort(), ["news", "only-on-b", "presence-room"]);
    const presence = await (await sdkA.get({
      path: "/channels",
      params: { filter_by_prefix: "presence-", info: "user_count" },
    })).json();
    assert.deepEqual(presence, { channels: { "presence-room": { user_count: 1 } } });
    for (const sdk of [sdkA, serverSdk(b)]) {
      const news = await sdk.get({
        path: "/channels/news",
        params: { info: "subscription_count" },
      });
      assert.deepEqual(await news.json(), { occupied: true, subscription_count: 2 });
    }
    const onB = await (await sdkA.get({
      path: "/channels/only-on-b",
      params: { info: "subscription_count" },
    })).json();
    assert.deepEqual(onB, { occupied: true, subscription_count: 1 });
    const triggered = await sdkA.trigger("news", "hello", {}, { info: "subscription_count" });
    assert.deepEqual(await triggered.json(), { channels: { news: { subscription_count: 2 } } });

    await disconnect(y);
    await atA.until(1); // B's leaver is told to A's client
    await disconnect(z);
    await until(
      async () => !(await a.hub.channels()).has("only-on-b"),
      () => "only-on-b to be listed by nobody",
    );
    const empty = await (await sdkA.get({
      path: "/channels/only-on-b",
      params: { info: "subscription_count" },
    })).json();
    assert.deepEqual(empty, { occupied: false, subscription_count: 0 });
  } finally {
    await Promise.all([x, y, z].map(disconnect));
  }
});

Deno.test("an instance that stops heartbeating loses its subscribers once its deadline lapses, and its channels are vacated once", async () => {
  await using stack = await startRedisStack();
  // The stuck instance's timers never fire: it stores its counts, then never renews them.
  const stuck: Clock = { now: () => Date.now(), setTimeout: () => 0, clearTimeout: () => {} };
  await using live = startPusherServer({
    hubInstance: joinedHub(stack, "lapse", { presenceTtl: 600 }),
  });
  await using dying = startPusherServer({
    hubInstance: joinedHub(stack, "lapse", { presenceTtl: 600, clock: stuck }),
  });
  const events = occupancy(live.hub, dying.hub);
  const { raw: here } = await RawPusher.connect(live);
  const { raw: there } = await RawPusher.connect(dying);
  try {
    here.send("pusher:subscribe", { channel: "news" });
    there.send("pusher:subscribe", { channel: "news" });
    there.send("pusher:subscribe", { channel: "ghost" });
    await here.next("pusher_internal:subscription_succeeded", "news");
    await there.next("pusher_internal:subscription_succeeded", "ghost");
    // The stuck instance's subscribes may go out in one call or two: wait for both.
    await until(async () => {
      const counts = await live.hub.channels();
      return counts.get("news") === 2 && counts.get("ghost") === 1;
    }, () => "news to count both instances, and ghost the stuck one");
    // 600 ms after its last call the stuck instance's subscribers stop counting;
    // the live instance's own heartbeat prunes them and reports the channel vacated.
    await until(
      () => events.includes("channel_vacated ghost"),
      () => `ghost vacated; saw ${events.join(", ")}`,
    );
    const counts = await live.hub.channels();
    assert.deepEqual([...counts], [["news", 1]]);
    assert.deepEqual(events.filter((event) => event.endsWith(" ghost")), [
      "channel_occupied ghost",
      "channel_vacated ghost",
    ]);
    assert.equal(events.filter((event) => event === "channel_occupied news").length, 1);
    assert.ok(!events.includes("channel_vacated news"), "news keeps its live subscriber");
  } finally {
    await here.close();
    await there.close();
  }
});

Deno.test("two instances racing to subscribe a channel's first members and unsubscribe its last report it occupied once and vacated once", async () => {
  await using stack = await startRedisStack();
  await using a = startPusherServer({ hubInstance: joinedHub(stack, "race") });
  await using b = startPusherServer({ hubInstance: joinedHub(stack, "race") });
  const events = occupancy(a.hub, b.hub);
  const { raw: atA } = await RawPusher.connect(a);
  const { raw: atB } = await RawPusher.connect(b);
  const rounds = 15;
  try {
    for (let round = 0; round < rounds; round++) {
      const channel = `race-${round}`;
      atA.send("pusher:subscribe", { channel });
      atB.send("pusher:subscribe", { channel });
      await atA.next("pusher_internal:subscription_succeeded", channel);
      await atB.next("pusher_internal:subscription_succeeded", channel);
      // Each instance sees the other's subscriber stored: the leaves race in Redis,
      // not inside one instance's batch (a subscribe and unsubscribe sent together
      // cancel out, and the channel is never reported at all).
      await until(
        async () =>
          (await a.hub.channels([channel])).get(channel) === 2 &&
          (await b.hub.channels([channel])).get(channel) === 2,
        () => `${channel} stored by both`,
      );
      atA.send("pusher:unsubscribe", { channel });
      atB.send("pusher:unsubscribe", { channel });
      await Promise.all([atA.roundTrip(), atB.roundTrip()]);
    }
    await until(
      () => events.filter((event) => event.startsWith("channel_vacated")).length >= rounds,
      () => `${rounds} vacated; saw ${events.join(", ")}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 200)); // room for a second report
    for (let round = 0; round < rounds; round++) {
      const mine = events.filter((event) => event.endsWith(` race-${round}`));
      assert.deepEqual(mine, [`channel_occupied race-${round}`, `channel_vacated race-${round}`]);
    }
    assert.equal((await a.hub.channels()).size, 0);
  } finally {
    await atA.close();
    await atB.close();
  }
});

Deno.test("two instances sending webhooks to one receiver deliver one channel_occupied and one channel_vacated", async () => {
  await using stack = await startRedisStack();
  const hooks = receiver();
  const queue = new Queue({ backend: new MemoryBackend() });
  const worker = new Worker(queue, { jobs: [pusherWebhook], minPollInterval: 10 });
  await worker.start();
  const pusher = {
    apps: [{ ...APP, webhooks: [{ url: hooks.url }] }],
    webhooks: { queue, interval: 20 },
  };
  const a = startPusherServer({ hubInstance: joinedHub(stack, "hooks"), pusher });
  const b = startPusherServer({ hubInstance: joinedHub(stack, "hooks"), pusher });
  const [x, y] = await Promise.all([connectPusherJs(a), connectPusherJs(b)]);
  try {
    const subscribed = [x, y].map((client) => {
      const channel = client.subscribe("news");
      return next((resolve) => channel.bind("pusher:subscription_succeeded", resolve));
    });
    await Promise.all(subscribed);
    await Promise.all([disconnect(x), disconnect(y)]);
    const events = await hooks.events(2);
    await new Promise((resolve) => setTimeout(resolve, 200)); // room for a duplicate
    assert.deepEqual(hooks.deliveries.flatMap((delivery) => delivery.events), [
      { name: "channel_occupied", channel: "news" },
      { name: "channel_vacated", channel: "news" },
    ]);
    assert.equal(events.length, 2);
    assert.ok(hooks.deliveries.every((delivery) => delivery.valid));
  } finally {
    await Promise.all([x, y].map(disconnect));
    await a.close();
    await b.close();
    await worker.stop();
    await hooks.close();
  }
});

Deno.test("after Redis restarts empty, each instance's heartbeat stores its subscribers again; meanwhile the HTTP API answers 503", async () => {
  await using stack = await startRedisStack();
  await using a = startPusherServer({
    hubInstance: joinedHub(stack, "restart", { presenceTtl: 900 }),
  });
  await using b = startPusherServer({
    hubInstance: joinedHub(stack, "restart", { presenceTtl: 900 }),
  });
  const { raw: atA } = await RawPusher.connect(a);
  const { raw: atB } = await RawPusher.connect(b);
  try {
    atA.send("pusher:subscribe", { channel: "news" });
    atB.send("pusher:subscribe", { channel: "news" });
    await atA.next("pusher_internal:subscription_succeeded", "news");
    await atB.next("pusher_internal:subscription_succeeded", "news");
    const both = async () => (await a.hub.channels()).get("news") === 2;
    await until(both, () => "news counted on both instances");
    await stack.stopRedis();
    const down = await serverSdk(a).get({
      path: "/channels/news",
      params: { info: "subscription_count" },
    }).then((response) => response.status, (error) => error.status);
    assert.equal(down, 503);
    await stack.startRedis(); // empty: every count is gone
    // Each heartbeat (every 300 ms) finds the store does not know its instance and sends all again.
    await until(
      async () => await both().catch(() => false),
      () => "news counted on both instances again",
    );
    const answer = await serverSdk(b).get({
      path: "/channels/news",
      params: { info: "subscription_count" },
    });
    assert.deepEqual(await answer.json(), { occupied: true, subscription_count: 2 });
  } finally {
    await atA.close();
    await atB.close();
  }
});
