/**
 * OpenTelemetry spans for dispatching and running jobs, through the optional
 * peer `@opentelemetry/api`, which Kiln never imports: the application passes
 * the module in (`new Queue({ tracing: otel })`), and without it there are no
 * spans and nothing is loaded.
 *
 * Why not find the package by itself: a static import would load it for every
 * user; a literal `import("@opentelemetry/api")` makes bundlers (wrangler's
 * esbuild, for Workers) resolve it at build time and fail the build where it is
 * not installed; and one whose specifier is built at run time makes Miniflare
 * refuse to load the whole Worker (`ERR_MODULE_DYNAMIC_SPEC`), as the runtime
 * suite showed. Passing the module works the same on Deno, Node, Bun and Workers.
 *
 * Spans follow OpenTelemetry's messaging conventions: `dispatch()` and
 * `dispatchMany()` start a PRODUCER span ("send", the creation context of the
 * jobs it enqueues) under the caller's active span and store its context, as
 * the global propagator writes it (W3C `traceparent`/`tracestate`), in each
 * job; the worker starts a CONSUMER span ("process") whose parent, and link,
 * is that context, so the trace goes on in whichever process and runtime runs
 * the job, and the handler runs inside it. A job dispatched without tracing
 * carries nothing (not one byte more in its record).
 *
 * @module
 */
import type {
  DispatchResult,
  NewJob,
  QueueBackend,
  StoredJob,
  WorkflowRequest,
} from "./backend.ts";

/** The span methods Kiln calls (a structural subset of OpenTelemetry's `Span`). */
export interface TracingSpan {
  /** Sets one attribute. */
  setAttribute(key: string, value: string | number | boolean): unknown;
  /** Records an exception as a span event. */
  recordException(exception: unknown): void;
  /** Sets the status (`code` 2 is ERROR). */
  setStatus(status: { code: number; message?: string }): unknown;
  /** The span's context, for links. */
  spanContext(): unknown;
  /** Ends the span. */
  end(): void;
}

/**
 * The parts of `@opentelemetry/api` Kiln uses, as a structural type so that
 * Kiln's declarations never name the package: pass the module itself,
 * `import * as otel from "@opentelemetry/api"`.
 *
 * @example The module itself is a TracingApi
 * ```ts
 * import * as otel from "@opentelemetry/api";
 * import { MemoryBackend, Queue, type TracingApi } from "@kiln/core/queue";
 *
 * const tracing: TracingApi = otel;
 * const queue = new Queue({ backend: new MemoryBackend(), tracing });
 * ```
 */
export interface TracingApi {
  /** The trace API: tracers, and spans in contexts. */
  readonly trace: {
    /** A tracer from the global tracer provider. */
    getTracer(name: string, version?: string): {
      /** Starts a span under `context`. */
      startSpan(
        name: string,
        options?: {
          kind?: number;
          attributes?: Record<string, unknown>;
          links?: { context: unknown }[];
        },
        context?: unknown,
      ): TracingSpan;
    };
    /** `context` with `span` as its current span. */
    setSpan(context: unknown, span: TracingSpan): unknown;
    /** The current span of `context`, if any. */
    getSpan(context: unknown): TracingSpan | undefined;
  };
  /** The context API. */
  readonly context: {
    /** The active context. */
    active(): unknown;
    /** Calls `fn` with `context` active. */
    with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
      context: unknown,
      fn: F,
      thisArg?: ThisParameterType<F>,
      ...args: A
    ): ReturnType<F>;
  };
  /** The propagation API: the global propagator. */
  readonly propagation: {
    /** Writes `context` into `carrier`. */
    inject(context: unknown, carrier: Record<string, string>): void;
    /** Reads a context from `carrier`, on top of `context`. */
    extract(context: unknown, carrier: Record<string, string>): unknown;
  };
  /** The empty context: a job's span starts from it, not from the worker loop's. */
  readonly ROOT_CONTEXT: unknown;
}

/** A job's trace context, as the propagator wrote it: header names to values. */
export type TraceCarrier = Readonly<Record<string, string>>;

// The numeric values of OpenTelemetry's SpanKind and SpanStatusCode enums, fixed by its
// specification (and its protobuf), so Kiln needs none of the package's values to use them.
const PRODUCER = 3;
const CONSUMER = 4;
const ERROR = 2;

