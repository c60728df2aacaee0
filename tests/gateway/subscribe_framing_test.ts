/**
 * The gateway's `/subscribe` and `/psubscribe` streams hold their framing against hostile
 * messages and channel names: every Redis push is one SSE event on one `data:` line, so
 * `@upstash/redis`'s subscriber (which reads each `data: ` line as a push) and a spec
 * parser both see exactly the pushes Redis sent, and nothing a publisher forged.
 */
import assert from "node:assert/strict";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { Redis } from "@upstash/redis";
import { decodePush, type RedisPush } from "../../src/redis/_sse_push.ts";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { HOSTILE_CHANNELS, HOSTILE_MESSAGES, signal, within } from "../redis/_sse_payloads.ts";
import { post } from "./_http.ts";

async function publish(stack: RedisStack, channel: string, message: string): Promise<number> {
  const { status, body } = await post(stack, "/", ["PUBLISH", channel, message]);
  assert.equal(status, 200, JSON.stringify(body));
  return (body as { result: number }).result;
}

/** Whether the gateway had to escape `message` (it holds a line break). */
function needsEscape(message: string): boolean {
  return /[\r\n]/.test(message);
}

Deno.test("@upstash/redis subscribe() gets each hostile message once, exact, and no forgery", async () => {
  await using stack = await startRedisStack();
  const subscriber = stack.redis.subscribe<unknown>(["ch", "other"]);
  const onCh: unknown[] = [];
  const onChOnly: unknown[] = [];
  const onOther: unknown[] = [];
  const errors: unknown[] = [];
  let subscribed = 0;
  const ready = signal();
  const done = signal();
  const otherDone = signal();
  subscriber.on("subscribe", () => {
    if (++subscribed === 2) ready.resolve();
  });
  subscriber.on("message", ({ channel, message }) => {
    if (channel === "ch") onCh.push(message);
    else onOther.push({ channel, message });
    if (channel === "ch" && message === "end") done.resolve();
    if (channel === "other" && message === "end") otherDone.resolve();
  });
  subscriber.on("message:ch", ({ message }) => onChOnly.push(message));
  subscriber.on("error", (error) => errors.push(error));
  try {
    await within(ready.promise, "both subscriptions");
    for (const message of HOSTILE_MESSAGES) assert.equal(await publish(stack, "ch", message), 1);
    await publish(stack, "ch", "end");
    await publish(stack, "other", "end");
    await within(done.promise, "the last message on ch");
    await within(otherDone.promise, "the last message on other");
    assert.deepEqual(onCh, [...HOSTILE_MESSAGES, "end"]);
    assert.deepEqual(onChOnly, onCh, "the channel-specific listener sees the same");
    assert.deepEqual(onOther, [{ channel: "other", message: "end" }]);
    assert.deepEqual(errors, []);
  } finally {
    await subscriber.unsubscribe();
  }
});

Deno.test("@upstash/redis subscribe() gets a 512 KiB message with line breaks exactly", async () => {
  await using stack = await startRedisStack();
  // The SDK gives up on any SSE line over 1 MiB characters (its MAX_BUFFER_SIZE), and
  // escaping writes each CR or LF as two: 512 KiB of "line\r\n" is a 683 KiB line.
  const big = "line\r\n".repeat(87_382);
  const subscriber = stack.redis.subscribe<unknown>(["big"]);
  const received: unknown[] = [];
  const ready = signal();
  const done = signal();
  subscriber.on("subscribe", () => ready.resolve());
  subscriber.on("message", ({ message }) => {
    received.push(message);
    if (message === "end") done.resolve();
  });
  try {
    await within(ready.promise, "the subscription");
    await publish(stack, "big", big);
    await publish(stack, "big", "end");
    await within(done.promise, "the last message");
    assert.equal(received.length, 2);
    assert.ok(received[0] === big, "the big message is exact");
  } finally {
    await subscriber.unsubscribe();
  }
});

Deno.test("@upstash/redis without deserialization gets escaped messages as JSON literals", async () => {
  await using stack = await startRedisStack();
  const redis = new Redis({
    url: stack.gatewayUrl,
    token: stack.token,
    enableTelemetry: false,
    retry: false,
    automaticDeserialization: false,
  });
  const subscriber = redis.subscribe<string>(["ch"]);
  const received: string[] = [];
  const ready = signal();
  const done = signal();
  subscriber.on("subscribe", () => ready.resolve());
  subscriber.on("message", ({ message }) => {
    received.push(message);
    if (message === "end") done.resolve();
  });
  try {
    await within(ready.promise, "the subscription");
    for (const message of HOSTILE_MESSAGES) await publish(stack, "ch", message);
    await publish(stack, "ch", "end");
    await within(done.promise, "the last message");
    assert.equal(received.length, HOSTILE_MESSAGES.length + 1);
    HOSTILE_MESSAGES.forEach((sent, i) => {
      if (needsEscape(sent)) assert.equal(JSON.parse(received[i]), sent, `message ${i}`);
      else assert.equal(received[i], sent, `message ${i}`);
    });
  } finally {
    await subscriber.unsubscribe();
  }
});

