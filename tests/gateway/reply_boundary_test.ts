/**
 * `--max-reply-bytes` counts the response body in UTF-8 bytes, exactly: a reply whose
 * JSON is the limit is sent whole, one byte more is refused, whether the bytes come from
 * ASCII, multi-byte characters, JSON escapes or base64.
 */

import assert from "node:assert/strict";
import { startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

const LIMIT = 1024;
const ENVELOPE = '{"result":""}'.length;

async function bodyOf(
  url: string,
  token: string,
  path: string,
  command: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(url + path, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(command),
  });
  return { status: response.status, bytes: (await response.bytes()).length };
}

Deno.test("a reply exactly at --max-reply-bytes is sent, one byte more is refused", async () => {
  await using stack = await startRedisStack({ maxReplyBytes: LIMIT });
  const cases: Array<[string, string, string]> = [
    // [key, value whose envelope is exactly LIMIT bytes, the same one byte longer]
    ["ascii", "a".repeat(LIMIT - ENVELOPE), "a".repeat(LIMIT - ENVELOPE + 1)],
    ["utf8", "é".repeat((LIMIT - ENVELOPE - 1) / 2) + "a", "é".repeat((LIMIT - ENVELOPE + 1) / 2)],
    [
      "escaped",
      '"'.repeat((LIMIT - ENVELOPE - 1) / 2) + "a",
      '"'.repeat((LIMIT - ENVELOPE + 1) / 2),
    ],
  ];
  for (const [key, fits, over] of cases) {
    await stack.redis.set(`${key}:fits`, fits);
    await stack.redis.set(`${key}:over`, over);
    const exact = await bodyOf(stack.gatewayUrl, stack.token, "/", ["GET", `${key}:fits`]);
    assert.deepEqual(exact, { status: 200, bytes: LIMIT }, key);
    const past = await post(stack, "/", ["GET", `${key}:over`]);
    assert.equal(past.status, 400, key);
    assert.match((past.body as { error: string }).error, /1024/, key);
  }
  // base64: 4 characters per 3 bytes, so 756 bytes make 1008 (a body of 1021) and 759
  // make 1012 (1025).
  await stack.redis.set("b64", "b".repeat(756));
  const encoded = await bodyOf(stack.gatewayUrl, stack.token, "/", ["GET", "b64"], {
    "upstash-encoding": "base64",
  });
  assert.deepEqual(encoded, { status: 200, bytes: LIMIT - 3 });
  await stack.redis.append("b64", "bbb");
  const past = await post(stack, "/", ["GET", "b64"], { "upstash-encoding": "base64" });
  assert.equal(past.status, 400);
  // A pipeline whose whole body is the limit is sent whole.
  const pipelined = "p".repeat(LIMIT - ENVELOPE - 2);
  await stack.redis.set("pipe", pipelined);
  const pipeline = await bodyOf(stack.gatewayUrl, stack.token, "/pipeline", [["GET", "pipe"]]);
  assert.deepEqual(pipeline, { status: 200, bytes: LIMIT });
});