/**
 * The most entries, and the longest value, kept of a trace context: 8 KiB is W3C baggage's own
 * limit, and 8 entries hold `traceparent`, `tracestate`, `baggage` and a few vendors' headers.
 */
const CARRIER_ENTRIES = 8;
const CARRIER_VALUE = 8_192;

/** Spans for one queue's dispatches and runs, on an OpenTelemetry API. */
export class JobTracer {
  #api: TracingApi;

  constructor(api: TracingApi) {
    this.#api = api;
  }

  /**
   * The tracer, asked of the global provider at each span rather than kept: an
   * application (or a test) that registers another provider later is obeyed.
   */
  #tracer(): ReturnType<TracingApi["trace"]["getTracer"]> {
    return this.#api.trace.getTracer("@kiln/core");
  }

  /**
   * Runs one dispatch call's enqueue inside its PRODUCER span: `enqueue`
   * receives the trace context to store with each job (`undefined` when there
   * is none to store, so the record stays as it was).
   */
  send(
    queue: string,
    name: string,
    count: number,
    enqueue: (trace: TraceCarrier | undefined) => Promise<DispatchResult[]>,
  ): Promise<DispatchResult[]> {
    return this.#produce(queue, {
      "kiln.job.name": name,
      ...(count === 1 ? {} : { "messaging.batch.message_count": count }),
    }, async (span, trace) => {
      const results = await enqueue(trace);
      if (count === 1 && results.length === 1) {
        span.setAttribute("messaging.message.id", results[0].id);
        span.setAttribute("kiln.job.created", results[0].created);
      }
      return results;
    });
  }

  /**
   * Runs one chain or batch request inside a PRODUCER span, every job it
   * carries (steps, members, callbacks) holding the span's context, so each
   * runs in the trace of the code that started the chain or batch, whenever
   * the scripts enqueue it.
   */
  sendWorkflow(
    queue: string,
    request: WorkflowRequest,
    send: (request: WorkflowRequest) => Promise<boolean>,
  ): Promise<boolean> {
    if (request.action === "cancel") return send(request);
    return this.#produce(queue, {
      "kiln.workflow.id": request.id,
      "kiln.workflow.action": request.action,
    }, (_span, trace) => {
      if (trace === undefined) return send(request);
      const traced = (job: NewJob | undefined) => job && withTrace(job, trace);
      switch (request.action) {
        case "chain":
          return send({
            ...request,
            steps: request.steps.map(traced) as NewJob[],
            catch: traced(request.catch),
          });
        case "batch":
          return send({
            ...request,
            jobs: request.jobs.map(traced) as NewJob[],
            then: traced(request.then),
            catch: traced(request.catch),
            finally: traced(request.finally),
          });
        default:
          return send({ ...request, jobs: request.jobs.map(traced) as NewJob[] });
      }
    });
  }

  /** Calls `body` inside a PRODUCER span with the context to store, and ends the span. */
  async #produce<T>(
    queue: string,
    attributes: Record<string, unknown>,
    body: (span: TracingSpan, trace: TraceCarrier | undefined) => Promise<T>,
  ): Promise<T> {
    const { context, propagation, trace } = this.#api;
    const parent = context.active();
    const span = this.#tracer().startSpan(`dispatch ${queue}`, {
      kind: PRODUCER,
      attributes: {
        "messaging.system": "kiln",
        "messaging.operation.type": "send",
        "messaging.operation.name": "dispatch",
        "messaging.destination.name": queue,
        ...attributes,
      },
    }, parent);
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(parent, span), carrier);
    try {
      // Stored as the worker will read it: the same few bounded entries, so a large baggage
      // does not ride in every record for nothing.
      return await body(span, traceOf(carrier));
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /**
   * Starts the CONSUMER span of one attempt, continuing the trace stored with
   * the job (a link and the parent), or a new trace when it has none.
   */
  process(job: StoredJob): JobSpan {
    const { context, propagation, trace, ROOT_CONTEXT } = this.#api;
    const carrier = job.trace === undefined ? undefined : traceOf(job.trace);
    const parent = carrier === undefined
      ? ROOT_CONTEXT
      : propagation.extract(ROOT_CONTEXT, carrier);
    const creation = carrier === undefined ? undefined : trace.getSpan(parent)?.spanContext();
    const span = this.#tracer().startSpan(`process ${job.queue}`, {
      kind: CONSUMER,
      attributes: {
        "messaging.system": "kiln",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": job.queue,
        "messaging.message.id": job.id,
        "kiln.job.name": job.name,
        "kiln.job.attempt": job.attempts,
      },
      ...(creation === undefined ? {} : { links: [{ context: creation }] }),
    }, parent);
    const active = trace.setSpan(parent, span);
    return {
      run: (fn) => context.with(active, fn),
      end: (failure) => {
        if (failure !== undefined) failSpan(span, failure.error);
        span.end();
      },
    };
  }
}

