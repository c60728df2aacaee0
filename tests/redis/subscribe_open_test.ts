/**
 * Opening a subscription against an endpoint that accepts the connection and then says
 * nothing (a hung gateway, a proxy holding the request) must fail as an outage within a
 * bound, not leave `subscribe()` — and so a `RedisFanout` starting or closing — waiting
 * forever.
 */
import assert from "node:assert/strict";
import { RedisError } from "../../src/errors.ts";
import { openSubscription } from "../../src/redis/_sse_subscription.ts";
import { systemClock } from "../../src/clock.ts";
import { silentServer } from "../support/silent_server.ts";
import { ManualClock } from "../support/manual_clock.ts";

Deno.test("a subscribe the endpoint never answers fails with REDIS_UNAVAILABLE after openTimeout on the clock", async () => {
  await using server = silentServer();
  const clock = new ManualClock();
  const opening = openSubscription({
    url: `${server.url}/subscribe/c`,
    authorization: "Bearer t",
    fetch: globalThis.fetch,
    clock,
    channel: "c",
    handlers: { onMessage: () => assert.fail("no message") },
    openTimeout: 50,
  });
  // The timeout is the injected clock's: nothing gives up until the test moves time.
  await clock.armed(50);
  clock.advance(50);
  let error: unknown;
  try {
    await opening;
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
  // The open timer is the clock's: it must be cleared once headers arrive.
  const clock = new ManualClock();
  const messages: string[] = [];
  let received!: () => void;
  const isReceived = new Promise<void>((resolve) => (received = resolve));
  const subscription = await openSubscription({
    url: `http://127.0.0.1:${server.addr.port}/subscribe/c`,
    authorization: "Bearer t",
    fetch: globalThis.fetch,
    clock,
    channel: "c",
    handlers: {
      onMessage(message) {
        messages.push(message);
        received();
      },
      onError: (error) => assert.fail(`the stream was not cut: ${error}`),
    },
    openTimeout: 3_600_000,
  });
  // Closed before the server, so a failed assertion cannot leave the stream holding it open.
  await using _subscription = { [Symbol.asyncDispose]: () => subscription.close() };
  assert.equal(clock.pending, 0, "the open timer was cleared");
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
      clock: systemClock,
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
