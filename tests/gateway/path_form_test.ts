/**
 * Upstash's path form (`GET /set/foo/bar`), so the `curl` examples of Upstash's REST
 * documentation work against the gateway unchanged, and so does every refusal.
 */

import assert from "node:assert/strict";
import { type RedisStack, startRedisStack } from "../support/redis_stack.ts";

interface Answer {
  status: number;
  body: { result?: unknown; error?: string };
}

async function call(
  stack: RedisStack,
  path: string,
  init: RequestInit & { auth?: boolean } = {},
): Promise<Answer> {
  const headers = new Headers(init.headers);
  if (init.auth !== false) headers.set("authorization", `Bearer ${stack.token}`);
  const response = await fetch(stack.gatewayUrl + path, { ...init, headers });
  return { status: response.status, body: await response.json() };
}

Deno.test("the curl examples of Upstash's REST documentation work as written", async () => {
  await using stack = await startRedisStack();
  assert.deepEqual(await call(stack, "/set/foo/bar"), { status: 200, body: { result: "OK" } });
  assert.deepEqual((await call(stack, "/get/foo")).body, { result: "bar" });
  assert.deepEqual((await call(stack, "/set/foo/bar/EX/100")).body, { result: "OK" });
  const ttl = (await call(stack, "/ttl/foo")).body.result as number;
  assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl}`);
  await call(stack, "/set/foo1/a", { method: "POST" });
  assert.deepEqual((await call(stack, "/mget/foo1/foo2/foo")).body, { result: ["a", null, "bar"] });
  await call(stack, "/hset/employee:23381/salary/300", { method: "PUT" });
  assert.deepEqual((await call(stack, "/hget/employee:23381/salary")).body, { result: "300" });
  assert.deepEqual((await call(stack, "/zadd/teams/100/team-x/90/team-y")).body, { result: 2 });
  assert.deepEqual((await call(stack, "/publish/chat/hello")).body, { result: 0 });
  // `_token` in place of the header, as in Upstash's second example.
  const byQuery = await call(stack, `/get/foo?_token=${stack.token}`, { auth: false });
  assert.deepEqual(byQuery, { status: 200, body: { result: "bar" } });
  // HEAD answers like GET, without a body.
  const head = await fetch(`${stack.gatewayUrl}/get/foo`, {
    method: "HEAD",
    headers: { authorization: `Bearer ${stack.token}` },
  });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
});

Deno.test("a POST body is the last argument exactly as sent, and query parameters follow it", async () => {
  await using stack = await startRedisStack();
  const value = '{"name":"ü/?#&=\\"x\\"","list":[1,2]}\n';
  assert.deepEqual(
    await call(stack, "/set/doc?EX=100", { method: "POST", body: value }),
    { status: 200, body: { result: "OK" } },
  );
  assert.deepEqual((await call(stack, "/get/doc")).body, { result: value });
  assert.ok(((await call(stack, "/ttl/doc")).body.result as number) > 0);
  // Segments are percent-decoded: a slash or a space inside a key is written %2F, %20.
  await call(stack, "/set/a%2Fb/x%20y%E2%9C%93");
  assert.deepEqual((await call(stack, "/get/a%2Fb")).body, { result: "x y✓" });
  const encoded = await call(stack, "/get/a%2Fb", { headers: { "upstash-encoding": "base64" } });
  assert.deepEqual(encoded.body, { result: new TextEncoder().encode("x y✓").toBase64() });
  // An empty body adds nothing.
  assert.deepEqual((await call(stack, "/exists/doc", { method: "POST", body: "" })).body, {
    result: 1,
  });
});

Deno.test("the path form is refused exactly like the JSON form, and bad input gets clear errors", async () => {
  await using stack = await startRedisStack({ maxBodyBytes: 1024, allow: [] });
  await call(stack, "/set/kept/1");
  const refused: Array<[string, RegExp]> = [
    ["/flushall", /FLUSHALL is not allowed/],
    ["/FLUSHDB", /FLUSHDB is not allowed/],
    ["/config/set/maxmemory/1", /CONFIG SET is not allowed/],
    ["/select/1", /SELECT is not allowed/],
    ["/hello/3", /HELLO is not allowed/],
    ["/monitor", /MONITOR is not allowed/],
    ["/xreadgroup/GROUP/STREAMS/c1/BLOCK/8000/STREAMS/evs/%3E", /XREADGROUP with BLOCK/],
    ["/blpop/q/0", /BLPOP is not allowed/],
  ];
  for (const [path, message] of refused) {
    const answer = await call(stack, path, { method: "POST" });
    assert.equal(answer.status, 400, path);
    assert.match(answer.body.error!, message, path);
  }
  assert.deepEqual((await call(stack, "/get/kept")).body, { result: "1" });

  const badEncoding = await call(stack, "/get/%E0%A4%A");
  assert.equal(badEncoding.status, 400);
  assert.match(badEncoding.body.error!, /not valid percent-encoding/);
  const tooBig = await call(stack, "/set/k", { method: "POST", body: "x".repeat(2000) });
  assert.equal(tooBig.status, 413);
  const wrongToken = await call(stack, "/get/kept?_token=guess", { auth: false });
  assert.equal(wrongToken.status, 401);
  // A wrong header is not rescued by a right `_token`.
  const mixed = await call(stack, `/get/kept?_token=${stack.token}`, {
    auth: false,
    headers: { authorization: "Bearer guess" },
  });
  assert.equal(mixed.status, 401);
});
