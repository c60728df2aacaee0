import assert from "node:assert/strict";
import * as otel from "@opentelemetry/api";
import * as v from "valibot";
import { defineJob, MemoryBackend, Queue, RedisBackend } from "../../src/queue/mod.ts";
import type { QueueBackend } from "../../src/queue/backend.ts";
import { Keyspace } from "../../src/redis/keys.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { FakeClock, quietWorker } from "./_helpers.ts";
import { UpstashRedis } from "../../src/redis/mod.ts";
import { registerOtel, spanRecord } from "./_otel.ts";

const { SpanKind, SpanStatusCode } = otel;

/** A job whose handler opens a span of its own and fails while `payload.fail` says so. */
function tracedJob(options: { maxRetries?: number } = {}) {
  const runs: string[] = [];
  const job = defineJob({
    name: "send-invoice",
    queue: "mail",
    schema: v.object({ fail: v.number() }),
    maxRetries: options.maxRetries ?? 0,
    backoff: { type: "fixed", delay: 0 },
    handle(payload, ctx) {
      const inner = otel.trace.getTracer("app").startSpan("render-pdf");
      inner.end();
      runs.push(ctx.jobId);
      if (ctx.attempt <= payload.fail) throw new TypeError(`attempt ${ctx.attempt} refused`);
    },
  });
  return { job, runs };
}

type QueueMaker = () => Promise<{ queue: Queue; backend: QueueBackend } & AsyncDisposable>;

const memory: QueueMaker = () => {
  const backend = new MemoryBackend();
  return Promise.resolve({
    backend,
    queue: new Queue({ backend, tracing: otel }),
    async [Symbol.asyncDispose]() {},
  });
};

const redis: QueueMaker = async () => {
  const stack = await startRedisStack();
  const backend = new RedisBackend({ redis: stack.redis, prefix: "traces" });
  return {
    backend,
    queue: new Queue({ backend, tracing: otel }),
    [Symbol.asyncDispose]: () => stack[Symbol.asyncDispose](),
  };
};

