/**
 * A live view over Redis outlives a gateway outage: `queue.events()` on a
 * RedisBackend whose gateway is killed (SIGKILL: the SSE stream breaks without
 * a goodbye) and started again resubscribes with the shared back-off, and hears
 * the changes made after the gateway is back.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as v from "valibot";
import { defineJob, type JobEvent, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";

Deno.test("events() over Redis resubscribes after the gateway is killed and started again", async () => {
  await using stack = await startRedisStack();
  const queue = new Queue({
    backend: new RedisBackend({ redis: stack.redis, prefix: "outage" }),
    retain: { completed: false },
  });
  const job = defineJob({ name: "o", schema: v.number(), handle() {} });
  const controller = new AbortController();
  const events = queue.events({ queues: ["default"], signal: controller.signal });
  await events.ready;
  const seen: JobEvent[] = [];
  let heard!: () => void;
  let wanted = "";
  const reading = (async () => {
    for await (const event of events) {
      seen.push(event);
      if (event.id === wanted) heard();
    }
  })();
  const hear = async (id: string) => {
    await new Promise<void>((resolve) => {
      if (seen.some((e) => e.id === id)) return resolve();
      wanted = id;
      heard = resolve;
    });
  };
  const first = await queue.dispatch(job, 1);
  await hear(first.id);

  await stack.stopGateway("SIGKILL");
  await stack.startGateway();
  // Dispatch until one is heard: the resubscription comes within the back-off's first waits.
  const deadline = Date.now() + 15_000;
  let last = "";
  while (!seen.some((e) => e.id === last)) {
    assert.ok(Date.now() < deadline, "no event heard within 15 s of the gateway's restart");
    last = (await queue.dispatch(job, 2)).id;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const after = await queue.dispatch(job, 3);
  await hear(after.id);
  assert.deepEqual(seen.filter((e) => e.id === after.id).map((e) => e.state), ["waiting"]);

  controller.abort();
  await reading; // the stream still ends when aborted, with nothing left subscribed
});

Deno.test("the scripts publish while a watcher's mark holds, not by counting subscribers", async () => {
  await using stack = await startRedisStack();
  const backend = new RedisBackend({ redis: stack.redis, prefix: "marked" });
  const queue = new Queue({ backend, retain: { completed: false } });
  const job = defineJob({ name: "m", schema: v.number(), handle() {} });
  // A bare subscriber is counted by PUBSUB NUMSUB, as a subscriber on another cluster
  // node would not be: the scripts must not rely on that count either way.
  const heard: string[] = [];
  const bare = await backend.redis.subscribe("marked:{default}:events", {
    onMessage: (message) => heard.push(message),
  });
  try {
    await queue.dispatch(job, 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(heard, [], "nobody watches: nothing is published");

    const controller = new AbortController();
    const events = queue.events({ queues: ["default"], signal: controller.signal });
    await events.ready;
    const { id } = await queue.dispatch(job, 2);
    const reader = events[Symbol.asyncIterator]();
    const first = await reader.next();
    assert.deepEqual([first.value?.id, first.value?.state], [id, "waiting"]);
    for (let i = 0; i < 50 && heard.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(heard.length, 1, "the bare subscriber hears it too, once");
    controller.abort();
    await reader.return?.();
  } finally {
    await bare.close();
  }
});
