/**
 * Large replies: a pipeline's reply streams instead of being built whole in the gateway's
 * memory, and no response passes `--max-reply-bytes`: a command whose reply would is
 * answered with an error that names the limit, and nothing else is lost.
 */

import assert from "node:assert/strict";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";
import { fillList, post } from "./_http.ts";

const MB = 1_000_000;

/** Stores `count` values of `bytes` bytes each under `big:1`…`big:<count>`, in Redis itself. */
async function storeBigValues(stack: RedisStack, count: number, bytes: number): Promise<void> {
  const script = "for i = 1, tonumber(ARGV[1]) do " +
    "redis.call('SET', 'big:' .. i, string.rep('x', tonumber(ARGV[2]))) end";
  const reply = await post(stack, "/", ["EVAL", script, 0, count, bytes]);
  assert.equal(reply.status, 200);
}

/** The gateway process's peak resident memory so far, in bytes (Linux `VmHWM`). */
async function peakRss(stack: RedisStack): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${stack.gatewayProcess.pid}/status`);
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]);
  return kib * 1024;
}

function gets(count: number): string[][] {
  return Array.from({ length: count }, (_, i) => ["GET", `big:${i + 1}`]);
}

/**
 * Stores `count` values of 1 MB, then POSTs a pipeline GETting them all.
 *
 * @returns the gateway's peak RSS before the request, and the response (body unread)
 */
async function pipelineOfBigValues(
  stack: RedisStack,
  count: number,
): Promise<{ before: number; response: Response }> {
  await storeBigValues(stack, count, MB);
  await post(stack, "/", ["PING"]);
  const before = await peakRss(stack);
  const response = await fetch(`${stack.gatewayUrl}/pipeline`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}` },
    body: JSON.stringify(gets(count)),
  });
  assert.equal(response.status, 200);
  return { before, response };
}

