/**
 * The client side of a Redis subscription parses its Server-Sent Events per the spec
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html): multi-line `data:`,
 * `event:`, `id:`, comments, CR/LF/CRLF line ends, a BOM, and fields split anywhere
 * across network chunks. The stream is fed through an injected `fetch`, so every chunk
 * boundary is exactly the one the test chose.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../src/clock.ts";
import { RedisError } from "../../src/errors.ts";
import { openSubscription } from "../../src/redis/_sse_subscription.ts";

const encoder = new TextEncoder();

/** What one subscription saw before its stream ended. */
interface Outcome {
  messages: string[];
  ready: number;
  errors: Error[];
}

/**
 * Opens a subscription to `channel` on a fake endpoint that answers with `chunks`, in
 * that order and with exactly those boundaries, then ends the stream.
 */
async function receive(
  chunks: ReadonlyArray<Uint8Array | string>,
  options: { channel?: string; maxEventChars?: number } = {},
): Promise<Outcome> {
  const outcome: Outcome = { messages: [], ready: 0, errors: [] };
  const fakeFetch: typeof fetch = () => {
    let index = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (index === chunks.length) {
          controller.close();
          return;
        }
        const chunk = chunks[index++];
        controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      },
    });
    return Promise.resolve(
      new Response(body, { headers: { "content-type": "text/event-stream" } }),
    );
  };
  const subscription = await openSubscription({
    url: "http://gateway.invalid/subscribe/c",
    authorization: "Bearer t",
    fetch: fakeFetch,
    clock: systemClock,
    channel: options.channel ?? "c",
    handlers: {
      onMessage: (message) => outcome.messages.push(message),
      onReady: () => outcome.ready++,
      onError: (error) => outcome.errors.push(error),
    },
    ...(options.maxEventChars === undefined ? {} : { maxEventChars: options.maxEventChars }),
  });
  await subscription.closed;
  return outcome;
}

/** Splits `text`'s UTF-8 bytes in two at `at`. */
function splitAt(text: string, at: number): Uint8Array[] {
  const bytes = encoder.encode(text);
  return [bytes.subarray(0, at), bytes.subarray(at)];
}

/** The stream always ends without being asked to, so exactly one REDIS_UNAVAILABLE. */
function assertEndedOnly(outcome: Outcome): void {
  assert.equal(outcome.errors.length, 1, String(outcome.errors));
  const [error] = outcome.errors;
  assert.ok(error instanceof RedisError);
  assert.equal(error.code, "REDIS_UNAVAILABLE");
}

Deno.test("a message sent as several data: lines arrives as one message joined with LF", async () => {
  const outcome = await receive([
    "data: subscribe,c,1\n\n",
    "data: message,c,line one\ndata: line two\ndata:\ndata: line four\n\n",
  ]);
  assert.deepEqual(outcome.messages, ["line one\nline two\n\nline four"]);
  assert.equal(outcome.ready, 1);
  assertEndedOnly(outcome);
});

Deno.test("CR, LF and CRLF all end lines, and a BOM at the start is skipped", async () => {
  for (const eol of ["\n", "\r", "\r\n"]) {
    const stream = `\uFEFFdata: subscribe,c,1${eol}${eol}` +
      `data: message,c,one${eol}data: two${eol}${eol}` +
      `data: message,c,three${eol}${eol}`;
    const outcome = await receive([stream]);
    assert.deepEqual(outcome.messages, ["one\ntwo", "three"], JSON.stringify(eol));
    assert.equal(outcome.ready, 1, JSON.stringify(eol));
  }
});

Deno.test("comments, id:, retry:, unknown fields and other event types are not messages", async () => {
  const outcome = await receive([
    ": keep-alive\n\n",
    "id: 7\nretry: 1000\nfoo: bar\ndata: message,c,kept\n\n",
    "event: other\ndata: message,c,not a redis push\n\n",
    "event: message\ndata: message,c,typed as the default\n\n",
    "data: message,c2,another channel\n\n",
    "data: pmessage,*,c,a pattern push\n\n",
    "data:message,c,no space after the colon\n\n",
  ]);
  assert.deepEqual(outcome.messages, [
    "kept",
    "typed as the default",
    "no space after the colon",
  ]);
});

Deno.test("an escaped event carries CR, CRLF, LF and data: inside the message exactly", async () => {
  const messages = [
    "a\rb",
    "a\r\nb",
    "trailing\n",
    "\n",
    "x\ndata: message,c,FORGED",
    'quote " and backslash \\ and, commas',
    "",
  ];
  const chunks = messages.map((m) => `event: escaped\ndata: message,c,${JSON.stringify(m)}\n\n`);
  const outcome = await receive(["data: subscribe,c,1\n\n", ...chunks]);
  assert.deepEqual(outcome.messages, messages);
  assertEndedOnly(outcome);
});

