/**
 * Pub/sub: `publish`, and `subscribe`/`psubscribe` over the gateway's SSE streams, with
 * messages of every JSON type published by the SDK and by node-redis.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase } from "./context.ts";
import { JSON_VALUES } from "./json_values.ts";
import { within } from "../../redis/_sse_payloads.ts";

/** Collects events; `first(n)` resolves with the first `n` once they have arrived. */
function collector<T>(): { push(item: T): void; first(n: number): Promise<T[]> } {
  const items: T[] = [];
  const waiting: { n: number; resolve: (items: T[]) => void }[] = [];
  const settle = () => {
    for (const w of waiting.filter((w) => items.length >= w.n)) w.resolve(items.slice(0, w.n));
  };
  return {
    push(item) {
      items.push(item);
      settle();
    },
    first(n) {
      const { promise, resolve } = Promise.withResolvers<T[]>();
      waiting.push({ n, resolve });
      settle();
      return promise;
    },
  };
}

export const PUBSUB_CASES: CompatCase[] = [
  {
    method: "publish",
    async run({ redis, raw, key }) {
      assert.equal(await redis.publish(key(), "nobody listens"), 0);
      assert.deepEqual(await raw("PUBSUB", "NUMSUB", key()), [key(), 0]);
    },
  },
  {
    method: "subscribe",
    async run({ redis, raw, key }) {
      const channel = key();
      const subscriber = redis.subscribe<unknown>([channel]);
      // Both publishers send every value: the SDK's publish, then node-redis's PUBLISH of
      // the stored form; the listener must get the value itself each time, in order. The
      // second batch waits for the first: on a cluster, PUBLISHes reaching different nodes
      // are relayed to the subscriber's node with no order between them.
      const received = collector<unknown>();
      const errors: unknown[] = [];
      const subscribed = Promise.withResolvers<void>();
      subscriber.on("subscribe", () => subscribed.resolve());
      subscriber.on("message", ({ message }) => received.push(message));
      subscriber.on("error", (error) => errors.push(error));
      try {
        await within(subscribed.promise, "the subscribe confirmation");
        // Delivery is the assertion, not PUBLISH's count: on a cluster it counts only the
        // subscribers of the node that received the PUBLISH.
        const values = JSON_VALUES.map(({ value }) => value);
        for (const value of values) await redis.publish(channel, value);
        assert.deepEqual(await within(received.first(values.length), "the SDK's messages"), values);
        for (const { stored } of JSON_VALUES) await raw("PUBLISH", channel, stored);
        assert.deepEqual(
          await within(received.first(values.length * 2), "node-redis's messages"),
          [...values, ...values],
        );
        assert.deepEqual(errors, []);
      } finally {
        await subscriber.unsubscribe();
      }
    },
  },
  {
    method: "psubscribe",
    async run({ redis, raw, key }) {
      // No backslash escapes: a URL parser turns "\\" in the SDK's /psubscribe/<pattern> path
      // into "/", and braces are not special in a Redis glob anyway.
      const pattern = `${key()}.*`;
      const subscriber = redis.psubscribe<unknown>([pattern]);
      // The SDK JSON.parses every pmessage without a fallback, so a bare string cannot
      // reach a psubscribe listener from any server; send the other JSON types.
      const sent = JSON_VALUES.filter(({ value }) => typeof value !== "string");
      const received = collector<{ channel: string; message: unknown }>();
      const subscribed = Promise.withResolvers<void>();
      subscriber.on("psubscribe", () => subscribed.resolve());
      subscriber.on("pmessage", ({ channel, message }) => received.push({ channel, message }));
      try {
        await within(subscribed.promise, "the psubscribe confirmation");
        // The SDK publishes each value, then node-redis publishes its stored form.
        const fromSdk = sent.map(({ value }, i) => ({ channel: `${key()}.${i}`, message: value }));
        for (const { channel, message } of fromSdk) await redis.publish(channel, message);
        assert.deepEqual(await within(received.first(sent.length), "the SDK's pmessages"), fromSdk);
        for (const [i, { stored }] of sent.entries()) {
          await raw("PUBLISH", `${key()}.raw${i}`, stored);
        }
        assert.deepEqual(await within(received.first(sent.length * 2), "node-redis's pmessages"), [
          ...fromSdk,
          ...sent.map(({ value }, i) => ({ channel: `${key()}.raw${i}`, message: value })),
        ]);
      } finally {
        await subscriber.unsubscribe();
      }
    },
  },
];
