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
