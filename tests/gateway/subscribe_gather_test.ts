/**
 * A `/subscribe` stream writes the events Redis sent in one read in one write
 * (`subscription_stream.ts`), since each write wakes the client. Gathering must not
 * reorder, lose, split or hold events: every event is whole, in order, and written at
 * the end of the task that received it. A subscriber that asks for a window
 * (`Kiln-Gather-Ms`) also gets the events right behind a write together when the window
 * is over, and only it: the first after a quiet spell still goes at once.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createClient } from "redis";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

/**
 * Opens a raw SSE stream and returns its reader, once the confirmation has arrived;
 * `gatherMs` asks for a gathering window (the `Kiln-Gather-Ms` header).
 */
async function openStream(
  stack: RedisStack,
  channel: string,
  gatherMs?: number,
): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const response = await fetch(`${stack.gatewayUrl}/subscribe/${channel}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${stack.token}`,
      ...(gatherMs === undefined ? {} : { "kiln-gather-ms": String(gatherMs) }),
    },
  });
  assert.equal(response.status, 200);
  const reader = response.body!.getReader();
  const { value } = await reader.read();
  assert.equal(new TextDecoder().decode(value), `data: subscribe,${channel},1\n\n`);
  return reader;
}

/** Reads until `last` has arrived; returns the text and how many reads it took. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  last: string,
): Promise<{ text: string; reads: number }> {
  const decoder = new TextDecoder();
  let text = "";
  let reads = 0;
  while (!text.endsWith(last)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`The stream ended before ${JSON.stringify(last)}`);
    text += decoder.decode(value, { stream: true });
    reads++;
  }
  return { text, reads };
}

Deno.test("messages Redis sends in one burst reach a subscriber in fewer writes, all in order", async () => {
  await using stack = await startRedisStack();
  const reader = await openStream(stack, "steady");
  // Straight to Redis, in one pipeline: Redis runs them in one go, so their pushes reach
  // the gateway together, in a known order.
  const publisher = createClient({ url: stack.redisUrl });
  await publisher.connect();
  try {
    const count = 60;
    const expected: string[] = [];
    const burst = publisher.multi();
    for (let i = 0; i < count; i++) {
      // Commas, quotes and a UTF-8 character: framing stays verbatim per event.
      const message = `{"n":${i},"text":"é, \\"q\\""}`;
      expected.push(`data: message,steady,${message}\n\n`);
      burst.publish("steady", message);
    }
    // Bytes that are not UTF-8, gathered among the others, still become U+FFFD.
    burst.publish("steady", Buffer.from([0x61, 0xff, 0xed, 0xa0, 0x80, 0x62]));
    expected.push("data: message,steady,a\uFFFD\uFFFD\uFFFD\uFFFDb\n\n");
    await burst.execAsPipeline();
    const { text, reads } = await readUntil(reader, expected[count]);
    assert.equal(text, expected.join(""));
    // One write per message would take about one read each.
    assert.ok(reads <= count / 3, `${reads} reads for ${count + 1} messages`);
  } finally {
    await publisher.close();
    await reader.cancel();
  }
});

Deno.test("a message after a quiet spell, and one right behind a write, are not held for the next event or the heartbeat", async () => {
  await using stack = await startRedisStack();
  const reader = await openStream(stack, "quiet");
  try {
    // Quiet since the confirmation: written at the end of the task that received it.
    let sent = performance.now();
    await post(stack, "/", ["PUBLISH", "quiet", "first"]);
    await readUntil(reader, "data: message,quiet,first\n\n");
    const first = performance.now() - sent;
    // Right behind that write: written at the end of its own task too, not held back.
    sent = performance.now();
    await post(stack, "/", ["PUBLISH", "quiet", "second"]);
    await readUntil(reader, "data: message,quiet,second\n\n");
    const second = performance.now() - sent;
    // Generous bounds for a busy machine: what they catch is an event left waiting for
    // the next one or for the heartbeat (15 s).
    assert.ok(first < 1_000, `the first message took ${first} ms`);
    assert.ok(second < 1_000, `the second message took ${second} ms`);
  } finally {
    await reader.cancel();
  }
});

Deno.test("messages on their way when the gateway shuts down are written before the stream ends", async () => {
  await using stack = await startRedisStack();
  const reader = await openStream(stack, "closing");
  // A pipeline's PUBLISHes reach the gateway in one read from Redis, gathered into one
  // write; SIGTERM arrives while they, or the second pipeline's, are on their way.
  const publishes = Array.from({ length: 50 }, (_, i) => ["PUBLISH", "closing", `m${i}`]);
  const { status } = await post(stack, "/pipeline", publishes);
  assert.equal(status, 200);
  await post(stack, "/pipeline", publishes.map(([c, ch, m]) => [c, ch, `${m}b`]));
  stack.gatewayProcess.kill("SIGTERM");
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const expected = [...publishes.map(([, , m]) => m), ...publishes.map(([, , m]) => `${m}b`)]
    .map((m) => `data: message,closing,${m}\n\n`).join("");
  assert.equal(text, expected);
});

/** Resolves with what a pending read gives, or with "nothing" if that takes `ms`. */
function readWithin(pending: Promise<unknown>, ms: number): Promise<unknown> {
  return Promise.race([
    pending,
    new Promise((resolve) => setTimeout(() => resolve("nothing"), ms)),
  ]);
}

