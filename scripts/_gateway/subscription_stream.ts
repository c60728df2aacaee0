/**
 * Serves `POST /subscribe/<channel>` and `POST /psubscribe/<pattern>` as Server-Sent
 * Events in the format `@upstash/redis`'s Subscriber parses: one `data: ` line per Redis
 * push, its parts joined by commas (`subscribe,<channel>,1`, `message,<channel>,<msg>`,
 * `pmessage,<pattern>,<channel>,<msg>`), escaped where a part would break that line
 * (see `sse_event.ts`). Each stream owns a dedicated Redis connection in node-redis's
 * subscriber mode, closed as soon as the HTTP client goes away, which is what releases the
 * subscription in Redis.
 *
 * @module
 */

import { HttpError } from "./command_rules.ts";
import type { RedisLink, SubscriptionKind } from "./redis_link.ts";
import { RedisErrorReply, type RespValue } from "./redis_reply.ts";
import { errorEvent, pushToPieces } from "./sse_event.ts";

export type { SubscriptionKind };

const HEARTBEAT = new TextEncoder().encode(": keep-alive\n\n");

/**
 * How many bytes of events may wait for a slow client, by default: half of the soft
 * limit Redis itself puts on a pub/sub client's output (`client-output-buffer-limit
 * pubsub 32mb 8mb 60`), so the gateway never holds more for a subscriber than Redis
 * would, and never drains Redis into its own memory past it.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/**
 * Subscribes on `connection` and returns the streaming response; from then on the
 * stream owns the connection.
 *
 * @param connection a fresh connection nobody else uses
 * @param kind SUBSCRIBE or PSUBSCRIBE
 * @param target the channel or pattern
 * @param completed settles when the response ends or the client disconnects
 * @param heartbeatMs how often an SSE comment is sent, so dead clients are noticed
 * @param streams the gateway's set of open streams, used to end them on shutdown
 * @param maxBufferedBytes how far the client may fall behind before it is dropped
 * @param gatherMs how long events may wait to be written together once they are flowing
 *   (0: each read from Redis is written at once); see the `send` step below
 * @throws {HttpError} 400 when Redis refuses the subscription
 * @throws {RedisUnavailableError} when Redis goes away before confirming it
 */
export async function openSubscriptionStream(
  connection: RedisLink,
  kind: SubscriptionKind,
  target: string,
  completed: Promise<void>,
  heartbeatMs: number,
  streams: Set<() => void>,
  maxBufferedBytes: number = DEFAULT_MAX_BUFFERED_BYTES,
  gatherMs = 0,
): Promise<Response> {
  // Pushes that arrive before the stream starts wait here, in order.
  let onPush: (push: RespValue[]) => void;
  const early: RespValue[][] = [];
  onPush = (push) => early.push(push);
  let confirmation: RespValue[];
  try {
    confirmation = await connection.subscribe(kind, target, (push) => onPush(push));
  } catch (error) {
    connection.close();
    if (error instanceof RedisErrorReply) throw new HttpError(400, error.message);
    throw error;
  }

  let timer: ReturnType<typeof setInterval> | undefined;
  let dropTimer: ReturnType<typeof setTimeout> | undefined;
  let gatherTimer: ReturnType<typeof setTimeout> | undefined;
  let finished = false;
  let end = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // The pieces of the events not yet written, in order (see send; a piece may be a
      // view of a read from Redis, which is never reused), whether an event is among them
      // (not only heartbeats), and when events were last written.
      let gathered: Uint8Array[] = [];
      let gatheredBytes = 0;
      let gatheredEvent = false;
      let writeDue = false;
      let lastWrite = -Infinity;
      const write = () => {
        writeDue = false;
        clearTimeout(gatherTimer);
        if (gathered.length === 0) return;
        const chunk = gathered.length === 1 ? gathered[0] : concat(gathered, gatheredBytes);
        gathered = [];
        gatheredBytes = 0;
        // A heartbeat alone does not start a window: the next event still goes at once.
        if (gatheredEvent) lastWrite = performance.now();
        gatheredEvent = false;
        controller.enqueue(chunk);
      };
      const finish = (overflow: boolean) => {
        if (finished) return;
        finished = true;
        clearInterval(timer);
        streams.delete(end);
        connection.close();
        try {
          write();
          if (overflow) {
            // The queued events and then one error event the client reads last, if it
            // reads again within two heartbeats; otherwise the queue is dropped (an
            // HttpError, so the server's onError knows it for an expected end).
            controller.enqueue(errorEvent(
              target,
              `The subscriber fell more than ${maxBufferedBytes} bytes behind; subscription closed`,
            ));
            dropTimer = setTimeout(() => {
              try {
                controller.error(new HttpError(503, "The subscriber fell too far behind"));
              } catch {
                // already read to the end
              }
            }, 2 * heartbeatMs);
          }
          controller.close();
        } catch {
          // the client already cancelled the stream
        }
      };
      end = () => finish(false);
      const send = (pieces: readonly Uint8Array[], event = true) => {
        if (finished) return;
        gatheredEvent ||= event;
        for (const piece of pieces) {
          gathered.push(piece);
          gatheredBytes += piece.byteLength;
        }
        // desiredSize is what is left of maxBufferedBytes once the queued events are
        // counted; the gathered ones count too. Below zero the client is that far behind:
        // drop it, as Redis drops a subscriber past `client-output-buffer-limit pubsub`,
        // rather than keep queueing for a reader that does not read.
        if ((controller.desiredSize ?? 0) - gatheredBytes < 0) {
          console.warn(
            `redis_http: dropped a ${kind} stream more than ${maxBufferedBytes} bytes behind`,
          );
          finish(true);
          return;
        }
        // The pushes Redis sent in one read arrive in one task: written together at its end,
        // since each write wakes the client and costs it far more than the bytes. A
        // subscriber that asked for a gathering window (a queue's live view, which hears a
        // message per script call) also gets the events that follow a write within that
        // long together when it is over; the first event after a quiet spell never waits.
        // Without one (realtime fan-out) none waits for a later read.
        if (writeDue) return;
        writeDue = true;
        const wait = lastWrite + gatherMs - performance.now();
        if (wait > 0) gatherTimer = setTimeout(write, wait);
        else queueMicrotask(write);
      };
      streams.add(end);
      const done = () => {
        clearTimeout(dropTimer);
        end();
      };
      completed.then(done, done);
      connection.onClose(end);
      const first = pushToPieces(confirmation);
      if (first) send(first);
      onPush = (push) => {
        const event = pushToPieces(push);
        if (event) send(event);
      };
      for (const push of early) onPush(push);
      // Not once the stream has ended already (an early push past the limit).
      if (!finished) timer = setInterval(() => send([HEARTBEAT], false), heartbeatMs);
    },
    cancel() {
      clearTimeout(dropTimer);
      end();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: maxBufferedBytes }));
  return new Response(body, { status: 200, headers: SSE_HEADERS });
}

/** @returns `chunks` as one, `size` bytes long */
function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const joined = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    joined.set(chunk, at);
    at += chunk.byteLength;
  }
  return joined;
}
