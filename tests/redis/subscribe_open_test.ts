/**
 * Opening a subscription against an endpoint that accepts the connection and then says
 * nothing (a hung gateway, a proxy holding the request) must fail as an outage within a
 * bound, not leave `subscribe()` — and so a `RedisFanout` starting or closing — waiting
 * forever.
 */
import assert from "node:assert/strict";
import { RedisError } from "../../src/errors.ts";
import { openSubscription } from "../../src/redis/_sse_subscription.ts";
import { silentServer } from "../support/silent_server.ts";

Deno.test("a subscribe the endpoint never answers fails with REDIS_UNAVAILABLE after openTimeoutMs", async () => {
  await using server = silentServer();
  let error: unknown;
  try {
    await openSubscription({
      url: `${server.url}/subscribe/c`,
      authorization: "Bearer t",
      fetch: globalThis.fetch,
      channel: "c",
      handlers: { onMessage: () => assert.fail("no message") },
      openTimeoutMs: 50,
    });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof RedisError, String(error));
  assert.equal(error.code, "REDIS_UNAVAILABLE");
  assert.match(error.message, /did not answer within 50 ms/);
  await server.abandoned; // the request was given up, not left open in the background
});

Deno.test("an answered subscribe clears its open timer and streams until closed", async () => {
  const encoder = new TextEncoder();
  let stream!: ReadableStreamDefaultController<Uint8Array>;
  let opened!: () => void;
  const isOpened = new Promise<void>((resolve) => (opened = resolve));
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            stream = controller;
            opened();
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      ),
  );
  // Watch the timers set while opening: the hour-long one must be cleared once headers arrive.
  const hourLong = new Set<unknown>();
  const cleared = new Set<unknown>();
  const { setTimeout: realSet, clearTimeout: realClear } = globalThis;
  globalThis.setTimeout = ((callback: () => void, ms?: number) => {
    const id = realSet(callback, ms);
    if (ms === 3_600_000) hourLong.add(id);
    return id;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id?: Parameters<typeof clearTimeout>[0]) => {
    if (id !== undefined) cleared.add(id);
    realClear(id);
  }) as typeof clearTimeout;
  const messages: string[] = [];
  let received!: () => void;
  const isReceived = new Promise<void>((resolve) => (received = resolve));
  const subscription = await openSubscription({
    url: `http://127.0.0.1:${server.addr.port}/subscribe/c`,
    authorization: "Bearer t",
    fetch: globalThis.fetch,
    channel: "c",
    handlers: {
      onMessage(message) {
        messages.push(message);
        received();
      },
      onError: (error) => assert.fail(`the stream was not cut: ${error}`),
    },
    openTimeoutMs: 3_600_000,
  }).finally(() => {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  });
  // Closed before the server, so a failed assertion cannot leave the stream holding it open.
  await using _subscription = { [Symbol.asyncDispose]: () => subscription.close() };
  assert.equal(hourLong.size, 1, "one open timer");
  for (const id of hourLong) assert.ok(cleared.has(id), "the open timer was cleared");
  await isOpened;
  stream.enqueue(encoder.encode("data: subscribe,c,1\n\ndata: message,c,late\n\n"));
  await isReceived;
  assert.deepEqual(messages, ["late"]);
});

Deno.test("a refusal whose body never ends still fails at once, with the start of the body", async () => {
  const encoder = new TextEncoder();
  let cancelled!: () => void;
  const isCancelled = new Promise<void>((resolve) => (cancelled = resolve));
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            controller.enqueue(encoder.encode("busy ".repeat(1_000)));
          },
          cancel() {
            cancelled();
          },
        }),
        { status: 503 },
      ),
  );
  let error: unknown;
  try {
    await openSubscription({
      url: `http://127.0.0.1:${server.addr.port}/subscribe/c`,
      authorization: "Bearer t",
      fetch: globalThis.fetch,
      channel: "c",
      handlers: { onMessage: () => assert.fail("no message") },
    });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof RedisError, String(error));
  assert.equal(error.code, "REDIS_UNAVAILABLE");
  assert.match(error.message, /HTTP 503: busy busy/);
  await isCancelled; // the endless body was let go, not drained
});