Deno.test("a pipeline of 100 GETs of 1 MB values streams whole while the gateway's memory grows far less than the reply", async () => {
  await using stack = await startRedisStack();
  const { before, response } = await pipelineOfBigValues(stack, 100);
  // Read it as a client does, chunk by chunk, checking the JSON only at the end.
  const text = await response.text();
  const grown = (await peakRss(stack)) - before;
  assert.ok(text.length > 100 * MB, `reply of ${text.length} characters`);
  const results = JSON.parse(text) as Array<{ result: string }>;
  assert.equal(results.length, 100);
  for (const { result } of results) assert.equal(result.length, MB);
  // Built whole, the reply cost three times its size (RESP, JSON string, bytes): +309 MiB.
  // Holding it whole even once costs at least its own size, so that is the bound: streamed,
  // growth measured 33-49 MiB (77 once under load), whatever the pipeline's length.
  assert.ok(grown < text.length, `peak RSS grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
});

Deno.test("a client that stops reading a large pipeline reply holds back Redis, not the gateway's memory, and blocks nobody", async () => {
  await using stack = await startRedisStack();
  const { before, response } = await pipelineOfBigValues(stack, 40);
  const reader = response.body!.getReader();
  assert.equal((await reader.read()).done, false);
  // The reader has stopped. Other clients are served meanwhile, on the same connection.
  for (let i = 0; i < 20; i++) {
    assert.deepEqual((await post(stack, "/", ["STRLEN", "big:40"])).body, { result: MB });
  }
  const grown = (await peakRss(stack)) - before;
  assert.ok(grown < 40 * 1024 * 1024, `peak RSS grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
  await reader.cancel();
  assert.deepEqual((await post(stack, "/", ["PING"])).body, { result: "PONG" });
});

Deno.test("a pipeline past --max-reply-bytes gets an error naming the limit for each reply that does not fit, and the rest", async () => {
  const limit = 5 * 1024 * 1024;
  await using stack = await startRedisStack({ maxReplyBytes: limit });
  await storeBigValues(stack, 10, MB);
  const reply = await post(stack, "/pipeline", [...gets(10), ["SET", "after", "1"], [
    "GET",
    "big:1",
  ]]);
  assert.equal(reply.status, 200);
  const results = reply.body as Array<{ result?: string; error?: string }>;
  assert.equal(results.length, 12);
  for (const [i, entry] of results.entries()) {
    if (i < 5) assert.equal(entry.result?.length, MB, `command ${i}`);
    else if (i === 10) assert.deepEqual(entry, { result: "OK" });
    else {
      assert.match(entry.error!, /max reply size of 5242880 bytes .*--max-reply-bytes/, `${i}`);
      assert.match(entry.error!, /the command ran/);
    }
  }
  // The command whose reply was dropped still ran, and the connection is in step.
  assert.deepEqual((await post(stack, "/", ["GET", "after"])).body, { result: "1" });
  assert.deepEqual((await post(stack, "/", ["STRLEN", "big:9"])).body, { result: MB });

  // base64 makes replies a third bigger: fewer fit.
  const encoded = await post(stack, "/pipeline", gets(5), { "upstash-encoding": "base64" });
  const kept = (encoded.body as Array<{ result?: string }>).filter((r) => r.result).length;
  assert.equal(kept, 3);
});

Deno.test("a single command or transaction past --max-reply-bytes is a 400 naming the limit", async () => {
  await using stack = await startRedisStack({ maxReplyBytes: 1024 * 1024 });
  await storeBigValues(stack, 1, 2 * MB);
  const naming = /max reply size of 1048576 bytes/;
  const single = await post(stack, "/", ["GET", "big:1"]);
  assert.equal(single.status, 400);
  assert.match((single.body as { error: string }).error, naming);
  // Many small elements: the array is abandoned once it passes the limit.
  await fillList(stack, "list", 200_000);
  const range = await post(stack, "/", ["LRANGE", "list", 0, -1]);
  assert.equal(range.status, 400);
  assert.match((range.body as { error: string }).error, naming);
  // Five times the limit: read past by the gateway's parser, never held whole.
  const rep = "redis.call('SET', KEYS[1], string.rep('y', 5 * 1024 * 1024))";
  await post(stack, "/", ["EVAL", rep, 1, "huge"]);
  for (const path of ["/", "/multi-exec"]) {
    const body = path === "/" ? ["GET", "huge"] : [["GET", "huge"]];
    const huge = await post(stack, path, body);
    assert.equal(huge.status, 400, path);
    assert.match((huge.body as { error: string }).error, naming, path);
  }
  const piped = await post(stack, "/pipeline", [["GET", "huge"], ["STRLEN", "huge"]]);
  assert.deepEqual((piped.body as Array<{ result?: number }>)[1], { result: 5 * 1024 * 1024 });
  const tx = await post(stack, "/multi-exec", [["GET", "big:1"], ["INCR", "n"]]);
  assert.equal(tx.status, 400);
  assert.match((tx.body as { error: string }).error, naming);
  // Everything else carries on.
  assert.deepEqual((await post(stack, "/", ["GET", "n"])).body, { result: "1" });
  const small = await post(stack, "/", ["LRANGE", "list", 0, 2]);
  assert.deepEqual(small.body, { result: ["v0", "v1", "v2"] });
});

Deno.test("a reply past twice --max-reply-bytes is dropped as it arrives, never buffered whole by node-redis, and the gateway carries on", async () => {
  // Replies are held up to max(2 x 1 MiB, 8 MiB); this one is 40 MB.
  await using stack = await startRedisStack({ maxReplyBytes: 1024 * 1024 });
  await storeBigValues(stack, 1, 40 * MB);
  await post(stack, "/", ["PING"]);
  const before = await peakRss(stack);
  const single = await post(stack, "/", ["GET", "big:1"]);
  assert.equal(single.status, 400);
  assert.match((single.body as { error: string }).error, /max reply size of 1048576 bytes/);
  const tx = await post(stack, "/multi-exec", [["INCR", "n"], ["GET", "big:1"]]);
  assert.equal(tx.status, 400);
  // In a pipeline the dropped reply's command gets the limit's error, and the commands
  // behind it on the closed connection say that they may have run.
  const piped = await post(stack, "/pipeline", [["SET", "a", "1"], ["GET", "big:1"], [
    "STRLEN",
    "big:1",
  ]]);
  assert.equal(piped.status, 200);
  const [set, get, strlen] = piped.body as Array<{ result?: unknown; error?: string }>;
  assert.deepEqual(set, { result: "OK" });
  assert.match(get.error!, /max reply size of 1048576 bytes/);
  assert.match(strlen.error!, /closed its Redis connection .* may have run/);
  // Buffered whole, each of the three would have cost about twice its 40 MB.
  const grown = (await peakRss(stack)) - before;
  assert.ok(grown < 30 * 1024 * 1024, `peak RSS grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
  assert.deepEqual((await post(stack, "/", ["STRLEN", "big:1"])).body, { result: 40 * MB });
  assert.deepEqual((await post(stack, "/", ["GET", "n"])).body, { result: "1" });
});

Deno.test("requests that lose their answer when another's oversized reply closes their connection are told their command may have run", async () => {
  await using stack = await startRedisStack({ maxReplyBytes: 1024 * 1024 });
  await storeBigValues(stack, 1, 20 * MB);
  let victims = 0;
  let answered = 0;
  for (let round = 0; round < 20 && victims === 0; round++) {
    const big = post(stack, "/", ["GET", "big:1"]);
    const others = Array.from({ length: 8 }, () => post(stack, "/", ["INCR", "n"]));
    assert.equal((await big).status, 400);
    for (const other of await Promise.all(others)) {
      if (other.status === 200) answered++;
      else {
        victims++;
        assert.equal(other.status, 503);
        // Sent behind the oversized reply, the INCR ran: a client must not take 503 for "not run".
        assert.match(
          (other.body as { error: string }).error,
          /closed to drop another command's oversized reply; the command may have run/,
        );
      }
    }
  }
  assert.ok(victims > 0, "no request shared the connection with the oversized reply");
  assert.deepEqual((await post(stack, "/", ["GET", "n"])).body, {
    result: String(answered + victims),
  });
});