for (const [backendName, make] of [["MemoryBackend", memory], ["RedisBackend", redis]] as const) {
  Deno.test(`${backendName}: the worker's CONSUMER span continues the trace of dispatch()'s PRODUCER span, and the handler's spans are its children`, async () => {
    using sdk = registerOtel();
    await using made = await make();
    const { job } = tracedJob();
    const request = otel.trace.getTracer("app").startSpan("POST /invoices");
    const { id } = await otel.context.with(
      otel.trace.setSpan(otel.context.active(), request),
      () => made.queue.dispatch(job, { fail: 0 }),
    );
    request.end();
    const stored = await made.queue.job(id, "mail");
    assert.match(stored?.trace?.traceparent ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.equal(
      (await quietWorker(made.queue, { jobs: [job], queues: ["mail"] }).drain()).completed,
      1,
    );

    const [send] = sdk.named("dispatch mail").map(spanRecord);
    const [process] = sdk.named("process mail").map(spanRecord);
    const [inner] = sdk.named("render-pdf").map(spanRecord);
    const outer = spanRecord(sdk.named("POST /invoices")[0]);
    assert.equal(send.kind, SpanKind.PRODUCER);
    assert.equal(send.parentSpanId, outer.spanId, "dispatch's span is the request's child");
    assert.equal(send.traceId, outer.traceId);
    assert.deepEqual(send.attributes, {
      "messaging.system": "kiln",
      "messaging.operation.type": "send",
      "messaging.operation.name": "dispatch",
      "messaging.destination.name": "mail",
      "messaging.message.id": id,
      "kiln.job.name": "send-invoice",
      "kiln.job.created": true,
    });
    assert.equal(stored?.trace?.traceparent, `00-${send.traceId}-${send.spanId}-01`);
    assert.equal(process.kind, SpanKind.CONSUMER);
    assert.equal(process.traceId, send.traceId, "one trace across dispatch and run");
    assert.equal(process.parentSpanId, send.spanId);
    assert.deepEqual(process.links, [send.spanId], "and linked to the creation context");
    assert.deepEqual(process.attributes, {
      "messaging.system": "kiln",
      "messaging.operation.type": "process",
      "messaging.operation.name": "process",
      "messaging.destination.name": "mail",
      "messaging.message.id": id,
      "kiln.job.name": "send-invoice",
      "kiln.job.attempt": 1,
    });
    assert.equal(process.status.code, SpanStatusCode.UNSET);
    assert.equal(inner.parentSpanId, process.spanId, "the handler runs inside the job's span");
    assert.equal(inner.traceId, send.traceId);
  });

  Deno.test(`${backendName}: a failed attempt's span records the error and ERROR; the retry is a new span of the same trace`, async () => {
    using sdk = registerOtel();
    await using made = await make();
    const { job } = tracedJob({ maxRetries: 1 });
    const { id } = await made.queue.dispatch(job, { fail: 1 });
    const summary = await quietWorker(made.queue, { jobs: [job], queues: ["mail"] }).drain();
    assert.equal(summary.completed, 1);

    const [send] = sdk.named("dispatch mail").map(spanRecord);
    const attempts = sdk.named("process mail").map(spanRecord);
    assert.equal(send.parentSpanId, undefined, "no active span: the dispatch starts the trace");
    assert.deepEqual(attempts.map((span) => span.attributes["kiln.job.attempt"]), [1, 2]);
    assert.ok(attempts.every((span) => span.traceId === send.traceId));
    assert.ok(attempts.every((span) => span.parentSpanId === send.spanId));
    assert.ok(attempts.every((span) => span.attributes["messaging.message.id"] === id));
    const [failed, retried] = attempts;
    assert.deepEqual(failed.status, { code: SpanStatusCode.ERROR, message: "attempt 1 refused" });
    assert.equal(failed.attributes["error.type"], "TypeError");
    assert.equal(failed.events.length, 1);
    assert.equal(failed.events[0].name, "exception");
    assert.equal(failed.events[0].attributes["exception.type"], "TypeError");
    assert.equal(failed.events[0].attributes["exception.message"], "attempt 1 refused");
    assert.equal(retried.status.code, SpanStatusCode.UNSET);
    assert.deepEqual(retried.events, []);
  });

  Deno.test(`${backendName}: dispatchMany() makes one PRODUCER span, the creation context of every job it enqueues`, async () => {
    using sdk = registerOtel();
    await using made = await make();
    const { job } = tracedJob();
    const results = await made.queue.dispatchMany(job, [{ fail: 0 }, { fail: 0 }, { fail: 0 }]);
    await quietWorker(made.queue, { jobs: [job], queues: ["mail"] }).drain();

    const sends = sdk.named("dispatch mail").map(spanRecord);
    assert.equal(sends.length, 1);
    assert.equal(sends[0].attributes["messaging.batch.message_count"], 3);
    assert.equal(sends[0].attributes["messaging.message.id"], undefined);
    const processed = sdk.named("process mail").map(spanRecord);
    assert.deepEqual(
      processed.map((span) => span.attributes["messaging.message.id"]).sort(),
      results.map((result) => result.id).sort(),
    );
    assert.ok(processed.every((span) => span.parentSpanId === sends[0].spanId));
  });

  Deno.test(`${backendName}: every step of a chain and every job of a batch, callbacks included, runs in the trace of the call that started it`, async () => {
    using sdk = registerOtel();
    await using made = await make();
    const { job } = tracedJob();
    const chain = await made.queue.chain([[job, { fail: 0 }], [job, { fail: 0 }]]);
    const batch = await made.queue.batch([[job, { fail: 0 }], [job, { fail: 0 }]], {
      then: [job, { fail: 0 }],
    });
    const summary = await quietWorker(made.queue, { jobs: [job], queues: ["mail"] }).drain();
    assert.equal(summary.completed, 5);

    const sends = sdk.named("dispatch mail").map(spanRecord);
    const sendOf = (action: string) =>
      sends.find((span) => span.attributes["kiln.workflow.action"] === action)!;
    assert.equal(sendOf("chain").attributes["kiln.workflow.id"], chain.id);
    assert.equal(sendOf("batch").attributes["kiln.workflow.id"], batch.id);
    const processed = sdk.named("process mail").map(spanRecord);
    assert.equal(processed.length, 5);
    const parents = new Map(processed.map((span) => [
      span.attributes["messaging.message.id"],
      span.parentSpanId,
    ]));
    for (const id of chain.jobIds) assert.equal(parents.get(id), sendOf("chain").spanId);
    for (const id of batch.jobIds) assert.equal(parents.get(id), sendOf("batch").spanId);
    const callback = processed.find((span) =>
      ![...chain.jobIds, ...batch.jobIds].includes(String(span.attributes["messaging.message.id"]))
    )!;
    assert.equal(callback.parentSpanId, sendOf("batch").spanId, "the batch's then callback too");
  });

  Deno.test(`${backendName}: a debounced job runs in the trace of the dispatch whose payload it runs, the last`, async () => {
    using sdk = registerOtel();
    await using made = await make();
    const { job } = tracedJob();
    for (let i = 0; i < 3; i++) {
      await made.queue.dispatch(job, { fail: 0 }, {
        debounce: { key: "invoice-7", delay: 60_000 },
      });
    }
    const sends = sdk.named("dispatch mail").map(spanRecord);
    assert.deepEqual(sends.map((span) => span.attributes["kiln.job.created"]), [
      true,
      false,
      false,
    ]);
    const [id] = new Set(sends.map((span) => span.attributes["messaging.message.id"]));
    assert.equal(
      (await made.queue.job(String(id), "mail"))?.trace?.traceparent,
      `00-${sends[2].traceId}-${sends[2].spanId}-01`,
    );
  });

  Deno.test(`${backendName}: a failed enqueue ends the PRODUCER span with the error`, async () => {
    using sdk = registerOtel();
    await using made = await make();
    const { job } = tracedJob();
    const broken = new Queue({
      backend: Object.assign(Object.create(made.backend), {
        enqueue: () => Promise.reject(new RangeError("store refused")),
      }),
      tracing: otel,
    });
    await assert.rejects(broken.dispatch(job, { fail: 0 }), /store refused/);
    const [send] = sdk.named("dispatch mail").map(spanRecord);
    assert.deepEqual(send.status, { code: SpanStatusCode.ERROR, message: "store refused" });
    assert.equal(send.attributes["error.type"], "RangeError");
  });
}

Deno.test("without the tracing option no span is made and nothing stored, with an SDK registered", async () => {
  using sdk = registerOtel();
  const queue = new Queue({ backend: new MemoryBackend() });
  const { job } = tracedJob();
  const { id } = await queue.dispatch(job, { fail: 0 });
  assert.equal((await queue.job(id))?.trace, undefined);
  await quietWorker(queue, { jobs: [job], queues: ["mail"] }).drain();
  assert.deepEqual(sdk.spans().map((span) => span.name), ["render-pdf"]);
});

Deno.test("what a propagator writes is stored within the bounds a worker reads: 8 string entries of at most 8 KiB", async () => {
  using _sdk = registerOtel();
  otel.propagation.disable();
  otel.propagation.setGlobalPropagator({
    inject(_context, carrier: Record<string, string>) {
      carrier["huge"] = "x".repeat(9_000);
      for (let i = 0; i < 20; i++) carrier[`k${i}`] = `v${i}`;
    },
    extract: (context) => context,
    fields: () => [],
  });
  const queue = new Queue({ backend: new MemoryBackend(), tracing: otel });
  const { job } = tracedJob();
  const { id } = await queue.dispatch(job, { fail: 0 });
  const stored = (await queue.job(id))?.trace ?? {};
  assert.deepEqual(Object.keys(stored), ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"]);
});

Deno.test("Queue refuses a tracing option that is not the @opentelemetry/api module", () => {
  for (const tracing of [{}, true, false, "otel", { trace: otel.trace }]) {
    assert.throws(
      () => new Queue({ backend: new MemoryBackend(), tracing: tracing as never }),
      (error) => error instanceof TypeError && /tracing must be/.test(error.message),
    );
  }
});

Deno.test("RedisBackend: without a registered SDK nothing is stored: the record is byte for byte the untraced one", async () => {
  await using stack = await startRedisStack();
  const records: string[] = [];
  for (const tracing of [otel, undefined]) {
    const prefix = `bare-${tracing !== undefined}`;
    const queue = new Queue({
      backend: new RedisBackend({ redis: stack.redis, prefix }),
      tracing,
      clock: new FakeClock(),
    });
    const { job } = tracedJob();
    await queue.dispatch(job, { fail: 0 }, { jobId: "same" });
    // Read as Redis keeps it (the client would parse it), the dispatch token left out.
    const [reply] = await new UpstashRedis({ url: stack.gatewayUrl, token: stack.token })
      .pipeline([["HGET", new Keyspace("mail", prefix).key("jobs"), "same"]]);
    assert.ok(reply.ok);
    records.push(String(reply.reply).replace(/"d":"[^"]+"/, ""));
  }
  assert.ok(!records[0].includes("tc"));
  assert.equal(records[0], records[1]);
});

Deno.test("RedisBackend: a forged or oversized trace context in a record is ignored: the job runs, in a new trace", async () => {
  using sdk = registerOtel();
  await using stack = await startRedisStack();
  const backend = new RedisBackend({ redis: stack.redis, prefix: "forged" });
  const queue = new Queue({ backend, tracing: otel });
  const { job } = tracedJob();
  const jobs = new Keyspace("mail", "forged").key("jobs");
  const forgeries = [
    `"tc":[1,2,3]`,
    `"tc":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"`,
    `"tc":{"traceparent":42}`,
    `"tc":{"traceparent":"not a traceparent"}`,
    `"tc":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-${"b".repeat(9_000)}-01"}`,
    `"tc":null`,
  ];
  for (const [index, forged] of forgeries.entries()) {
    const { id } = await queue.dispatch(job, { fail: 0 }, { jobId: `forged-${index}` });
    const record = (await stack.redis.hget<Record<string, unknown>>(jobs, id))!;
    const text = JSON.stringify(record).replace(/"tc":\{[^}]*\}/, forged);
    assert.notEqual(text, JSON.stringify(record));
    await stack.redis.hset(jobs, { [id]: text });
  }
  const summary = await quietWorker(queue, { jobs: [job], queues: ["mail"] }).drain();
  assert.equal(summary.completed, forgeries.length);
  const processed = sdk.named("process mail").map(spanRecord);
  const sends = new Set(sdk.named("dispatch mail").map((span) => span.spanContext().traceId));
  assert.equal(processed.length, forgeries.length);
  for (const span of processed) {
    assert.equal(span.parentSpanId, undefined, "a root span");
    assert.deepEqual(span.links, []);
    assert.ok(!sends.has(span.traceId));
  }
});
