/**
 * `pushToPieces` sends a plain push's bytes as they are, without decoding them: only
 * when that gives the bytes the text round trip gives. Bytes that are not UTF-8, line
 * breaks, and names with commas still take the text path, exactly as before.
 */
import assert from "node:assert/strict";
import { pushToPieces } from "../../scripts/_gateway/sse_event.ts";
import { HOSTILE_CHANNELS, HOSTILE_MESSAGES } from "../redis/_sse_payloads.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);
const text = (event: Uint8Array | undefined) => new TextDecoder().decode(event);
const joined = (pieces: Uint8Array[] | undefined) =>
  pieces === undefined ? undefined : text(joinPieces(pieces));

function joinPieces(pieces: Uint8Array[]): Uint8Array {
  const event = new Uint8Array(pieces.reduce((size, piece) => size + piece.byteLength, 0));
  let at = 0;
  for (const piece of pieces) {
    event.set(piece, at);
    at += piece.byteLength;
  }
  return event;
}

function containsBytes(haystack: Uint8Array, needle: number[]): boolean {
  for (let i = 0; i + needle.length <= haystack.length; i++) {
    if (needle.every((byte, j) => haystack[i + j] === byte)) return true;
  }
  return false;
}

/** The event as the gateway framed every push before pieces: through the parts' text. */
function viaText(parts: (Uint8Array | string)[]): string {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const texts = parts.map((part) => typeof part === "string" ? part : decoder.decode(part));
  const last = texts.length - 1;
  const plain = !/[\r\n]/.test(texts[last]) &&
    texts.slice(0, last).every((t) => !/[,\r\n]/.test(t));
  if (plain) return `data: ${texts.join(",")}\n\n`;
  const names = texts.slice(0, last).map((name) =>
    /[,\r\n]/.test(name) || name.startsWith('"')
      ? JSON.stringify(name).replaceAll(",", "\\u002c")
      : name
  );
  const tail = typeof parts[last] === "string" ? texts[last] : JSON.stringify(texts[last]);
  return `event: escaped\ndata: ${[...names, tail].join(",")}\n\n`;
}

Deno.test("pushToPieces frames every hostile message on every hostile channel as the text path does", () => {
  for (const channel of [...HOSTILE_CHANNELS, "news"]) {
    for (const message of [...HOSTILE_MESSAGES, "", "plain, with commas"]) {
      const push = [bytes("message"), bytes(channel), bytes(message)];
      const expected = viaText(push);
      assert.equal(joined(pushToPieces(push)), expected, JSON.stringify([channel, message]));
    }
  }
});

Deno.test("bytes that are not UTF-8 are never sent as they are: they become U+FFFD", () => {
  const invalid = [
    [0xff],
    [0xc0, 0xaf], // an overlong "/"
    [0xed, 0xa0, 0x80], // a UTF-16 surrogate, CESU-8 style
    [0xe2, 0x82], // cut off inside a character
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
  ];
  for (const sequence of invalid) {
    const message = new Uint8Array([0x61, ...sequence, 0x62]);
    for (
      const push of [[bytes("message"), bytes("news"), message], [
        bytes("pmessage"),
        bytes("n*"),
        message,
        bytes("{}"),
      ]]
    ) {
      const event = joinPieces(pushToPieces(push)!);
      assert.equal(text(event), viaText(push), JSON.stringify(sequence));
      assert.ok(text(event).includes("\uFFFD"));
      assert.ok(!containsBytes(event, sequence), "the raw sequence is not in the event");
    }
  }
});

Deno.test("a plain message's pieces are views of its own bytes, a BOM and NUL bytes kept", () => {
  const message = bytes('\uFEFF{"a":"\u0000é😀, \\"q\\""}');
  const pieces = pushToPieces([bytes("message"), bytes("news"), message])!;
  assert.ok(pieces.includes(message), "the message is not copied to be framed");
  assert.deepEqual(
    joinPieces(pieces),
    new Uint8Array([...bytes("data: message,news,"), ...message, ...bytes("\n\n")]),
  );
});

Deno.test("a subscribe confirmation's count is framed as its digits", () => {
  const push = [bytes("subscribe"), bytes("news"), "1"];
  assert.equal(joined(pushToPieces(push)), "data: subscribe,news,1\n\n");
  assert.equal(pushToPieces(bytes("message")), undefined);
  assert.equal(pushToPieces([]), undefined);
});
