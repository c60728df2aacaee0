/**
 * One Redis subscription carried by a Server-Sent Events response, in the
 * format of the Upstash REST protocol: `data: subscribe,<channel>,<count>`
 * once, then `data: message,<channel>,<payload>` per message.
 *
 * @module
 */
import { RedisError } from "../errors.ts";
import { errorCodeForStatus } from "./_http_status.ts";
import type { RedisSubscription, SubscribeHandlers } from "./redis_like.ts";

/** How long an endpoint may take to answer a subscribe, by default. */
const OPEN_TIMEOUT_MS = 10_000;
/** How much of a refusal's body is read, for the error message. */
const REFUSAL_BODY_BYTES = 1_024;

/** What {@linkcode openSubscription} needs to open the stream. */
export interface SubscriptionRequest {
  url: string;
  authorization: string;
  fetch: typeof fetch;
  channel: string;
  handlers: SubscribeHandlers;
  /**
   * How long to wait for the answer (its headers, and a refusal's body) before
   * giving up with `REDIS_UNAVAILABLE`. An open stream is never timed out.
   * @default 10_000
   */
  openTimeoutMs?: number;
}

/**
 * Opens the event stream and resolves once the server has answered with
 * headers; messages then flow to `handlers.onMessage` until `close()`.
 */
export async function openSubscription(request: SubscriptionRequest): Promise<RedisSubscription> {
  const controller = new AbortController();
  const timeoutMs = request.openTimeoutMs ?? OPEN_TIMEOUT_MS;
  let timedOut = false;
  // An endpoint that accepts the connection and then says nothing would otherwise hold
  // subscribe() (and whoever awaits it: a fan-out starting or closing) forever.
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  let response: Response;
  try {
    try {
      response = await request.fetch(request.url, {
        method: "POST",
        headers: { authorization: request.authorization, accept: "text/event-stream" },
        signal: controller.signal,
      });
    } catch (error) {
      throw new RedisError(
        "REDIS_UNAVAILABLE",
        timedOut
          ? `Redis REST endpoint did not answer within ${timeoutMs} ms`
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
    clearTimeout(timer);
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
  { channel, handlers }: SubscriptionRequest,
  signal: AbortSignal,
): Promise<void> {
  const messagePrefix = `message,${channel},`;
  const subscribePrefix = `subscribe,${channel},`;
  const reader = body.getReader();
  // Deno does not always error a pending read when the fetch is aborted, so
  // close() would wait forever: cancel the body ourselves.
  signal.addEventListener("abort", () => void reader.cancel().catch(() => {}), { once: true });
  const decoder = new TextDecoder();
  let buffer = "";
  const handleLine = (line: string): void => {
    if (!line.startsWith("data:")) return;
    const data = line.slice(line.startsWith("data: ") ? 6 : 5);
    if (data.startsWith(messagePrefix)) {
      handlers.onMessage(data.slice(messagePrefix.length), channel);
    } else if (data.startsWith(subscribePrefix)) {
      handlers.onReady?.();
    }
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r?\n/);
      buffer = lines.pop() ?? "";
      for (const line of lines) handleLine(line);
    }
    // The server ended the stream without being asked to: the subscription is lost.
    if (!signal.aborted) {
      handlers.onError?.(new RedisError("REDIS_UNAVAILABLE", `Subscription to ${channel} ended`));
    }
  } catch (error) {
    if (!signal.aborted) {
      handlers.onError?.(
        new RedisError("REDIS_UNAVAILABLE", `Subscription to ${channel} was lost`, {
          cause: error,
        }),
      );
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
