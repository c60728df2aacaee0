/**
 * `pusher_internal:subscription_count` as unmodified pusher-js reports it
 * (`pusher:subscription_count`), for an app with `subscriptionCount: true`.
 */
import assert from "node:assert/strict";
import { APP, startPusherServer } from "./_server.ts";
import { connectPusherJs, disconnect, type PusherJsClient } from "./_clients.ts";
import { within } from "../_support/ws_client.ts";
import { RawPusher } from "./_raw.ts";

const COUNTING = { ...APP, subscriptionCount: true };

/** Subscribes and records every count the channel reports, in order. */
async function counting(client: PusherJsClient, name: string) {
  const channel = client.subscribe(name);
  const counts: number[] = [];
  const waiters: { want: number; resolve: () => void }[] = [];
  channel.bind("pusher:subscription_count", (data: { subscription_count: number }) => {
    counts.push(data.subscription_count);
    for (const waiter of [...waiters]) {
      if (waiter.want === data.subscription_count) waiter.resolve();
    }
  });
  await within(
    new Promise((resolve) => channel.bind("pusher:subscription_succeeded", resolve)),
    5_000,
    "the subscription",
  );
  const until = (want: number) =>
    within(
      counts.at(-1) === want
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ want, resolve })),
      5_000,
      `a count of ${want} (saw ${counts.join(", ")})`,
    );
  return { channel, counts, until };
}

Deno.test("pusher-js hears the channel's subscription count as others subscribe, unsubscribe and disconnect", async () => {
  await using server = startPusherServer({
    pusher: { apps: [COUNTING], subscriptionCountInterval: 50 },
  });
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => connectPusherJs(server)));
  try {
    const first = await counting(a, "news");
    await first.until(1);
    const second = await counting(b, "news");
    await Promise.all([first.until(2), second.until(2)]);
    await counting(c, "news");
    await first.until(3);
    b.unsubscribe("news");
    await first.until(2);
    await disconnect(c);
    await first.until(1);
    assert.equal(first.channel.subscriptionCount, 1);
  } finally {
    await Promise.all([a, b, c].map(disconnect));
  }
});

Deno.test("subscription counts are spaced by the interval: changes inside it arrive as one, the latest", async () => {
  await using server = startPusherServer({
    pusher: { apps: [COUNTING], subscriptionCountInterval: 1_000 },
  });
  const clients = await Promise.all([1, 2, 3, 4].map(() => connectPusherJs(server)));
  try {
    const watcher = await counting(clients[0], "news");
    await watcher.until(1);
    // Three joins within the interval: the watcher hears 4 once, never 2 or 3.
    await Promise.all(clients.slice(1).map((client) => counting(client, "news")));
    await watcher.until(4);
    assert.deepEqual(watcher.counts, [1, 4]);
  } finally {
    await Promise.all(clients.map(disconnect));
  }
});

Deno.test("subscription counts include subscribers of apps without the setting, which hear none", async () => {
  const other = { id: "7", key: "quiet-key", secret: "quiet-secret" };
  await using server = startPusherServer({
    pusher: { apps: [COUNTING, other], subscriptionCountInterval: 50 },
  });
  const loud = await connectPusherJs(server);
  const quiet = await connectPusherJs(server, undefined, other.key);
  try {
    const heard = await counting(loud, "news");
    await heard.until(1);
    const silent = await counting(quiet, "news");
    await heard.until(2); // the quiet app's client is a subscriber all the same
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(silent.counts, []);
  } finally {
    await Promise.all([loud, quiet].map(disconnect));
  }
});

Deno.test("a client toggling its subscription in a loop costs the others one count per interval, not one per toggle", async () => {
  await using server = startPusherServer({
    pusher: { apps: [COUNTING], subscriptionCountInterval: 1_000 },
  });
  const watcher = await connectPusherJs(server);
  const { raw } = await RawPusher.connect(server);
  try {
    const heard = await counting(watcher, "news");
    await heard.until(1);
    for (let i = 0; i < 10; i++) {
      raw.send("pusher:subscribe", { channel: "news" });
      raw.send("pusher:unsubscribe", { channel: "news" });
    }
    raw.send("pusher:subscribe", { channel: "news" });
    await raw.roundTrip();
    await heard.until(2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(heard.counts, [1, 2]);
  } finally {
    await raw.close();
    await disconnect(watcher);
  }
});

Deno.test("presence channels send no subscription count, as on Pusher: their members are the count", async () => {
  await using server = startPusherServer({
    pusher: { apps: [COUNTING], subscriptionCountInterval: 50 },
  });
  const [alice, bob] = await Promise.all(
    ["alice", "bob"].map((user) => connectPusherJs(server, user)),
  );
  try {
    const first = await counting(alice, "presence-room");
    await counting(bob, "presence-room");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(first.counts, []);
    assert.equal((first.channel as unknown as { members: { count: number } }).members.count, 2);
  } finally {
    await Promise.all([alice, bob].map(disconnect));
  }
});