Deno.test("@upstash/redis psubscribe() keeps pattern, channel and message apart", async () => {
  await using stack = await startRedisStack();
  const redis = new Redis({
    url: stack.gatewayUrl,
    token: stack.token,
    enableTelemetry: false,
    retry: false,
    automaticDeserialization: false,
  });
  const subscriber = redis.psubscribe<string>(["orders.*"]);
  const received: Array<{ pattern: string; channel: string; message: string }> = [];
  const errors: unknown[] = [];
  const ready = signal();
  const done = signal();
  subscriber.on("psubscribe", () => ready.resolve());
  subscriber.on("pmessage", (m) => {
    received.push(m);
    if (m.message === "end") done.resolve();
  });
  subscriber.on("error", (error) => errors.push(error));
  try {
    await within(ready.promise, "the pattern subscription");
    const sent: Array<{ channel: string; message: string }> = [];
    for (const message of HOSTILE_MESSAGES) sent.push({ channel: "orders.eu", message });
    for (const channel of HOSTILE_CHANNELS) sent.push({ channel, message: "from " + channel });
    for (const { channel, message } of sent) {
      assert.equal(await publish(stack, channel, message), 1);
    }
    await publish(stack, "orders.eu", "end");
    await within(done.promise, "the last pattern message");
    assert.deepEqual(errors, []);
    assert.equal(received.length, sent.length + 1, "one pmessage per publish");
    sent.forEach(({ channel, message }, i) => {
      const got = received[i];
      assert.equal(got.pattern, "orders.*", `pattern of ${i}`);
      // A channel name that would move Upstash's comma-separated fields or end the line
      // arrives as a JSON string; it must never read as another channel.
      const channelEscaped = /[,\r\n]/.test(channel) || channel.startsWith('"');
      assert.equal(channelEscaped ? JSON.parse(got.channel) : got.channel, channel, `channel ${i}`);
      assert.notEqual(got.channel, "orders.victim");
      const escaped = channelEscaped || needsEscape(message);
      assert.equal(escaped ? JSON.parse(got.message) : got.message, message, `message ${i}`);
    });
  } finally {
    await subscriber.unsubscribe();
  }
});

/** Reads a raw SSE response with a spec parser until `until` says stop. */
async function readEvents(
  response: Response,
  until: (events: EventSourceMessage[]) => boolean,
): Promise<{ events: EventSourceMessage[]; text: string }> {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) throw new Error("The stream ended early");
      text += value;
      parser.feed(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return { events, text };
}

Deno.test("the raw /psubscribe stream is one data: line per push, decoded exactly by Kiln", async () => {
  await using stack = await startRedisStack();
  const response = await fetch(`${stack.gatewayUrl}/psubscribe/${encodeURIComponent("orders.*")}`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}`, accept: "text/event-stream" },
  });
  assert.equal(response.status, 200);
  const sent: Array<{ channel: string; message: string }> = [
    ...HOSTILE_MESSAGES.map((message) => ({ channel: "orders.eu", message })),
    ...HOSTILE_CHANNELS.map((channel) => ({ channel, message: `x\n${channel}` })),
    { channel: "orders.eu", message: "end" },
  ];
  const reading = readEvents(response, (events) => events.length === sent.length + 1);
  // The confirmation is sent before the stream is returned, so Redis has the pattern.
  for (const { channel, message } of sent) await publish(stack, channel, message);
  const { events, text } = await within(reading, "every event");

  // Upstash's subscriber splits on LF and takes each `data: ` line as a whole push.
  for (const line of text.split(/\r\n|\r|\n/)) {
    assert.ok(
      line === "" || line.startsWith("data: ") || line === "event: escaped" || line.startsWith(":"),
      `unexpected line ${JSON.stringify(line)}`,
    );
  }
  assert.ok(!text.includes("\r"), "no CR on the wire");
  const pushes = events.map((event) => decodePush(event));
  assert.deepEqual(pushes[0], { kind: "psubscribe", names: ["orders.*"], last: 1 });
  const expected: RedisPush[] = sent.map(({ channel, message }) => ({
    kind: "pmessage",
    names: ["orders.*", channel],
    last: message,
  }));
  assert.deepEqual(pushes.slice(1), expected);
  for (const [i, event] of events.entries()) {
    assert.ok(!event.data.includes("\n"), `event ${i} is one data: line`);
  }
});

Deno.test("a subscription to a channel with a comma or line break is confirmed in one line", async () => {
  await using stack = await startRedisStack();
  for (const channel of ["a,b", "line\nbreak", '"q"']) {
    const response = await fetch(`${stack.gatewayUrl}/subscribe/${encodeURIComponent(channel)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.token}`, accept: "text/event-stream" },
    });
    const reading = readEvents(response, (events) => events.length === 2);
    await publish(stack, channel, "a,b\nc");
    const { events } = await within(reading, "the confirmation and one message");
    assert.deepEqual(events.map((event) => decodePush(event)), [
      { kind: "subscribe", names: [channel], last: 1 },
      { kind: "message", names: [channel], last: "a,b\nc" },
    ], JSON.stringify(channel));
  }
});

Deno.test("a plain message keeps Upstash's exact wire format", async () => {
  await using stack = await startRedisStack();
  const response = await fetch(`${stack.gatewayUrl}/subscribe/news`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}`, accept: "text/event-stream" },
  });
  const reading = readEvents(response, (events) => events.length === 3);
  await publish(stack, "news", 'plain, "quoted", with commas');
  await publish(stack, "news", "two\nlines");
  const { text } = await within(reading, "three events");
  assert.equal(
    text,
    "data: subscribe,news,1\n\n" +
      'data: message,news,plain, "quoted", with commas\n\n' +
      'event: escaped\ndata: message,news,"two\\nlines"\n\n',
  );
});
