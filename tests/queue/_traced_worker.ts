/**
 * A worker process for the cross-process trace test: registers the
 * OpenTelemetry SDK (in-memory exporter, W3C propagator), drains the `mail`
 * queue over the gateway with `tracing: otel`, and prints the spans
 * it finished as one JSON array.
 *
 * Usage: deno run -A _traced_worker.ts <gatewayUrl> <token> <prefix>
 *
 * @module
 */
import * as otel from "@opentelemetry/api";
import * as v from "valibot";
import { UpstashRedis } from "../../src/redis/mod.ts";
import { defineJob, Queue, RedisBackend, silentLogger, Worker } from "../../src/queue/mod.ts";
import { registerOtel, spanRecord } from "./_otel.ts";

const [url, token, prefix] = Deno.args;
using sdk = registerOtel();
const job = defineJob({
  name: "send-invoice",
  queue: "mail",
  schema: v.object({ fail: v.boolean() }),
  maxRetries: 0,
  handle(payload) {
    otel.trace.getTracer("app").startSpan("render-pdf").end();
    if (payload.fail) throw new TypeError("printer on fire");
  },
});
const queue = new Queue({
  backend: new RedisBackend({ redis: new UpstashRedis({ url, token }), prefix }),
  tracing: otel,
});
await new Worker(queue, { jobs: [job], queues: ["mail"], logger: silentLogger }).drain();
console.log(JSON.stringify(sdk.spans().map(spanRecord)));
