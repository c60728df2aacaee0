/**
 * The gateway refuses bad requests with a JSON `{"error": …}` and the right status, and
 * keeps serving afterwards.
 */

import assert from "node:assert/strict";
import { createRedisClient, startRedisStack } from "../support/redis_stack.ts";
import { post } from "./_http.ts";

Deno.test("a missing or wrong bearer token is a 401 JSON error", async () => {
  await using stack = await startRedisStack();
  for (const authorization of [undefined, "Bearer wrong", `Bearer ${stack.token}x`, stack.token]) {
    const response = await fetch(stack.gatewayUrl, {
      method: "POST",
      headers: authorization === undefined ? {} : { authorization },
      body: '["PING"]',
    });
    assert.equal(response.status, 401, String(authorization));
    assert.match((await response.json()).error, /Unauthorized/);
  }
  const intruder = createRedisClient(stack.gatewayUrl, "nope");
  await assert.rejects(() => intruder.get("k"), /Unauthorized/);
});

Deno.test("malformed bodies are 400s that say what is wrong", async () => {
  await using stack = await startRedisStack();
  const cases: Array<[string, unknown, RegExp]> = [
    ["/", "{not json", /not valid JSON/],
    ["/", "", /not valid JSON/],
    ["/", { cmd: "GET" }, /must be a JSON array/],
    ["/", "GET", /not valid JSON/],
    ["/", [], /Command is empty/],
    [
      "/",
      ["SET", "k", { a: 1 }],
      /argument 2 must be a string, a finite number or a boolean, got object/,
    ],
    ["/", ["SET", "k", null], /got null/],
    ["/", ["SET", "k", Infinity], /got null/], // JSON has no Infinity
    ["/", ["SET", ["k"]], /got array/],
    ["/pipeline", [], /Pipeline is empty/],
    ["/pipeline", ["GET", "k"], /Command 0: Request body must be a JSON array/],
    ["/pipeline", [["PING"], []], /Command 1: Command is empty/],
    ["/multi-exec", { a: 1 }, /JSON array of command arrays/],
  ];
  for (const [path, body, message] of cases) {
    const reply = await post(stack, path, body);
    assert.equal(reply.status, 400, `${path} ${JSON.stringify(body)}`);
    assert.match((reply.body as { error: string }).error, message);
  }
  assert.deepEqual((await post(stack, "/", ["PING"])).body, { result: "PONG" });
});

Deno.test("blocking and connection-state commands are refused on shared connections", async () => {
  await using stack = await startRedisStack();
  const refused = [
    ["BLPOP", "q", 0],
    ["brpop", "q", 1],
    ["SUBSCRIBE", "c"],
    ["MONITOR"],
    ["MULTI"],
    ["SELECT", 1],
    ["XREAD", "BLOCK", 0, "STREAMS", "s", "$"],
    ["CLIENT", "REPLY", "OFF"],
    ["WAIT", 0, 0],
  ];
  for (const command of refused) {
    const reply = await post(stack, "/", command);
    assert.equal(reply.status, 400, JSON.stringify(command));
    assert.match((reply.body as { error: string }).error, /not allowed over HTTP/);
  }
  const inPipeline = await post(stack, "/pipeline", [["PING"], ["BLPOP", "q", 0]]);
  assert.equal(inPipeline.status, 400);
  // A stream read without BLOCK is fine, even when a key is called "block".
  const read = await post(stack, "/", ["XREAD", "STREAMS", "block", "0"]);
  assert.deepEqual(read, { status: 200, body: { result: null } });
});

Deno.test("bodies over the size limit are 413, whether declared or streamed", async () => {
  await using stack = await startRedisStack({ maxBodyBytes: 1024 });
  const big = JSON.stringify(["SET", "k", "x".repeat(2000)]);
  const declared = await post(stack, "/", big);
  assert.equal(declared.status, 413);
  assert.match((declared.body as { error: string }).error, /larger than 1024 bytes/);

  const bytes = new TextEncoder().encode(big);
  const streamed = await fetch(stack.gatewayUrl, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}` },
    body: new ReadableStream({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 256) controller.enqueue(bytes.subarray(i, i + 256));
        controller.close();
      },
    }),
  });
  assert.equal(streamed.status, 413);
  await streamed.body?.cancel();
  assert.deepEqual((await post(stack, "/", ["SET", "k", "small"])).body, { result: "OK" });
});

Deno.test("an unknown command in the path form is Redis's error and other methods are 405", async () => {
  await using stack = await startRedisStack();
  const missing = await post(stack, "/nope", ["PING"]);
  assert.equal(missing.status, 400);
  assert.match((missing.body as { error: string }).error, /^ERR unknown command 'nope'/);
  const deleted = await fetch(`${stack.gatewayUrl}/get/k`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${stack.token}` },
  });
  assert.equal(deleted.status, 405);
  await deleted.body?.cancel();
  const get = await fetch(`${stack.gatewayUrl}/pipeline`, {
    headers: { authorization: `Bearer ${stack.token}` },
  });
  assert.equal(get.status, 405);
  assert.match((await get.json()).error, /not allowed/);
});

Deno.test("garbage input of every shape never crashes the gateway", async () => {
  await using stack = await startRedisStack();
  const bodies = [
    "null",
    "1",
    '"x"',
    "[[[]]]",
    "[1e999]",
    '["GET", -0]',
    "\u0000",
    "[" + "[".repeat(5000),
  ];
  for (const body of bodies) {
    for (const path of ["/", "/pipeline", "/multi-exec"]) {
      const reply = await post(stack, path, body);
      assert.ok(reply.status >= 200 && reply.status < 500, `${path} ${body} → ${reply.status}`);
    }
  }
  assert.deepEqual((await post(stack, "/", ["PING"])).body, { result: "PONG" });
});
