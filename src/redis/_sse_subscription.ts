/**
 * One Redis subscription carried by a Server-Sent Events response, in the
 * format of the Upstash REST protocol: `data: subscribe,<channel>,<count>`
 * once, then `data: message,<channel>,<payload>` per message (or an `escaped`
 * event, see `_sse_push.ts`).
 *
 * The stream is parsed per the SSE spec by `eventsource-parser` (multi-line
 * `data:`, CR/LF/CRLF line ends, a leading BOM, comments, fields split across
 * chunks), so a message is never cut at a line break nor a line inside it read
 * as a second push.
 *
 * @module
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { RedisError } from "../errors.ts";
import { errorCodeForStatus } from "./_http_status.ts";
import { lineEndsToLf } from "./_sse_line_ends.ts";
import { decodePush, ESCAPED_EVENT } from "./_sse_push.ts";
import type { RedisSubscription, SubscribeHandlers } from "./redis_like.ts";
import type { Clock } from "../clock.ts";
import { GATHER_HEADER } from "./_gather.ts";

/** How long an endpoint may take to answer a subscribe, by default. */
const OPEN_TIMEOUT = 10_000;
/** How much of a refusal's body is read, for the error message. */
const REFUSAL_BODY_BYTES = 1_024;
/**
 * The largest event buffered, in UTF-16 characters: as much as Redis lets a subscriber
 * fall behind by default (`client-output-buffer-limit pubsub 32mb`).
 */
const MAX_EVENT_CHARS = 32 * 1024 * 1024;

/** What {@linkcode openSubscription} needs to open the stream. */
export interface SubscriptionRequest {
  url: string;
  authorization: string;
  fetch: typeof fetch;
  /** Times the open timeout. */
  clock: Clock;
  channel: string;
  handlers: SubscribeHandlers;
  /**
   * How long to wait for the answer (its headers, and a refusal's body) before
   * giving up with `REDIS_UNAVAILABLE`. An open stream is never timed out.
   * @default 10_000
   */
  openTimeout?: number;
  /**
   * The largest event kept while it arrives, in characters (an escaped message takes
   * more than its length). A bigger one ends the subscription with
   * `REDIS_UNEXPECTED_REPLY` instead of growing without bound.
   * @default 33_554_432
   */
  maxEventChars?: number;
}

/**
 * Opens the event stream and resolves once the server has answered with
 * headers; messages then flow to `handlers.onMessage` until `close()`.
 */
export async function openSubscription(request: SubscriptionRequest): Promise<RedisSubscription> {
  const controller = new AbortController();
  const { clock } = request;
  const timeout = request.openTimeout ?? OPEN_TIMEOUT;
  let timedOut = false;
  // An endpoint that accepts the connection and then says nothing would otherwise hold
  // subscribe() (and whoever awaits it: a fan-out starting or closing) forever.
  const timer = clock.setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeout);
  let response: Response;
  try {
    try {
      response = await request.fetch(request.url, {
        method: "POST",
        headers: {
          authorization: request.authorization,
          accept: "text/event-stream",
          // Kiln's gateway's gathering window (SubscribeHandlers.gatherMs); others ignore it.
          ...(request.handlers.gatherMs
            ? { [GATHER_HEADER]: String(request.handlers.gatherMs) }
            : {}),
        },
        signal: controller.signal,
      });
    } catch (error) {
      throw new RedisError(
        "REDIS_UNAVAILABLE",
        timedOut
          ? `Redis REST endpoint did not answer within ${timeout} ms`
          : "Redis REST endpoint is unreachable",
        { cause: error },
      );
    }
    if (!response.ok || response.body === null) {
      const text = await readStart(response, REFUSAL_BODY_BYTES);
      throw new RedisError(
        errorCodeForStatus(response.status),
        `Subscribing to ${request.channel} failed with HTTP ${response.status}: ${
          text.slice(0, 200)
        }`,
      );
    }
  } finally {
    clock.clearTimeout(timer);
  }
  const closed = pump(response.body, request, controller.signal);
  return {
    closed,
    async close() {
      controller.abort();
      await closed;
    },
  };
}

/** The first `maxBytes` of a body as text (never more, however much the peer sends). */
async function readStart(response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // cut off (or timed out) mid-way: keep what arrived
  } finally {
    await reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(Math.min(size, maxBytes));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, bytes.byteLength - offset);
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

async function pump(
  body: ReadableStream<Uint8Array>,
  request: SubscriptionRequest,
  signal: AbortSignal,
): Promise<void> {
  const { channel, handlers } = request;
  const maxEventChars = request.maxEventChars ?? MAX_EVENT_CHARS;
  const reader = body.getReader();
  // Deno does not always error a pending read when the fetch is aborted, so
  // close() would wait forever: cancel the body ourselves.
  signal.addEventListener("abort", () => void reader.cancel().catch(() => {}), { once: true });
  const events: EventSourceMessage[] = [];
  let overflow: RedisError | undefined;
  const parser = createParser({
    onEvent: (event) => void events.push(event),
    onError(error) {
      // Unknown fields and bad `retry:` values are ignored, as the spec says.
      if (error.type !== "max-buffer-size-exceeded") return;
      overflow = new RedisError(
        "REDIS_UNEXPECTED_REPLY",
        `An event on ${channel} exceeded ${maxEventChars} characters`,
        { cause: error },
      );
    },
    maxBufferSize: maxEventChars,
  });
  // The streaming decoder keeps characters split across chunks and drops one leading BOM.
  const decoder = new TextDecoder();
  const toLf = lineEndsToLf();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(toLf(decoder.decode(value, { stream: true })));
      // Events are delivered after feed() returns, so a throwing handler cannot leave
      // the parser half-way through a chunk.
      for (const event of events.splice(0)) deliver(event, channel, handlers);
      if (overflow !== undefined) throw overflow;
    }
    // The server ended the stream without being asked to: the subscription is lost. An
    // event cut off by the end is dropped, as the spec says.
    if (!signal.aborted) {
      handlers.onError?.(new RedisError("REDIS_UNAVAILABLE", `Subscription to ${channel} ended`));
    }
  } catch (error) {
    if (!signal.aborted) {
      handlers.onError?.(
        error instanceof RedisError ? error : new RedisError(
          "REDIS_UNAVAILABLE",
          `Subscription to ${channel} was lost`,
          { cause: error },
        ),
      );
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/**
 * Hands one event to the handlers when it is a push for `channel`.
 *
 * @throws {RedisError} `REDIS_UNEXPECTED_REPLY` for a malformed escaped push
 */
function deliver(event: EventSourceMessage, channel: string, handlers: SubscribeHandlers): void {
  if (event.event === ESCAPED_EVENT) {
    const push = decodePush(event);
    if (push === undefined || push.names[0] !== channel) return;
    if (push.kind === "message") handlers.onMessage(push.last as string, channel);
    else if (push.kind === "subscribe") handlers.onReady?.();
    return;
  }
  if (event.event !== undefined && event.event !== "message") return;
  // Plain events are matched on the known channel rather than split on commas: a
  // server that does not escape sends a channel holding a comma verbatim.
  const { data } = event;
  if (data.startsWith(`message,${channel},`)) {
    handlers.onMessage(data.slice(channel.length + 9), channel);
  } else if (data.startsWith(`subscribe,${channel},`)) {
    handlers.onReady?.();
  }
}
