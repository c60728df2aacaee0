/**
 * Frames one Redis push as one Server-Sent Event that neither a spec parser nor
 * `@upstash/redis`'s subscriber can misread, whatever bytes a publisher chose.
 *
 * Upstash's format is one `data: ` line per push, its parts joined by commas
 * (`message,<channel>,<message>`). `@upstash/redis` splits the stream on LF and takes
 * every `data: ` line as a whole push, so a payload holding a line break cannot be sent
 * as the spec's several `data:` lines: the SDK would cut the message at the first break
 * and read the next line (`data: message,other,FORGED`) as a second, forged push. CR and
 * CRLF would not survive spec framing either (a spec parser turns both into LF).
 *
 * So a push is sent verbatim when that is unambiguous, and otherwise as an `escaped`
 * event on a single line:
 *
 * ```
 * event: escaped
 * data: message,news,"two\nlines"
 * ```
 *
 * In an `escaped` event the last part (the message, or the subscriber count) is a JSON
 * value, and any other part that holds a comma, CR or LF, or starts with `"`, is a JSON
 * string with its commas written `\u002c`, so commas still separate the parts. Every
 * string is exact after `JSON.parse`; `@upstash/redis` already JSON-parses messages, so
 * its subscriber gets the exact text with its default `automaticDeserialization`.
 * Spec parsers ignore nothing and join nothing: no event ever has a second `data:` line.
 *
 * Bytes that are not UTF-8 become U+FFFD, as in the gateway's JSON replies without
 * `Upstash-Encoding: base64`; a leading U+FEFF is kept.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import type { RespValue } from "./redis_reply.ts";

/** The SSE event type of a push whose parts had to be escaped. */
export const ESCAPED_EVENT = "escaped";

const encoder = new TextEncoder();
// ignoreBOM keeps a message's leading U+FEFF: each part is decoded on its own, so the
// default would strip one from the start of every part.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const LINE_BREAK = /[\r\n]/;
const SEPARATOR_OR_BREAK = /[,\r\n]/;

const DATA = encoder.encode("data: ");
const COMMA = encoder.encode(",");
const END = encoder.encode("\n\n");

/**
 * The SSE event for a push, as pieces to be written one after the other, so a stream
 * that writes many events at once copies each message's bytes once, into its write. A
 * plain event whose parts are valid UTF-8 is made of the parts' own bytes (decoding
 * and encoding them again would give the same bytes); any other event is one piece.
 *
 * @param reply a RESP push: `[kind, …names, message or count]`
 * @returns the pieces of its SSE event, or `undefined` when it is not an array
 *
 * @example The pieces of a plain message are its parts' bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { pushToPieces } from "./sse_event.ts";
 *
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * const text = (pieces: Uint8Array[]) => pieces.map((p) => new TextDecoder().decode(p)).join("");
 * const message = bytes("a, b");
 * const pieces = pushToPieces([bytes("message"), bytes("news"), message])!;
 * assert.ok(pieces.includes(message));
 * assert.equal(text(pieces), "data: message,news,a, b\n\n");
 * ```
 *
 * @example A message with a line break is escaped, in one piece
 * ```ts
 * import assert from "node:assert/strict";
 * import { pushToPieces } from "./sse_event.ts";
 *
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * const [event] = pushToPieces([bytes("message"), bytes("news"), bytes("a\nb")])!;
 * assert.equal(new TextDecoder().decode(event), 'event: escaped\ndata: message,news,"a\\nb"\n\n');
 * ```
 */
export function pushToPieces(reply: RespValue): Uint8Array[] | undefined {
  if (!Array.isArray(reply) || reply.length === 0) return undefined;
  const parts = reply.map(partText);
  const lastIndex = parts.length - 1;
  let plain = !LINE_BREAK.test(parts[lastIndex]);
  for (let i = 0; plain && i < lastIndex; i++) plain = !SEPARATOR_OR_BREAK.test(parts[i]);
  if (plain && reply.every((part) => part instanceof Uint8Array && isUtf8(part))) {
    const pieces: Uint8Array[] = [DATA];
    for (let i = 0; i <= lastIndex; i++) {
      if (i > 0) pieces.push(COMMA);
      pieces.push(reply[i] as Uint8Array);
    }
    pieces.push(END);
    return pieces;
  }
  if (plain) return [encoder.encode("data: " + parts.join(",") + "\n\n")];

  let line = "";
  for (let i = 0; i < lastIndex; i++) line += escapeName(parts[i]) + ",";
  const last = reply[lastIndex];
  const isCount = typeof last === "string"; // an integer's digits (see `redis_reply.ts`)
  line += isCount ? parts[lastIndex] : JSON.stringify(parts[lastIndex]);
  return [encoder.encode(`event: ${ESCAPED_EVENT}\ndata: ${line}\n\n`)];
}

function partText(part: RespValue): string {
  return part instanceof Uint8Array ? utf8.decode(part) : String(part);
}

/** A name part as it is written in an escaped event. */
function escapeName(name: string): string {
  if (!SEPARATOR_OR_BREAK.test(name) && !name.startsWith('"')) return name;
  // JSON.stringify of one string writes no comma of its own, so every comma is the name's.
  return JSON.stringify(name).replaceAll(",", "\\u002c");
}

/** The SSE event type that ends a stream the gateway had to close. */
export const ERROR_EVENT = "error";

/**
 * The last event of a stream the gateway closes: typed `error` for spec parsers, and
 * shaped as a push of kind `error` so `@upstash/redis` hands it to its `error`
 * listeners (`{ channel, message }`). No Redis push has that kind, so it cannot be
 * mistaken for a message.
 *
 * @param target the channel or pattern of the stream
 * @param message why the stream ends
 * @returns the event's bytes
 */
export function errorEvent(target: string, message: string): Uint8Array {
  const line = `${ERROR_EVENT},${escapeName(target)},${JSON.stringify(message)}`;
  return encoder.encode(`event: ${ERROR_EVENT}\ndata: ${line}\n\n`);
}
