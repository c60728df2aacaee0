/**
 * Turns Redis replies into the JSON the Upstash REST protocol returns, written straight
 * to a string so no intermediate object tree is built. With `Upstash-Encoding: base64`
 * every string (bulk or simple, at any depth) is the base64 of its bytes, except `OK`,
 * which `@upstash/redis` expects verbatim; integers stay numbers (their digits exactly as
 * Redis sent them) and nil stays `null`.
 *
 * node-redis hands simple strings over as bytes like bulk strings, so a bulk string
 * holding exactly `OK` is written verbatim too: every client that reads Upstash's base64
 * (which leaves `OK` alone, `@upstash/redis` included) reads it back as `OK` either way.
 *
 * @module
 */

import { OversizedReply, RedisErrorReply, type RespValue } from "./redis_reply.ts";

// ignoreBOM: each string is decoded on its own, and the default would drop a leading
// U+FEFF from every one of them.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();

/** A reply whose JSON would pass the response size limit; thrown before it is built whole. */
export class ReplyTooLargeError extends Error {
  constructor() {
    super("The reply is larger than the response size limit");
    this.name = "ReplyTooLargeError";
  }
}

/**
 * @param reply one Redis reply
 * @param base64 whether strings are base64-encoded
 * @param limit stop with {@linkcode ReplyTooLargeError} as soon as the JSON is known to
 *   pass this many UTF-8 bytes (a string's UTF-16 length and a bulk string's byte length
 *   are both lower bounds of that, so no more than about `limit` is ever built)
 * @returns the reply as a JSON value
 * @throws {ReplyTooLargeError} when the JSON passes `limit`
 */
export function replyToJson(reply: RespValue, base64: boolean, limit = Infinity): string {
  if (reply === null) return "null";
  if (typeof reply === "string") return reply; // an integer's digits
  if (reply instanceof Uint8Array) {
    if (reply.length + 2 > limit) throw new ReplyTooLargeError();
    if (!base64) return JSON.stringify(utf8.decode(reply));
    return isOk(reply) ? '"OK"' : '"' + reply.toBase64() + '"';
  }
  if (reply instanceof OversizedReply) throw new ReplyTooLargeError();
  if (Array.isArray(reply)) {
    let out = "[";
    for (let i = 0; i < reply.length; i++) {
      if (i > 0) out += ",";
      out += replyToJson(reply[i], base64, limit - out.length);
      if (out.length > limit) throw new ReplyTooLargeError();
    }
    return out + "]";
  }
  // An error nested inside an array (a Lua table holding an error reply).
  return replyToJson(encoder.encode((reply as RedisErrorReply).message), base64);
}

/** @returns whether `bytes` spell `OK` */
function isOk(bytes: Uint8Array): boolean {
  return bytes.length === 2 && bytes[0] === 79 && bytes[1] === 75;
}

/**
 * Counts the UTF-8 bytes `TextEncoder` will produce for `s`, lone surrogates included
 * (they become U+FFFD, three bytes), without encoding it.
 */
export function utf8ByteLength(s: string): number {
  const length = s.length;
  let bytes = length;
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 2;
        i++;
        continue;
      }
    }
    bytes += 2;
  }
  return bytes;
}

/**
 * @param reply one top-level reply
 * @param base64 whether strings are base64-encoded
 * @returns `{"result":…}`, or `{"error":"…"}` for an error reply
 */
export function replyToEnvelope(reply: RespValue, base64: boolean, limit = Infinity): string {
  if (reply instanceof RedisErrorReply) return errorJson(reply.message);
  return '{"result":' + replyToJson(reply, base64, limit - 11) + "}";
}

/** @returns the `{"error":"…"}` body for `message` */
export function errorJson(message: string): string {
  return '{"error":' + JSON.stringify(message) + "}";
}
