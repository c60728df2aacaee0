/**
 * Building the adapter from the user's own `@upstash/redis` client.
 *
 * The SDK has no public accessor for its endpoint and token (see
 * src/redis/_upstash_endpoint.ts), so Kiln reads them from the SDK's request
 * client. These tests use the real SDK from deno.json: if a release moves those
 * fields, they fail here, by name, before a user's app does.
 */
import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";
import { Redis as CloudflareRedis } from "@upstash/redis/cloudflare";
import { Redis as FastlyRedis } from "@upstash/redis/fastly";
import { toRedisLike } from "../../src/redis/connect.ts";
import { readUpstashEndpoint } from "../../src/redis/_upstash_endpoint.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { startRedisStack } from "../support/redis_stack.ts";

/** The SDK warns on the console about missing settings; these tests make it on purpose. */
function quietly<T>(make: () => T): T {
  const warn = console.warn;
  console.warn = () => {};
  try {
    return make();
  } finally {
    console.warn = warn;
  }
}

/** A fetch that records what it was asked, then asks the real gateway. */
function recordingFetch(seen: { url: string; authorization: string | null }[]): typeof fetch {
  return (input, init) => {
    seen.push({
      url: String(input),
      authorization: new Headers(init?.headers).get("authorization"),
    });
    return fetch(input, init);
  };
}

Deno.test("the @upstash/redis SDK still keeps its endpoint where Kiln reads it, in every platform entry", () => {
  const url = "https://eu1-example.upstash.io";
  const token = "AX-token_1=";
  const clients = {
    "@upstash/redis": new Redis({ url, token, enableTelemetry: false }),
    "@upstash/redis (auto-pipelining off)": new Redis({
      url,
      token,
      enableTelemetry: false,
      enableAutoPipelining: false,
    }),
    "@upstash/redis/cloudflare": new CloudflareRedis({ url, token, enableTelemetry: false }),
    "@upstash/redis/fastly": new FastlyRedis({ url, token, backend: "upstash" }),
  };
  for (const [entry, client] of Object.entries(clients)) {
    const moved = `${entry} no longer keeps its endpoint at client.baseUrl and ` +
      "client.headers.authorization: update src/redis/_upstash_endpoint.ts";
    let endpoint;
    try {
      endpoint = readUpstashEndpoint(client);
    } catch (error) {
      throw new Error(moved, { cause: error });
    }
    assert.deepEqual(endpoint, { url, token }, moved);
  }
});

Deno.test("fromClient() sends every command to the SDK client's endpoint with its token", async () => {
  await using stack = await startRedisStack();
  const seen: { url: string; authorization: string | null }[] = [];
  const sdk = new Redis({
    url: `${stack.gatewayUrl}/`,
    token: stack.token,
    enableTelemetry: false,
  });
  const redis = UpstashRedis.fromClient(sdk, { fetch: recordingFetch(seen) });
  await redis.set("endpoint", "1.0");
  assert.equal(await redis.get("endpoint"), "1.0");
  assert.deepEqual(seen, [
    { url: stack.gatewayUrl, authorization: `Bearer ${stack.token}` },
    { url: stack.gatewayUrl, authorization: `Bearer ${stack.token}` },
  ]);
});

Deno.test("a client built without a token is refused, not sent to Redis as 'Bearer undefined'", async () => {
  await using stack = await startRedisStack();
  const seen: { url: string; authorization: string | null }[] = [];
  // What `Redis.fromEnv()` builds when UPSTASH_REDIS_REST_TOKEN is unset.
  const tokenless = quietly(() =>
    new Redis({ url: stack.gatewayUrl, token: undefined, enableTelemetry: false })
  );
  assert.throws(
    () => UpstashRedis.fromClient(tokenless, { fetch: recordingFetch(seen) }),
    (error: unknown) => error instanceof TypeError && /no token/.test(error.message),
  );
  assert.throws(() => toRedisLike(tokenless), TypeError);
  const blank = quietly(() =>
    new Redis({ url: stack.gatewayUrl, token: " ", enableTelemetry: false })
  );
  assert.throws(() => UpstashRedis.fromClient(blank), /no token/);
  assert.deepEqual(seen, []);
});

Deno.test("a client built without a url is refused with a message naming the setting", () => {
  const urlless = quietly(() => new Redis({ url: undefined, token: "t", enableTelemetry: false }));
  assert.throws(
    () => UpstashRedis.fromClient(urlless),
    (error: unknown) => error instanceof TypeError && /no url/.test(error.message),
  );
});

Deno.test("a client on a custom requester is refused: its endpoint is not Kiln's to guess", () => {
  const custom = new Redis({
    request: <T>() => Promise.resolve({ result: "OK" as T }),
  });
  assert.throws(
    () => UpstashRedis.fromClient(custom),
    (error: unknown) =>
      error instanceof TypeError && /new UpstashRedis\(\{ url, token \}\)/.test(error.message),
  );
});

Deno.test("fromClient() refuses objects that only look like the SDK", () => {
  const forged = [
    {},
    { client: null },
    { client: { baseUrl: "http://x" } },
    { client: { baseUrl: "http://x", headers: { authorization: 42 } } },
    { client: { baseUrl: "http://x", headers: { authorization: "Basic dXNlcjpwdw==" } } },
    { client: { baseUrl: "file:///etc/passwd", headers: { authorization: "Bearer t" } } },
  ];
  for (const client of forged) {
    assert.throws(() => UpstashRedis.fromClient(client), TypeError, JSON.stringify(client));
  }
});
