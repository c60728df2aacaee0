/**
 * Subscriptions and transactions each hold a Redis connection of their own, so a token
 * holder opening stream after stream would use up Redis's `maxclients` and lock every
 * other client of that Redis out. The gateway caps them (`--max-dedicated-connections`):
 * past the cap such requests get 503 until one ends, and plain commands keep working.
 */

import assert from "node:assert/strict";
import { startGateway } from "../../scripts/redis_http.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { gatewayBeside } from "./_gateway_beside.ts";

Deno.test("past --max-dedicated-connections, subscriptions and transactions get 503 until one ends", async () => {
  await using stack = await startRedisStack();
  await using gateway = await gatewayBeside(stack, { maxDedicatedConnections: 3 });
  const headers = { authorization: `Bearer ${stack.token}` };
  const subscribe = async (channel: string) => {
    const aborter = new AbortController();
    const response = await fetch(`${gateway.url}/subscribe/${channel}`, {
      method: "POST",
      headers,
      signal: aborter.signal,
    });
    return { response, aborter };
  };
  const open = [];
  for (let i = 0; i < 3; i++) {
    const subscription = await subscribe(`c${i}`);
    assert.equal(subscription.response.status, 200);
    const reader = subscription.response.body!.getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /subscribe/);
    open.push({ ...subscription, reader });
  }

  const refused = await subscribe("c3");
  assert.equal(refused.response.status, 503);
  assert.match((await refused.response.json()).error, /limit of 3 Redis connections/);
  const transaction = await fetch(`${gateway.url}/multi-exec`, {
    method: "POST",
    headers,
    body: JSON.stringify([["SET", "t", "1"]]),
  });
  assert.equal(transaction.status, 503);
  await transaction.body?.cancel();
  assert.equal(await stack.redis.exists("t"), 0);
  // Plain commands share connections, so the cap does not reach them.
  const plain = await fetch(gateway.url, {
    method: "POST",
    headers,
    body: JSON.stringify(["SET", "p", "1"]),
  });
  assert.deepEqual(await plain.json(), { result: "OK" });

  // One subscriber leaves: its connection is released and a new request gets it.
  open[0].aborter.abort();
  await open[0].reader.cancel().catch(() => {});
  let again: Response | undefined;
  for (let attempt = 0; attempt < 50; attempt++) {
    again = await fetch(`${gateway.url}/multi-exec`, {
      method: "POST",
      headers,
      body: JSON.stringify([["SET", "t", "1"]]),
    });
    if (again.status !== 503) break;
    await again.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(await again!.json(), [{ result: "OK" }]);
  for (const { aborter, reader } of open.slice(1)) {
    aborter.abort();
    await reader.cancel().catch(() => {});
  }
});

Deno.test("--max-dedicated-connections must be a positive integer", async () => {
  await assert.rejects(
    async () =>
      await startGateway({
        redisUrl: "redis://127.0.0.1:1",
        token: "t",
        maxDedicatedConnections: 0,
      }),
    RangeError,
  );
});
