/**
 * Webhooks from real hub activity, delivered by a queue worker to a real
 * HTTP receiver that checks them with the `pusher` server SDK's `webhook()`.
 */
import assert from "node:assert/strict";
import { MemoryBackend } from "../../../src/queue/memory_backend.ts";
import { Queue } from "../../../src/queue/queue.ts";
import { Worker } from "../../../src/queue/worker.ts";
import { type PusherWebhook, pusherWebhook } from "../../../src/realtime/pusher/webhooks.ts";
import { APP, startPusherServer } from "./_server.ts";
import { connectPusherJs, disconnect } from "./_clients.ts";
import { receiver } from "./_receiver.ts";

/**
 * A server whose app sends `hook` (at `receiver`'s URL) through a queue with
 * a running worker; stops all of it when disposed.
 */
async function webhookServer(
  hooks: ReturnType<typeof receiver>,
  hook: Omit<PusherWebhook, "url">,
  interval: number,
) {
  const queue = new Queue({ backend: new MemoryBackend() });
  const worker = new Worker(queue, {
    jobs: [pusherWebhook],
    minPollInterval: 10,
    maxPollInterval: 20,
  });
  await worker.start();
  const server = startPusherServer({
    pusher: {
      apps: [{ ...APP, webhooks: [{ url: hooks.url, ...hook }] }],
      webhooks: { queue, interval },
    },
  });
  return Object.assign(server, {
    async [Symbol.asyncDispose]() {
      await server.close();
      await worker.stop();
      await hooks.close();
    },
  });
}

Deno.test("presence, channel and client events arrive batched, signed, through a queue job", async () => {
  const hooks = receiver();
  await using server = await webhookServer(hooks, {}, 50);
  const alice = await connectPusherJs(server, "alice");
  const bob = await connectPusherJs(server, "bob");
  try {
    const room = alice.subscribe("presence-room");
    await new Promise((resolve) => room.bind("pusher:subscription_succeeded", resolve));
    const theirs = bob.subscribe("presence-room");
    await new Promise((resolve) => theirs.bind("pusher:subscription_succeeded", resolve));
    room.trigger("client-typing", { on: true });
    const first = await hooks.events(4);
    assert.deepEqual(first.map((event) => event.name), [
      "channel_occupied",
      "member_added",
      "member_added",
      "client_event",
    ]);
    assert.deepEqual(first[3], {
      name: "client_event",
      channel: "presence-room",
      event: "client-typing",
      data: '{"on":true}',
      socket_id: alice.connection.socket_id,
      user_id: "alice",
    });
    await disconnect(bob);
    await disconnect(alice);
    const all = await hooks.events(7);
    // The channel empties at once; the presence store answers the leaves a moment later.
    assert.deepEqual(all.slice(4).map((event) => `${event.name} ${event.user_id ?? ""}`).sort(), [
      "channel_vacated ",
      "member_removed alice",
      "member_removed bob",
    ]);
    assert.ok(hooks.deliveries.every((delivery) => delivery.valid), "every signature checks out");
    // Batched: fewer requests than events.
    assert.ok(hooks.deliveries.length < all.length, `${hooks.deliveries.length} deliveries`);
  } finally {
    await disconnect(alice);
    await disconnect(bob);
  }
});

Deno.test("a receiver that fails is retried by the queue until it takes the batch", async () => {
  const hooks = receiver([500]);
  await using server = await webhookServer(hooks, { events: ["channel_occupied"] }, 20);
  const client = await connectPusherJs(server);
  try {
    const channel = client.subscribe("news");
    await new Promise((resolve) => channel.bind("pusher:subscription_succeeded", resolve));
    assert.deepEqual(await hooks.events(1), [{ name: "channel_occupied", channel: "news" }]);
    assert.equal(hooks.attempts, 2); // the 500, then the retry
  } finally {
    await disconnect(client);
  }
});

Deno.test("webhooks without a queue are refused when pusher() is called", () => {
  assert.throws(
    () =>
      startPusherServer({ pusher: { apps: [{ ...APP, webhooks: [{ url: "https://x.test/" }] }] } }),
    { name: "TypeError", message: "Webhooks need webhooks.queue" },
  );
});
