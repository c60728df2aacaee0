/**
 * A REST endpoint that answers 429 (Upstash's per-second command cap, or a proxy's rate
 * limit) is an outage to wait out, for subscriptions as for commands: `REDIS_UNAVAILABLE`,
 * never a command error. The endpoint is a real local HTTP server.
 */
import assert from "node:assert/strict";
import { RedisError } from "../../src/errors.ts";
import { UpstashRedis } from "../../src/redis/upstash_redis.ts";
import { RedisFanout } from "../../src/realtime/redis_fanout.ts";
import type { FanoutEnvelope } from "../../src/realtime/fanout.ts";

const TOKEN = "rate-limited-test-token";

interface Endpoint extends AsyncDisposable {
  readonly url: string;
  /** Every request's method and path, in order. */
  readonly seen: string[];
}

function serveEndpoint(handler: (request: Request, index: number) => Response): Endpoint {
  const seen: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    assert.equal(request.headers.get("authorization"), `Bearer ${TOKEN}`);
    seen.push(`${request.method} ${new URL(request.url).pathname}`);
    return handler(request, seen.length - 1);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

function tooManyRequests(body: "json" | "text"): Response {
  return body === "json"
    ? Response.json({ error: "ERR max requests limit exceeded" }, {
      status: 429,
      headers: { "retry-after": "1" },
    })
    : new Response("Too Many Requests", { status: 429, headers: { "retry-after": "1" } });
}

async function failure(promise: Promise<unknown>): Promise<RedisError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RedisError, String(error));
    return error;
  }
  assert.fail("expected a RedisError");
}

Deno.test("a subscribe answered 429 is REDIS_UNAVAILABLE, asked once, whatever the body", async () => {
  for (const body of ["json", "text"] as const) {
    await using endpoint = serveEndpoint(() => tooManyRequests(body));
    const redis = new UpstashRedis({ url: endpoint.url, token: TOKEN });
    const handlers = { onMessage: () => assert.fail("no message"), onError: () => {} };
    const error = await failure(redis.subscribe("news/room 1", handlers));
    assert.equal(error.code, "REDIS_UNAVAILABLE", body);
    assert.match(error.message, /HTTP 429/);
    // The adapter leaves the waiting to its caller (RedisFanout backs off): no hot retry.
    assert.deepEqual(endpoint.seen, ["POST /subscribe/news%2Froom%201"]);
  }
});

Deno.test("subscribe maps each refusal status the same way as commands, whatever the body", async () => {
  const expected: Array<[number, string]> = [
    [429, "REDIS_UNAVAILABLE"],
    [500, "REDIS_UNAVAILABLE"],
    [502, "REDIS_UNAVAILABLE"],
    [503, "REDIS_UNAVAILABLE"],
    [401, "REDIS_UNAUTHORIZED"],
    [403, "REDIS_UNAUTHORIZED"],
    [400, "REDIS_COMMAND_FAILED"],
  ];
  for (const [status, code] of expected) {
    // A proxy in front of the endpoint answers in HTML or plain text, not Upstash's JSON.
    for (const body of [JSON.stringify({ error: "refused" }), "<html>refused</html>"]) {
      await using endpoint = serveEndpoint(() => new Response(body, { status }));
      const redis = new UpstashRedis({ url: endpoint.url, token: TOKEN, retries: 0 });
      const subscribing = await failure(redis.subscribe("c", { onMessage() {} }));
      const commanding = await failure(redis.get("k"));
      assert.deepEqual(
        [subscribing.code, commanding.code],
        [code, code],
        `HTTP ${status} ${body}`,
      );
    }
  }
});

Deno.test("a command answered 429 is REDIS_UNAVAILABLE, even when the body is not JSON", async () => {
  for (const body of ["json", "text"] as const) {
    await using endpoint = serveEndpoint(() => tooManyRequests(body));
    const redis = new UpstashRedis({ url: endpoint.url, token: TOKEN });
    assert.equal((await failure(redis.get("k"))).code, "REDIS_UNAVAILABLE", `get, ${body}`);
    assert.equal(
      (await failure(redis.pipeline([["GET", "k"]]))).code,
      "REDIS_UNAVAILABLE",
      `pipeline, ${body}`,
    );
    // Retries are for replies lost on the network; a 429 is an answer, not retried at once.
    assert.deepEqual(endpoint.seen, ["POST /", "POST /pipeline"], body);
  }
});

Deno.test("RedisFanout backs off after 429s on subscribe and receives once the endpoint lets it in", async () => {
  const refusals = 3;
  const topic = "rate-limited:{realtime}:fanout";
  const encoder = new TextEncoder();
  let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  let accepted!: () => void;
  const isAccepted = new Promise<void>((resolve) => (accepted = resolve));
  await using endpoint = serveEndpoint((_request, index) => {
    if (index < refusals) return tooManyRequests("text");
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        stream = controller;
        controller.enqueue(encoder.encode(`data: subscribe,${topic},1\n\n`));
        accepted();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const errors: unknown[] = [];
  const fanout = new RedisFanout({
    redis: new UpstashRedis({ url: endpoint.url, token: TOKEN }),
    prefix: "rate-limited",
    // The real clock: the retries wait on it (2 to 8 ms); with no member held, heartbeats send nothing.
    resubscribeDelay: { min: 2, max: 8 },
    onError: (error) => errors.push(error),
  });
  // Disposed before the endpoint, so a failed assertion cannot leave the stream holding it open.
  await using _fanout = { [Symbol.asyncDispose]: () => fanout.close() };
  const delivered: FanoutEnvelope[] = [];
  let deliveredOne!: () => void;
  const isDelivered = new Promise<void>((resolve) => (deliveredOne = resolve));
  await fanout.start({
    deliver: (envelope) => {
      delivered.push(envelope);
      deliveredOne();
    },
    memberGone() {},
    memberBack() {},
  });
  await isAccepted;

  assert.equal(errors.length, refusals, "each refusal reported once");
  for (const error of errors) {
    assert.ok(error instanceof RedisError && error.code === "REDIS_UNAVAILABLE", String(error));
  }
  const path = `POST /subscribe/${encodeURIComponent(topic)}`;
  assert.deepEqual(endpoint.seen, Array(refusals + 1).fill(path));

  const message = JSON.stringify({ i: "other-instance", n: 0, c: "news", p: '"hello"' });
  stream!.enqueue(encoder.encode(`data: message,${topic},${message}\n\n`));
  await isDelivered;
  assert.deepEqual(delivered, [{ channel: "news", payload: '"hello"', except: undefined }]);
  await fanout.close();
  assert.equal(endpoint.seen.length, refusals + 1, "no attempt after close");
});
