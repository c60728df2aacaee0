/**
 * `queue.events()` as a stream: the order of changes, both ways of reading
 * (iterating and a reader), stopping, a reader that falls behind, and a
 * backend that cannot listen. The backend is MemoryBackend with its `watch`
 * wrapped, so a test can push changes as fast as a busy queue would and see
 * when the stream stops listening; Redis's side of events is in
 * operate_redis_test.ts and redis_events_outage_test.ts.
 */
import assert from "node:assert/strict";
import { MemoryBackend } from "../../src/queue/mod.ts";
import type { JobEvent } from "../../src/queue/backend.ts";
import { MAX_BUFFERED_EVENTS, watchJobs } from "../../src/queue/_events.ts";

/** A MemoryBackend whose listeners a test can call, and whose unwatching it can see. */
function pushableBackend(watchFails?: Error) {
  const backend = new MemoryBackend();
  const listeners = new Set<(event: JobEvent) => void>();
  backend.watch = (_queue, listener) => {
    if (watchFails) return Promise.reject(watchFails);
    listeners.add(listener);
    return Promise.resolve(() => {
      listeners.delete(listener);
      return Promise.resolve();
    });
  };
  return {
    backend,
    listeners,
    push(from: number, to: number) {
      for (let n = from; n < to; n++) {
        for (const listener of listeners) {
          listener({ queue: "q", id: `j${n}`, state: "active", at: n });
        }
      }
    },
  };
}

const ids = (events: JobEvent[]) => events.map((event) => event.id);
const range = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `j${from + i}`);

Deno.test("events() hands changes on in order to for await, then ends after the abort once the buffered ones are read", async () => {
  const { backend, push, listeners } = pushableBackend();
  const controller = new AbortController();
  const events = watchJobs(backend, { queues: ["q"], signal: controller.signal });
  await events.ready;
  push(0, 3);
  const heard: JobEvent[] = [];
  for await (const event of events) {
    heard.push(event);
    if (heard.length === 3) {
      // Arrive while the loop is between reads: they are still delivered.
      push(3, 5);
      await new Promise((resolve) => setTimeout(resolve, 0));
      push(5, 6);
      controller.abort();
      push(6, 8); // after the abort: not delivered
    }
  }
  assert.deepEqual(ids(heard), range(0, 6));
  assert.equal(listeners.size, 0, "the stream stopped listening");
});

Deno.test("events() read through getReader() gives the same changes, and cancel() stops listening", async () => {
  const { backend, push, listeners } = pushableBackend();
  const events = watchJobs(backend, { queues: ["q"] });
  await events.ready;
  const reader = events.getReader();
  const pending = reader.read(); // waiting before anything came
  push(0, 4);
  const heard = [(await pending).value!];
  for (let i = 0; i < 3; i++) heard.push((await reader.read()).value!);
  assert.deepEqual(ids(heard), range(0, 4));
  await reader.cancel();
  assert.equal(listeners.size, 0);
});

Deno.test("events(): leaving a for await early stops listening, and the stream is locked while iterated", async () => {
  const { backend, push, listeners } = pushableBackend();
  const events = watchJobs(backend, { queues: ["q"] });
  await events.ready;
  push(0, 5);
  const heard: JobEvent[] = [];
  for await (const event of events) {
    assert.throws(() => events.getReader(), TypeError, "a second reader is refused");
    heard.push(event);
    if (heard.length === 2) break;
  }
  assert.deepEqual(ids(heard), range(0, 2));
  assert.equal(listeners.size, 0);
});

Deno.test("events(): a reader that falls behind holds a bounded number of changes and loses the newest", async () => {
  const { backend, push } = pushableBackend();
  const controller = new AbortController();
  const events = watchJobs(backend, { queues: ["q"], signal: controller.signal });
  await events.ready;
  const total = MAX_BUFFERED_EVENTS + 2_500;
  push(0, total); // nobody reads meanwhile
  controller.abort();
  const heard: JobEvent[] = [];
  for await (const event of events) heard.push(event);
  assert.equal(heard.length, MAX_BUFFERED_EVENTS);
  assert.deepEqual(ids(heard), range(0, MAX_BUFFERED_EVENTS));
});

Deno.test("events(): the same bound holds for a reader that read once and then stopped reading", async () => {
  const { backend, push } = pushableBackend();
  const controller = new AbortController();
  const events = watchJobs(backend, { queues: ["q"], signal: controller.signal });
  await events.ready;
  const reader = events.getReader();
  const first = reader.read();
  push(0, 1);
  assert.equal((await first).value?.id, "j0");
  push(1, 1 + MAX_BUFFERED_EVENTS * 2);
  controller.abort();
  const heard: JobEvent[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    heard.push(value);
  }
  assert.deepEqual(ids(heard), range(1, 1 + MAX_BUFFERED_EVENTS));
});

Deno.test("events(): a backend that cannot listen rejects ready, and reading throws the same error", async () => {
  const failure = new Error("cannot subscribe");
  const iterated = watchJobs(pushableBackend(failure).backend, { queues: ["q"] });
  await assert.rejects(iterated.ready, (error) => error === failure);
  await assert.rejects(async () => {
    for await (const _ of iterated) { /* nothing arrives */ }
  }, (error) => error === failure);
  const read = watchJobs(pushableBackend(failure).backend, { queues: ["q"] });
  await assert.rejects(read.getReader().read(), (error) => error === failure);
});

Deno.test("events(): an abort before listening began ends the stream empty and stops listening", async () => {
  const { backend, listeners } = pushableBackend();
  const events = watchJobs(backend, { queues: ["q"], signal: AbortSignal.abort() });
  const heard: JobEvent[] = [];
  for await (const event of events) heard.push(event);
  assert.deepEqual(heard, []);
  await events.ready;
  assert.equal(listeners.size, 0);
});

Deno.test("events(): cancelled while its subscriptions are still opening, it closes each one as it opens", async () => {
  const backend = new MemoryBackend();
  const open = new Set<string>();
  const answers: (() => void)[] = [];
  backend.watch = (queue) =>
    new Promise((resolve) => {
      // The subscription answers later, as one over HTTP does.
      answers.push(() => {
        open.add(queue);
        resolve(() => Promise.resolve(void open.delete(queue)));
      });
    });
  const events = watchJobs(backend, { queues: ["a", "b"] });
  while (answers.length === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  const cancelled = events.cancel();
  answers.shift()!(); // "a" opens after the cancel
  await cancelled;
  await events.ready;
  assert.deepEqual([...open], [], "nothing left listening");
  assert.equal(answers.length, 0, "b was never asked for");
});

Deno.test("events(): a stream cancelled before its signal aborts lets go of the signal", async () => {
  const { backend } = pushableBackend();
  const controller = new AbortController();
  let listening = 0;
  const add = controller.signal.addEventListener.bind(controller.signal);
  const remove = controller.signal.removeEventListener.bind(controller.signal);
  controller.signal.addEventListener = ((...args: Parameters<typeof add>) => {
    listening++;
    add(...args);
  }) as typeof add;
  controller.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
    listening--;
    remove(...args);
  }) as typeof remove;
  const events = watchJobs(backend, { queues: ["q"], signal: controller.signal });
  await events.ready;
  assert.equal(listening, 1);
  await events.cancel();
  assert.equal(listening, 0);
});