Deno.test("an escaped channel name is decoded before it is compared", async () => {
  const channel = 'a,b\nc"';
  const escaped = JSON.stringify(channel).replaceAll(",", "\\u002c");
  const outcome = await receive([
    `event: escaped\ndata: subscribe,${escaped},1\n\n`,
    `event: escaped\ndata: message,${escaped},${JSON.stringify("hi\n")}\n\n`,
    `event: escaped\ndata: message,${JSON.stringify("a")},${JSON.stringify("not ours")}\n\n`,
  ], { channel });
  assert.equal(outcome.ready, 1);
  assert.deepEqual(outcome.messages, ["hi\n"]);
});

Deno.test("a malformed escaped event ends the subscription with REDIS_UNEXPECTED_REPLY", async () => {
  for (const data of ['message,c,"unterminated', "message,c,42", 'message,"c,"x"']) {
    const outcome = await receive([
      "data: message,c,before\n\n",
      `event: escaped\ndata: ${data}\n\n`,
      "data: message,c,after\n\n",
    ]);
    assert.deepEqual(outcome.messages, ["before"], data);
    assert.equal(outcome.errors.length, 1, data);
    const [error] = outcome.errors;
    assert.ok(error instanceof RedisError, data);
    assert.equal(error.code, "REDIS_UNEXPECTED_REPLY", data);
  }
});

Deno.test("an event cut off by the end of the stream is not delivered", async () => {
  const outcome = await receive([
    "data: message,c,whole\n\n",
    "data: message,c,cut",
  ]);
  assert.deepEqual(outcome.messages, ["whole"]);
  assertEndedOnly(outcome);
  const multiLine = await receive(["data: message,c,first half\ndata: second half\n"]);
  assert.deepEqual(multiLine.messages, []);
});

Deno.test("an event larger than maxEventChars ends the subscription instead of growing", async () => {
  const outcome = await receive([
    "data: message,c,small\n\n",
    "data: message,c,",
    "x".repeat(600),
    "x".repeat(600),
    "\n\n",
  ], { maxEventChars: 1_000 });
  assert.deepEqual(outcome.messages, ["small"]);
  assert.equal(outcome.errors.length, 1);
  const [error] = outcome.errors;
  assert.ok(error instanceof RedisError);
  assert.equal(error.code, "REDIS_UNEXPECTED_REPLY");
  assert.match(error.message, /1000 characters/);
});

// Every line shape at once, so a split can land inside each kind of field.
const MIXED = "\uFEFF: hello\r\n" +
  "data: subscribe,c,1\n\n" +
  "data: message,c,héllo 😀\r\n\r\n" +
  "id: 1\rdata: message,c,two\rdata: lines\r\r" +
  "event: escaped\ndata: message,c," + JSON.stringify("cr\rlf\ncrlf\r\n😀") + "\n\n" +
  ": keep-alive\n\n" +
  "data: message,c,last\n\n";
const MIXED_MESSAGES = ["héllo 😀", "two\nlines", "cr\rlf\ncrlf\r\n😀", "last"];

Deno.test("the same messages arrive wherever the stream is split in two", async () => {
  const length = encoder.encode(MIXED).byteLength;
  for (let at = 0; at <= length; at++) {
    const outcome = await receive(splitAt(MIXED, at));
    assert.deepEqual(outcome.messages, MIXED_MESSAGES, `split at byte ${at}`);
    assert.equal(outcome.ready, 1, `split at byte ${at}`);
    assertEndedOnly(outcome);
  }
});

Deno.test("the same messages arrive when the stream comes one byte at a time", async () => {
  const bytes = encoder.encode(MIXED);
  const outcome = await receive(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
  assert.deepEqual(outcome.messages, MIXED_MESSAGES);
  assert.equal(outcome.ready, 1);
});

Deno.test("many messages in one chunk all arrive, in order", async () => {
  const sent = Array.from({ length: 1_000 }, (_, i) => `m${i}${i % 3 === 0 ? "\n" : ""}`);
  const text = sent.map((m) =>
    m.includes("\n")
      ? `event: escaped\ndata: message,c,${JSON.stringify(m)}\n\n`
      : `data: message,c,${m}\n\n`
  ).join("");
  const outcome = await receive([text]);
  assert.deepEqual(outcome.messages, sent);
});
