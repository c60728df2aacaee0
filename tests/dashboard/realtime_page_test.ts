/**
 * The realtime page over a real hub with real WebSocket clients: what it
 * lists is bounded however many channels clients open.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { dashboard } from "../../src/dashboard/mod.ts";
import { MemoryBackend, Queue } from "../../src/queue/mod.ts";
import { TestClient } from "../realtime/_support/ws_client.ts";
import { sign, startServer } from "../realtime/_support/server.ts";

Deno.test("the realtime page lists the 200 busiest channels and counts the rest, however many clients open", async () => {
  let app = new Hono();
  await using server = startServer({
    realtime: { maxSubscriptions: 300, rateLimit: false },
    setup: (hub) => {
      const queue = new Queue({ backend: new MemoryBackend() });
      app = new Hono().route("/kiln", dashboard({ queue, hub, authorize: () => true }));
    },
  });
  await using busy = await TestClient.connect(server.url, await sign("busy"));
  await using other = await TestClient.connect(
    server.url,
    await sign("other", { claims: { name: "<b>Other</b>" } }),
  );
  await other.subscribe("presence-room-lobby");
  await busy.subscribe("presence-room-lobby");
  for (let n = 0; n < 250; n++) await busy.subscribe(`noise-${n}`);

  const answer = await (await app.request("/kiln/api/realtime")).json();
  assert.equal(answer.connections, 2);
  assert.equal(answer.channels.length, 200);
  assert.equal(answer.unlisted, 51);
  assert.deepEqual(answer.channels[0].name, "presence-room-lobby", "the busiest comes first");
  assert.deepEqual(answer.channels[0].members.map((m: { id: string }) => m.id).sort(), [
    "busy",
    "other",
  ]);
  const page = await (await app.request("/kiln/realtime")).text();
  assert.equal(page.match(/<tr data-channel=/g)?.length, 200);
  assert.match(page, /51 quieter channels are not listed/);
  assert.doesNotMatch(page, /<b>Other/);
});
