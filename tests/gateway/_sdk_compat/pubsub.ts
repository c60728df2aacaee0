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

/** Collects `count` events and resolves with them. */
function collector<T>(count: number): { push(item: T): void; done: Promise<T[]> } {
  const items: T[] = [];
  const { promise, resolve } = Promise.withResolvers<T[]>();
  return {
    push(item) {
      items.push(item);
      if (items.length === count) resolve(items);
    },
    done: promise,
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
      // the stored form; the listener must get the value itself each time.
      const received = collector<unknown>(JSON_VALUES.length * 2);
      const errors: unknown[] = [];
      const subscribed = Promise.withResolvers<void>();
      subscriber.on("subscribe", () => subscribed.resolve());
      subscriber.on("message", ({ message }) => received.push(message));
      subscriber.on("error", (error) => errors.push(error));
      try {
        await within(subscribed.promise, "the subscribe confirmation");
        for (const { value } of JSON_VALUES) assert.equal(await redis.publish(channel, value), 1);
        for (const { stored } of JSON_VALUES) await raw("PUBLISH", channel, stored);
        const values = JSON_VALUES.map(({ value }) => value);
        assert.deepEqual(await within(received.done, "every message"), [...values, ...values]);
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
      const received = collector<{ channel: string; message: unknown }>(sent.length);
      const subscribed = Promise.withResolvers<void>();
      subscriber.on("psubscribe", () => subscribed.resolve());
      subscriber.on("pmessage", ({ channel, message }) => received.push({ channel, message }));
      try {
        await within(subscribed.promise, "the psubscribe confirmation");
        for (const [i, { value }] of sent.entries()) {
          assert.equal(await redis.publish(`${key()}.${i}`, value), 1);
        }
        assert.deepEqual(
          await within(received.done, "every pmessage"),
          sent.map(({ value }, i) => ({ channel: `${key()}.${i}`, message: value })),
        );
        assert.ok((await raw("PUBSUB", "NUMPAT")) as number >= 1, "Redis holds the pattern");
      } finally {
        await subscriber.unsubscribe();
      }
    },
  },
];
