/**
 * Turns Redis replies into the JSON the Upstash REST protocol returns, written straight
 * to a string so no intermediate object tree is built. With `Upstash-Encoding: base64`
 * every string (bulk or simple, at any depth) is the base64 of its bytes, except the
 * status reply `OK`, which `@upstash/redis` expects verbatim; integers stay numbers and
 * nil stays `null`.
 *
 * @module
 */

import { RedisErrorReply, type RespValue } from "./resp_parser.ts";

// ignoreBOM: each string is decoded on its own, and the default would drop a leading
// U+FEFF from every one of them.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * @param reply one Redis reply
 * @param base64 whether strings are base64-encoded
 * @returns the reply as a JSON value
 */
export function replyToJson(reply: RespValue, base64: boolean): string {
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
    return base64 ? '"' + reply.toBase64() + '"' : JSON.stringify(utf8.decode(reply));
  }
  if (Array.isArray(reply)) {
    let out = "[";
    for (let i = 0; i < reply.length; i++) {
      if (i > 0) out += ",";
      out += replyToJson(reply[i], base64);
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
export function replyToEnvelope(reply: RespValue, base64: boolean): string {
  if (reply instanceof RedisErrorReply) return errorJson(reply.message);
  return '{"result":' + replyToJson(reply, base64) + "}";
}

/** @returns the `{"error":"…"}` body for `message` */
export function errorJson(message: string): string {
  return '{"error":' + JSON.stringify(message) + "}";
}
