/**
 * Answers a `/pipeline` without holding its whole reply: each command's `{"result"}` is
 * written as Redis answers it, and Redis is asked for more only as the client reads. A small reply (the usual case) is still sent as one body
 * with its status decided at the end, so a Redis that goes away mid-way is a 503; once a
 * reply passes {@linkcode STREAM_AFTER_BYTES} the response starts (200) and the rest
 * streams. Every response is capped at `maxBytes`: a command whose reply would pass it
 * gets `{"error": …}` in its place, so the client learns which results it did not get
 * and the JSON stays whole.
 *
 * @module
 */

import type { RedisBackend } from "./redis_backend.ts";
import type { CommandArgs } from "./redis_reply.ts";
import { errorJson, replyToEnvelope, ReplyTooLargeError, utf8ByteLength } from "./reply_json.ts";
import type { RespValue } from "./redis_reply.ts";

/** Replies larger than this stream instead of being sent as one body. */
export const STREAM_AFTER_BYTES = 256 * 1024;
/** How far the replies may run ahead of a client reading a streamed pipeline. */
const HIGH_WATER_BYTES = 1024 * 1024;
/**
 * Commands in the first window, before anything is known about their replies. node-redis
 * holds each reply whole, and its socket chunks until they are collected, so a window of
 * large values costs about twice their size: with 16 commands, 40 GETs of 1 MB values
 * grew the gateway's peak RSS by 58 MiB, with 4 by 31 MiB (as with the gateway's own
 * parser and 16). A pipeline of more than 4 small replies takes one more round trip.
 */
const FIRST_WINDOW = 4;
/** Commands in one window at most. */
const MAX_WINDOW = 4096;

const JSON_HEADERS = { "content-type": "application/json" };
const encoder = new TextEncoder();

/**
 * @param limit the configured `--max-reply-bytes`
 * @returns the `{"error"}` a command gets in place of a reply past the limit
 */
export function tooLargeEnvelope(limit: number): string {
  return errorJson(
    `ERR reply exceeds the gateway's max reply size of ${limit} bytes ` +
      "(--max-reply-bytes); the command ran but its reply was dropped",
  );
}

/**
 * Runs `commands` on `redis` and answers their replies as a JSON array of
 * envelopes.
 *
 * Commands go out in windows, the next one only once the client has read what the last
 * one produced (down to {@linkcode HIGH_WATER_BYTES}), so a client that reads slowly
 * holds back Redis instead of filling the gateway's memory, and no request ever blocks
 * the shared connection while it waits. The first window is small; later ones are sized
 * from the replies seen so far, so a pipeline of small replies still needs one or two
 * round trips. Other requests' commands may run between windows, which a pipeline allows
 * (it is not atomic, on Upstash either).
 *
 * @param redis the Redis to run them on
 * @param commands the pipeline
 * @param base64 whether strings are base64-encoded
 * @param maxBytes the most bytes of replies the response body may have
 * @returns the response, once the reply is complete or has started to stream
 * @throws {RedisUnavailableError} when Redis goes away before the response started
 */
export function pipelineResponse(
  redis: RedisBackend,
  commands: ReadonlyArray<CommandArgs>,
  base64: boolean,
  maxBytes: number,
): Promise<Response> {
  const count = commands.length;
  return new Promise((resolve, reject) => {
    const tooLarge = tooLargeEnvelope(maxBytes);
    let out = "[";
    let written = 2; // UTF-8 bytes of replies in the body, with "[" and "]"
    let produced = 0; // characters of envelopes made, dropped replies included
    let index = 0;
    let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
    let cancelled = false;
    let wakeUp: (() => void) | undefined;

    const onReply = (reply: RespValue) => {
      // A reply is counted with its comma; the error envelope that replaces a reply past
      // the limit is not (its size is bounded by the request's, which is capped).
      const room = maxBytes - written - (index > 0 ? 1 : 0);
      let envelope: string;
      try {
        envelope = replyToEnvelope(reply, base64, room);
        const bytes = utf8ByteLength(envelope);
        if (bytes > room) throw new ReplyTooLargeError();
        written += bytes + (index > 0 ? 1 : 0);
      } catch (error) {
        if (!(error instanceof ReplyTooLargeError)) throw error;
        envelope = tooLarge;
      }
      produced += envelope.length;
      out += index++ > 0 ? "," + envelope : envelope;
      if (stream === undefined && out.length > STREAM_AFTER_BYTES) {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            stream = controller;
          },
          pull() {
            wakeUp?.();
          },
          cancel() {
            cancelled = true;
            wakeUp?.();
          },
        }, new ByteLengthQueuingStrategy({ highWaterMark: HIGH_WATER_BYTES }));
        resolve(new Response(body, { status: 200, headers: JSON_HEADERS }));
      }
      if (stream !== undefined) {
        if (!cancelled) stream.enqueue(encoder.encode(out));
        out = "";
      }
    };

    /** Resolves once the client has read the stream down to its high-water mark. */
    const drained = () =>
      new Promise<void>((resume) => {
        if (stream === undefined || cancelled || (stream.desiredSize ?? 1) > 0) resume();
        else {
          wakeUp = () => {
            wakeUp = undefined;
            resume();
          };
        }
      });

    (async () => {
      let window = FIRST_WINDOW;
      for (let next = 0; next < count && !cancelled;) {
        const end = Math.min(count, next + window);
        const before = produced;
        await redis.run(commands.slice(next, end), onReply);
        const perReply = Math.max(1, (produced - before) / (end - next));
        window = Math.max(1, Math.min(MAX_WINDOW, Math.floor(HIGH_WATER_BYTES / perReply)));
        next = end;
        await drained();
      }
    })().then(() => {
      out += "]";
      if (stream === undefined) {
        resolve(new Response(out, { status: 200, headers: JSON_HEADERS }));
      } else if (!cancelled) {
        stream.enqueue(encoder.encode(out));
        stream.close();
      }
    }, (error) => {
      if (stream === undefined) reject(error);
      else if (!cancelled) stream.error(error);
    });
  });
}