Deno.test("Kiln-Gather-Ms: the first message after a quiet spell goes at once, the ones right behind it together when the window is over", async () => {
  await using stack = await startRedisStack();
  // A long window, so that the bounds below hold on a busy machine.
  const reader = await openStream(stack, "gathered", 1_000);
  try {
    // Quiet since the confirmation (written more than a window ago by the time we publish).
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const sent = performance.now();
    await post(stack, "/", ["PUBLISH", "gathered", "first"]);
    const first = await readUntil(reader, "data: message,gathered,first\n\n");
    const firstAt = performance.now();
    assert.ok(firstAt - sent < 700, `the first message took ${firstAt - sent} ms`);
    assert.equal(first.reads, 1);
    // Right behind that write: held, then written together, in order.
    await post(stack, "/", ["PUBLISH", "gathered", "second"]);
    await post(stack, "/", ["PUBLISH", "gathered", "third"]);
    const rest = await readUntil(reader, "data: message,gathered,third\n\n");
    const restAt = performance.now();
    assert.equal(rest.text, "data: message,gathered,second\n\ndata: message,gathered,third\n\n");
    assert.equal(rest.reads, 1, "both in one write");
    assert.ok(restAt - firstAt >= 500, `held ${restAt - firstAt} ms of a 1,000 ms window`);
  } finally {
    await reader.cancel();
  }
});

Deno.test("Kiln-Gather-Ms: a subscriber that did not ask gets a message the window still holds for one that did", async () => {
  await using stack = await startRedisStack();
  const gathered = await openStream(stack, "both", 1_000);
  const plain = await openStream(stack, "both");
  try {
    await post(stack, "/", ["PUBLISH", "both", "m1"]);
    await readUntil(gathered, "data: message,both,m1\n\n");
    await readUntil(plain, "data: message,both,m1\n\n");
    await post(stack, "/", ["PUBLISH", "both", "m2"]);
    const held = gathered.read();
    await readUntil(plain, "data: message,both,m2\n\n");
    assert.equal(await readWithin(held, 0), "nothing", "the window still holds m2");
    const { value } = (await held) as ReadableStreamReadResult<Uint8Array>;
    assert.equal(new TextDecoder().decode(value), "data: message,both,m2\n\n");
  } finally {
    await gathered.cancel();
    await plain.cancel();
  }
});

