/**
 * The realtime page of a hub joined to another instance by `RedisFanout`
 * through a real Redis behind Kiln's gateway: it counts every instance's
 * subscribers and lists channels whose subscribers are all elsewhere.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { dashboard } from "../../src/dashboard/mod.ts";
import { MemoryBackend, Queue } from "../../src/queue/mod.ts";
import { RedisFanout } from "../../src/realtime/redis_fanout.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { TestClient, within } from "../realtime/_support/ws_client.ts";
import { sign, startServer } from "../realtime/_support/server.ts";

/** A realtime server whose hub shares channel counts with the others of `prefix`. */
function joined(stack: RedisStack, prefix: string, setup?: Parameters<typeof startServer>[0]) {
  const redis = new UpstashRedis({ url: stack.gatewayUrl, token: stack.token });
  return startServer({
    hub: { fanout: new RedisFanout({ redis, prefix, onError: () => {} }) },
    ...setup,
  });
}

interface Listed {
  connections: number;
  channels: { name: string; subscribers: number; members?: { id: string }[] }[];
  unlisted: number;
}

Deno.test("the realtime page counts the subscribers of every instance, and lists channels whose subscribers are all on another", async () => {
  await using stack = await startRedisStack();
  let app = new Hono();
  await using a = joined(stack, "dash", {
    setup: (hub) => {
      const queue = new Queue({ backend: new MemoryBackend() });
      app = new Hono().route("/kiln", dashboard({ queue, hub, authorize: () => true }));
    },
  });
  await using b = joined(stack, "dash");
  const read = async () => await (await app.request("/kiln/api/realtime")).json() as Listed;
  /** Reads A's dashboard until `check` holds (B stores its counts a round trip after it answers). */
  const until = (check: (listed: Listed) => boolean, what: string) =>
    within(
      (async () => {
        for (;;) {
          const listed = await read();
          if (check(listed)) return listed;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })(),
      5_000,
      () => what,
    );

  await using atA = await TestClient.connect(a.url, await sign("ada"));
  await using atB = await TestClient.connect(b.url, await sign("bob"));
  await using alsoB = await TestClient.connect(b.url, await sign("cy"));
  await atA.subscribe("news");
  await atB.subscribe("news");
  await alsoB.subscribe("only-on-b");
  await alsoB.subscribe("presence-room-lobby");

  const listed = await until((l) => l.channels.length === 3, "B's channels on A's page");
  assert.deepEqual(listed, {
    connections: 1, // A's own
    channels: [
      { name: "news", subscribers: 2 },
      { name: "only-on-b", subscribers: 1 },
      {
        name: "presence-room-lobby",
        subscribers: 1,
        members: [{ id: "cy", info: { name: null } }],
      },
    ],
    unlisted: 0,
  });
  const page = await (await app.request("/kiln/realtime")).text();
  assert.match(page, /<tr data-channel="only-on-b">/);
  assert.match(
    page,
    /<tr data-channel="news">\s*<td><code>news<\/code><\/td>\s*<td class="num">2<\/td>/,
  );

  // B's clients leave: their channels go from A's page, and news counts A's one.
  await alsoB.close();
  await atB.close();
  const after = await until(
    (l) => l.channels.length === 1 && l.channels[0].subscribers === 1,
    "B's subscribers to go",
  );
  assert.deepEqual(after.channels, [{ name: "news", subscribers: 1 }]);
});

Deno.test("the realtime page answers 503 while the shared counts cannot be read, and counts again once Redis is back", async () => {
  await using stack = await startRedisStack();
  let app = new Hono();
  await using a = joined(stack, "down", {
    setup: (hub) => {
      const queue = new Queue({ backend: new MemoryBackend() });
      app = new Hono().route("/kiln", dashboard({ queue, hub, authorize: () => true }));
    },
  });
  await using client = await TestClient.connect(a.url, await sign("ada"));
  await client.subscribe("news");
  assert.equal((await app.request("/kiln/api/realtime")).status, 200);
  await stack.stopGateway();
  for (const path of ["/kiln/api/realtime", "/kiln/realtime"]) {
    const down = await app.request(path);
    assert.equal(down.status, 503, path);
    await down.body?.cancel();
  }
  await stack.startGateway();
  const back = await (await app.request("/kiln/api/realtime")).json();
  assert.deepEqual(back.channels, [{ name: "news", subscribers: 1 }]);
});
