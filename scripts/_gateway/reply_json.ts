/**
 * Turns Redis replies into the JSON the Upstash REST protocol returns, written straight
 * to a string so no intermediate object tree is built. With `Upstash-Encoding: base64`
 * every string (bulk or simple, at any depth) is the base64 of its bytes, except the
 * status reply `OK`, which `@upstash/redis` expects verbatim; integers stay numbers and
 * nil stays `null`.
 *
 * @module
 */

import { OversizedReply, RedisErrorReply, type RespValue } from "./resp_parser.ts";

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
  switch (typeof reply) {
    case "string":
      if (base64 && reply !== "OK") return '"' + encoder.encode(reply).toBase64() + '"';
      return JSON.stringify(reply);
    case "number":
    case "bigint":
      return String(reply);
  }
  if (reply instanceof Uint8Array) {
    if (reply.length + 2 > limit) throw new ReplyTooLargeError();
    return base64 ? '"' + reply.toBase64() + '"' : JSON.stringify(utf8.decode(reply));
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
  return replyToJson((reply as RedisErrorReply).message, base64);
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
