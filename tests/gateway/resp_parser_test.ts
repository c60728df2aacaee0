/**
 * Long replies are parsed in linear time: a reply that arrives in many reads is resumed
 * where the last read ended, never parsed again from its start.
 */

import assert from "node:assert/strict";
import {
  OversizedReply,
  RedisErrorReply,
  RespParser,
  type RespValue,
} from "../../scripts/_gateway/resp_parser.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { fillList, post } from "./_http.ts";

const encoder = new TextEncoder();

/** RESP2 for an array of `count` bulk strings, as LRANGE answers. */
function bulkArray(count: number): Uint8Array {
  let text = `*${count}\r\n`;
  for (let i = 0; i < count; i++) {
    const item = `item-${i}`;
    text += `$${item.length}\r\n${item}\r\n`;
  }
  return encoder.encode(text);
}

/** Feeds `bytes` to `parser` `chunk` bytes per read, as a socket would, and collects replies. */
function feed(parser: RespParser, bytes: Uint8Array, chunk: number): RespValue[] {
  const replies: RespValue[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const target = parser.writable();
    const n = Math.min(chunk, target.length, bytes.length - offset);
    target.set(bytes.subarray(offset, offset + n));
    parser.commit(n);
    offset += n;
    let reply: RespValue | undefined;
    while ((reply = parser.next()) !== undefined) replies.push(reply);
  }
  return replies;
}

Deno.test("an array arriving in 4 KiB reads is parsed once: work grows linearly from 50k to 400k elements", () => {
  const work: number[] = [];
  for (const count of [50_000, 400_000]) {
    const parser = new RespParser();
    const replies = feed(parser, bulkArray(count), 4096);
    assert.equal(replies.length, 1);
    const items = replies[0] as Uint8Array[];
    assert.equal(items.length, count);
    assert.equal(new TextDecoder().decode(items[count - 1]), `item-${count - 1}`);
    // One step per element plus the header, however many reads it took: re-parsing an
    // incomplete array from its start would count each element again on every read
    // (about 3,300 reads for 400k elements).
    assert.equal(parser.elementsParsed, count + 1);
    work.push(parser.elementsParsed);
  }
  assert.equal(work[1] / work[0], (400_000 + 1) / (50_000 + 1));
});

Deno.test("nested replies cut at every byte boundary come back whole and in order", () => {
  const wire = "*3\r\n$1\r\na\r\n*2\r\n:1\r\n*0\r\n*-1\r\n" + // ["a", [1, []], null]
    "-ERR oops\r\n" +
    "*2\r\n*1\r\n$-1\r\n$4\r\nx\r\ny\r\n" + // [[null], "x\r\ny"]
    "+OK\r\n:123456789012345678901\r\n";
  const expected: RespValue[] = [
    [encoder.encode("a"), [1, []], null],
    new RedisErrorReply("ERR oops"),
    [[null], encoder.encode("x\r\ny")],
    "OK",
    123456789012345678901n,
  ];
  const bytes = encoder.encode(wire);
  for (const chunk of [1, 2, 3, 5, 7, bytes.length]) {
    assert.deepEqual(feed(new RespParser(), bytes, chunk), expected, `reads of ${chunk} bytes`);
  }
});

Deno.test("a reply past the parser's limit is read past without being held, and the next reply is intact", () => {
  const limit = 64 * 1024;
  const huge = 10 * 1024 * 1024;
  const parts = [
    `$${huge}\r\n${"x".repeat(huge)}\r\n`, // one bulk string, 160 times the limit
    "+after-bulk\r\n",
    new TextDecoder().decode(bulkArray(20_000)), // many small elements, about 240 KiB
    "+after-array\r\n",
    "*100000000\r\n:1\r\n", // a header promising far more than the limit (cut short)
  ];
  const parser = new RespParser(limit);
  let largest = 0;
  const replies: RespValue[] = [];
  const bytes = encoder.encode(parts.join(""));
  for (let offset = 0; offset < bytes.length;) {
    const target = parser.writable();
    largest = Math.max(largest, target.byteOffset + target.length);
    const n = Math.min(8192, target.length, bytes.length - offset);
    target.set(bytes.subarray(offset, offset + n));
    parser.commit(n);
    offset += n;
    let reply: RespValue | undefined;
    while ((reply = parser.next()) !== undefined) replies.push(reply);
  }
  assert.equal(replies.length, 4);
  assert.ok(replies[0] instanceof OversizedReply);
  assert.equal(replies[0].bytes, huge + `$${huge}\r\n`.length + 2);
  assert.equal(replies[1], "after-bulk");
  assert.ok(replies[2] instanceof OversizedReply);
  assert.equal(replies[3], "after-array");
  // The buffer never grew to hold what it read past.
  assert.ok(largest <= 2 * limit, `buffer grew to ${largest} bytes`);
});

Deno.test("LRANGE of 400k elements comes back whole through the gateway", async () => {
  await using stack = await startRedisStack();
  const count = 400_000;
  await fillList(stack, "long", count);
  const reply = await post(stack, "/", ["LRANGE", "long", 0, -1]);
  const result = (reply.body as { result: string[] }).result;
  assert.equal(result.length, count);
  assert.equal(result[0], "v0");
  assert.equal(result[count - 1], `v${count - 1}`);
});
