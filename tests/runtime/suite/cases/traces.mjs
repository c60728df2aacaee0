/**
 * Queue traces (#16) with the real OpenTelemetry SDK: its in-memory exporter,
 * the W3C propagator, and `@opentelemetry/api` as the application installs it
 * (bundled into the worker in workerd). A dispatcher and a worker, each with
 * its own Redis client over the gateway, share one trace. No context manager
 * is registered (workerd has none without `nodejs_compat`), so spans are joined
 * through the stored context alone.
 *
 * @module
 */
import * as otel from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend, silentLogger, Worker } from "@kiln/core/queue";
import * as assert from "./_assert.mjs";

export const name = "traces";

/** Registers the SDK for the duration of `body`, then unregisters it. */
async function withSdk(body) {
  const exporter = new InMemorySpanExporter();
  otel.trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  otel.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  try {
    await body(exporter);
  } finally {
    otel.trace.disable();
    otel.propagation.disable();
  }
}

function invoice() {
  return defineJob({
    name: "send-invoice",
    queue: "mail",
    schema: v.object({ fail: v.boolean() }),
    maxRetries: 0,
    handle(payload) {
      if (payload.fail) throw new TypeError("printer on fire");
    },
  });
}

function backend(ctx, suffix) {
  const redis = new ctx.Redis({ url: ctx.redisUrl, token: ctx.redisToken });
  return new RedisBackend({ redis, prefix: `${ctx.namespace}-traces-${suffix}` });
}

/** @type {import("./mod.mjs").Case[]} */
export const cases = [
  {
    name: "a worker on another client continues dispatch()'s trace, with the failure recorded",
    async run(ctx) {
      await withSdk(async (exporter) => {
        const job = invoice();
        const dispatcher = new Queue({ backend: backend(ctx, "join"), tracing: otel });
        const consumer = new Queue({ backend: backend(ctx, "join"), tracing: otel });
        const [ok, bad] = await Promise.all([
          dispatcher.dispatch(job, { fail: false }),
          dispatcher.dispatch(job, { fail: true }),
        ]);
        const summary = await new Worker(consumer, {
          jobs: [job],
          queues: ["mail"],
          logger: silentLogger,
        }).drain({ maxTime: 10_000 });
        assert.equal(summary.completed, 1);
        assert.equal(summary.failed, 1);
        const spans = exporter.getFinishedSpans();
        for (const { id } of [ok, bad]) {
          const of = (kind) =>
            spans.find((span) =>
              span.kind === kind && span.attributes["messaging.message.id"] === id
            );
          const send = of(otel.SpanKind.PRODUCER);
          const process = of(otel.SpanKind.CONSUMER);
          assert.equal(process.spanContext().traceId, send.spanContext().traceId);
          assert.equal(process.parentSpanContext?.spanId, send.spanContext().spanId);
          assert.equal(process.attributes["messaging.system"], "kiln");
          assert.equal(process.attributes["messaging.destination.name"], "mail");
          assert.equal(process.attributes["kiln.job.attempt"], 1);
        }
        const failed = spans.find((span) =>
          span.kind === otel.SpanKind.CONSUMER &&
          span.attributes["messaging.message.id"] === bad.id
        );
        assert.equal(failed.status.code, otel.SpanStatusCode.ERROR);
        assert.equal(failed.attributes["error.type"], "TypeError");
        assert.equal(failed.events[0]?.attributes?.["exception.message"], "printer on fire");
      });
    },
  },
  {
    name:
      "without the tracing option no span is made and nothing is stored, with the SDK registered",
    async run(ctx) {
      await withSdk(async (exporter) => {
        const job = invoice();
        const queue = new Queue({ backend: backend(ctx, "off") });
        const { id } = await queue.dispatch(job, { fail: false });
        const stored = await queue.job(id, "mail");
        const summary = await new Worker(queue, {
          jobs: [job],
          queues: ["mail"],
          logger: silentLogger,
        }).drain({ maxTime: 10_000 });
        assert.equal(summary.completed, 1);
        assert.deepEqual(exporter.getFinishedSpans(), []);
        assert.equal(stored?.trace, undefined);
      });
    },
  },
];
