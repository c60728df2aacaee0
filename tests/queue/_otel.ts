/**
 * The OpenTelemetry SDK as an application registers it, for the trace tests:
 * a tracer provider whose spans end in an in-memory exporter, the W3C trace
 * context propagator and the AsyncLocalStorage context manager, all global.
 * `using` it unregisters everything again, so other tests in the process see
 * no provider.
 *
 * @module
 */
import * as otel from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";

/** A registered SDK and the spans it finished. */
export interface OtelSdk extends Disposable {
  /** The spans ended so far, in the order they ended. */
  spans(): ReadableSpan[];
  /** Spans ended so far with this name. */
  named(name: string): ReadableSpan[];
}

/** Registers the SDK globally; dispose to unregister it. */
export function registerOtel(): OtelSdk {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  otel.trace.setGlobalTracerProvider(provider);
  otel.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return {
    spans: () => exporter.getFinishedSpans(),
    named: (name) => exporter.getFinishedSpans().filter((span) => span.name === name),
    [Symbol.dispose]() {
      otel.trace.disable();
      otel.propagation.disable();
      otel.context.disable();
    },
  };
}

/** A span as the cross-process test's worker prints it. */
export interface SpanRecord {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  links: string[];
  attributes: Record<string, unknown>;
  status: { code: number; message?: string };
  events: { name: string; attributes: Record<string, unknown> }[];
}

/** The parts of a finished span the tests compare, as plain JSON. */
export function spanRecord(span: ReadableSpan): SpanRecord {
  return {
    name: span.name,
    kind: span.kind,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    links: span.links.map((link) => link.context.spanId),
    attributes: { ...span.attributes },
    status: { ...span.status },
    events: span.events.map((event) => ({
      name: event.name,
      attributes: { ...event.attributes },
    })),
  };
}