Deno.test("Kiln-Gather-Ms: heartbeats do not open a window, so the first message after them still goes at once", async () => {
  await using stack = await startRedisStack({ sseHeartbeatMs: 50 });
  const reader = await openStream(stack, "beating", 1_000);
  try {
    await readUntil(reader, ": keep-alive\n\n");
    await new Promise((resolve) => setTimeout(resolve, 300)); // heartbeats keep coming
    // Publish right after a heartbeat was written: were it to count as a write, the
    // message would wait most of the window.
    await reader.read();
    const sent = performance.now();
    await post(stack, "/", ["PUBLISH", "beating", "first"]);
    // Heartbeats may follow the message in the same write: look for it, within a bound.
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("data: message,beating,first\n\n")) {
      const next = await readWithin(reader.read(), 3_000);
      assert.notEqual(next, "nothing", "the message never came");
      text += decoder.decode((next as ReadableStreamReadResult<Uint8Array>).value);
    }
    const took = performance.now() - sent;
    assert.ok(took < 700, `held ${took} ms behind the heartbeats`);
  } finally {
    await reader.cancel();
  }
});

Deno.test("Kiln-Gather-Ms: messages a window holds when the gateway shuts down are written before the stream ends", async () => {
  await using stack = await startRedisStack();
  const reader = await openStream(stack, "held", 1_000);
  await post(stack, "/", ["PUBLISH", "held", "m0"]);
  await readUntil(reader, "data: message,held,m0\n\n");
  // Right behind that write: held for the window when SIGTERM comes.
  await post(stack, "/pipeline", [["PUBLISH", "held", "m1"], ["PUBLISH", "held", "m2"]]);
  const pending = reader.read();
  assert.equal(await readWithin(pending, 200), "nothing", "the window holds them");
  stack.gatewayProcess.kill("SIGTERM");
  const decoder = new TextDecoder();
  let text = "";
  let next: Promise<ReadableStreamReadResult<Uint8Array>> = pending;
  for (;;) {
    const { value, done } = await next.catch(() => ({ value: undefined, done: true as const }));
    if (done) break;
    text += decoder.decode(value, { stream: true });
    next = reader.read();
  }
  assert.equal(text, "data: message,held,m1\n\ndata: message,held,m2\n\n");
});

Deno.test("Kiln-Gather-Ms: a client that goes away while the window holds events leaves the gateway serving and nothing subscribed", async () => {
  await using stack = await startRedisStack();
  const redis = createClient({ url: stack.redisUrl });
  await redis.connect();
  try {
    const reader = await openStream(stack, "gone", 1_000);
    await post(stack, "/", ["PUBLISH", "gone", "m0"]);
    await readUntil(reader, "data: message,gone,m0\n\n");
    await post(stack, "/", ["PUBLISH", "gone", "m1"]); // held
    await reader.cancel();
    await new Promise((resolve) => setTimeout(resolve, 1_300)); // past the window's timer
    assert.deepEqual(await post(stack, "/", ["PING"]), { status: 200, body: { result: "PONG" } });
    assert.equal((await redis.pubSubNumSub("gone")).gone, 0);
  } finally {
    redis.destroy();
  }
});

Deno.test("Kiln-Gather-Ms other than a whole number of ms from 0 to 1000 is refused with 400, and nothing stays subscribed", async () => {
  await using stack = await startRedisStack();
  const redis = createClient({ url: stack.redisUrl });
  await redis.connect();
  try {
    for (const value of ["abc", "-1", "1001", "1.5", "1e3", "", "10, 10", "00001000", "0x10"]) {
      const response = await fetch(`${stack.gatewayUrl}/subscribe/refused`, {
        method: "POST",
        headers: { authorization: `Bearer ${stack.token}`, "kiln-gather-ms": value },
      });
      // A stream that opened by mistake would never end: read the status first.
      if (response.status !== 400) await response.body?.cancel();
      assert.equal(response.status, 400, `${JSON.stringify(value)} was accepted`);
      const body = await response.text();
      assert.match(JSON.parse(body).error, /Kiln-Gather-Ms must be a whole number/);
    }
    assert.equal((await redis.pubSubNumSub("refused")).refused, 0);
    // The bounds themselves are accepted.
    for (const value of [0, 1_000]) {
      const reader = await openStream(stack, "accepted", value);
      await reader.cancel();
    }
  } finally {
    redis.destroy();
  }
});