/** One attempt's span: run the handler inside it, then end it with the outcome. */
export interface JobSpan {
  /** Calls `fn` with the span active, so the handler's own spans are its children. */
  run<T>(fn: () => T): T;
  /** Ends the span; with a failure, records the error and sets the status to ERROR. */
  end(failure?: { error: unknown }): void;
}

/** Records `error` on `span` as OpenTelemetry's conventions say: an event, `error.type`, ERROR. */
function failSpan(span: TracingSpan, error: unknown): void {
  const name = error instanceof Error ? error.name : typeof error;
  span.recordException(error instanceof Error ? error : String(error));
  span.setAttribute("error.type", name);
  span.setStatus({ code: ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * A stored trace context made safe to hand to a propagator: string entries
 * only, a few, each bounded; `undefined` when none is left (absent, or forged
 * into another shape). A record anyone could have written to Redis must not
 * make a worker throw or hold megabytes; the propagator validates the rest.
 * Backends decode `StoredJob.trace` with it.
 */
export function traceOf(value: unknown): Record<string, string> | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const carrier: Record<string, string> = {};
  let entries = 0;
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== "string" || entry.length > CARRIER_VALUE) continue;
    carrier[key] = entry;
    if (++entries === CARRIER_ENTRIES) break;
  }
  return entries > 0 ? carrier : undefined;
}

const tracers = new WeakMap<object, JobTracer>();

/**
 * Binds a queue to its tracing (called by its constructor): a tracer when
 * `api` is given, nothing otherwise.
 *
 * @throws {TypeError} When `api` is given but is not an OpenTelemetry API.
 */
export function bindTracing(queue: object, api: TracingApi | undefined): void {
  if (api === undefined) return;
  if (!isTracingApi(api)) {
    throw new TypeError(
      'tracing must be the @opentelemetry/api module (import * as otel from "@opentelemetry/api")',
    );
  }
  tracers.set(queue, new JobTracer(api));
}

/** The tracer of a queue created with `tracing`, or `undefined`. */
export function tracerOf(queue: object): JobTracer | undefined {
  return tracers.get(queue);
}

/**
 * Runs a dispatch call's enqueue, inside a PRODUCER span when the queue
 * traces. Without tracing it calls `enqueue` at once: no span, no promise of
 * its own.
 */
export function sendTraced(
  queue: object,
  destination: string,
  name: string,
  count: number,
  enqueue: (trace: TraceCarrier | undefined) => Promise<DispatchResult[]>,
): Promise<DispatchResult[]> {
  const tracer = tracers.get(queue);
  return tracer === undefined ? enqueue(undefined) : tracer.send(destination, name, count, enqueue);
}

/**
 * The backend a queue sends chains and batches through: the backend itself,
 * or, when the queue traces, a view of it whose `workflow()` runs inside a
 * PRODUCER span and stores the span's context in every job of the request.
 */
export function tracedWorkflows(queue: object, backend: QueueBackend): QueueBackend {
  const tracer = tracers.get(queue);
  if (tracer === undefined) return backend;
  return new Proxy(backend, {
    get(target, key) {
      if (key === "workflow") {
        return (name: string, request: WorkflowRequest) =>
          tracer.sendWorkflow(name, request, (sent) => target.workflow(name, sent));
      }
      // Methods run on the backend itself, whose private fields a proxy does not have.
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The job with its trace context, or the job itself when there is none. */
export function withTrace(job: NewJob, trace: TraceCarrier | undefined): NewJob {
  return trace === undefined ? job : { ...job, trace };
}

function isTracingApi(value: unknown): value is TracingApi {
  const api = value as Partial<TracingApi> | null;
  return typeof api?.trace?.getTracer === "function" &&
    typeof api.trace.setSpan === "function" && typeof api.trace.getSpan === "function" &&
    typeof api.context?.with === "function" && typeof api.context.active === "function" &&
    typeof api.propagation?.inject === "function" &&
    typeof api.propagation.extract === "function" && api.ROOT_CONTEXT !== undefined;
}
