/**
 * Cases for `RedisFanout` (`@kiln/core/realtime`): two hubs, each on its own
 * real server (`ctx.serveWebSockets`; in workerd each hub lives in its own
 * Durable Object, as it would in production), made one hub by Redis through
 * the HTTP gateway: publish out, Server-Sent Events in, presence in shared keys.
 *
 * @module
 */
import { Hub, jwtAuth, realtime, RedisFanout } from "@kiln/core/realtime";
import * as assert from "./_assert.mjs";
import { Client, postJson, SECRET, sign } from "./_ws_client.mjs";

/** The suite's name, printed by every runner. */
export const name = "realtime over RedisFanout";

/**
 * The app of one instance: its hub joins `hubName` through Redis. Presence
 * channels admit everyone (the member's info is their name); private ones only
 * their owner.
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 * @param {string} hubName
 * @returns {import("./mod.mjs").WebSocketSetup}
 */
function instance(ctx, hubName) {
  return ({ app, upgradeWebSocket }) => {
    const hub = new Hub({
      fanout: new RedisFanout({
        redis: new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken }),
        prefix: hubName,
        onError: () => {},
      }),
      onError: () => {},
    });
    app.get(
      "/ws",
      realtime(hub, {
        upgradeWebSocket,
        auth: jwtAuth({ secret: SECRET, algorithms: ["HS256"] }),
        authorize: (user, channel) =>
          channel.kind === "presence"
            ? { name: user.id }
            : channel.name === `private-user.${user.id}`,
      }),
    );
    app.post("/broadcast", async (c) => {
      const { channel, event, data } = await c.req.json();
      await hub.broadcast(channel, event, data);
      return c.json({ connections: hub.size });
    });
    app.post("/members", async (c) => {
      const { channel } = await c.req.json();
      return c.json(await hub.members(channel));
    });
    return () => hub.close();
  };
}

/**
 * Runs `body` against two instances of one hub, always closing both.
 *
 * @param {import("./mod.mjs").CaseContext} ctx
 * @param {string} suffix Makes the hub's name (and its Redis keys) unique to the case.
 * @param {(a: string, b: string) => Promise<void>} body
 */
async function withTwoInstances(ctx, suffix, body) {
  const hubName = `${ctx.namespace}-${suffix}`;
  const a = await ctx.serveWebSockets(instance(ctx, hubName));
  try {
    const b = await ctx.serveWebSockets(instance(ctx, hubName));
    try {
      await body(a.url, b.url);
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "a broadcast on one hub reaches a subscriber connected to the other hub, and only " +
      "the channel's subscriber",
    async run(ctx) {
      await withTwoInstances(ctx, "fanout", async (a, b) => {
        const alice = new Client(ctx, a, await sign("alice"));
        const carol = new Client(ctx, a, await sign("carol"));
        try {
          await alice.open();
          await carol.open();
          // `subscribed` comes after the hub's Redis subscription is open.
          alice.send({ type: "subscribe", channel: "private-user.alice" });
          await alice.next("subscribed");
          carol.send({ type: "subscribe", channel: "private-user.carol" });
          await carol.next("subscribed");

          const answer = await postJson(`${b}/broadcast`, {
            channel: "private-user.alice",
            event: "invoice.paid",
            data: {
              id: 7,
              note: 'crossed, instances; "quoted"\nand two lines',
            },
          });
          assert.deepEqual(
            answer,
            { connections: 0 },
            "B has no local subscriber to serve",
          );
          const message = await alice.next("message");
          assert.deepEqual(
            [message.channel, message.event, message.data],
            [
              "private-user.alice",
              "invoice.paid",
              { id: 7, note: 'crossed, instances; "quoted"\nand two lines' },
            ],
          );
          carol.send({ type: "ping" });
          await carol.next("pong");
          assert.equal(
            carol.received.find((m) => m.type === "message"),
            undefined,
          );
        } finally {
          await Promise.all([alice.close(), carol.close()]);
        }
      });
    },
  },
  {
    name: "presence is shared across hubs: a member joining on one is listed and announced on " +
      "the other, and their departure is announced there too",
    async run(ctx) {
      await withTwoInstances(ctx, "presence", async (a, b) => {
        const channel = "presence-room.1";
        const alice = new Client(ctx, a, await sign("alice"));
        const bob = new Client(ctx, b, await sign("bob"));
        try {
          await alice.open();
          await bob.open();
          alice.send({ type: "subscribe", channel });
          assert.deepEqual((await alice.next("subscribed")).members, [
            { id: "alice", info: { name: "alice" } },
          ]);
          bob.send({ type: "subscribe", channel });
          const seen = await bob.next("subscribed");
          assert.deepEqual(seen.members.map((m) => m.id).sort(), [
            "alice",
            "bob",
          ]);
          const added = await alice.next("member_added");
          assert.deepEqual([added.channel, added.member], [channel, {
            id: "bob",
            info: { name: "bob" },
          }]);
          const listed = await postJson(`${a}/members`, { channel });
          assert.deepEqual(listed.map((m) => m.id).sort(), ["alice", "bob"]);

          await bob.close();
          const removed = await alice.next("member_removed");
          assert.deepEqual([removed.channel, removed.member.id], [
            channel,
            "bob",
          ]);
          assert.deepEqual(
            (await postJson(`${b}/members`, { channel })).map((m) => m.id),
            ["alice"],
          );
        } finally {
          await Promise.all([alice.close(), bob.close()]);
        }
      });
    },
  },
];
