import assert from "node:assert/strict";
import * as otel from "@opentelemetry/api";
import * as v from "valibot";
import { defineJob, Queue, RedisBackend } from "../../src/queue/mod.ts";
import { startRedisStack } from "../support/redis_stack.ts";
import { registerOtel, type SpanRecord, spanRecord } from "./_otel.ts";

const WORKER = new URL("./_traced_worker.ts", import.meta.url).pathname;

Deno.test("traces join across processes: a job dispatched here runs in a worker process inside a span of the same trace, its failure recorded", async () => {
  using sdk = registerOtel();
  await using stack = await startRedisStack();
  const queue = new Queue({
    backend: new RedisBackend({ redis: stack.redis, prefix: "xproc" }),
    tracing: otel,
  });
  // The same definition as the worker's; this process only dispatches.
  const job = defineJob({
    name: "send-invoice",
    queue: "mail",
    schema: v.object({ fail: v.boolean() }),
    maxRetries: 0,
    handle() {},
  });
  const request = otel.trace.getTracer("app").startSpan("POST /invoices");
  const [ok, bad] = await otel.context.with(
    otel.trace.setSpan(otel.context.active(), request),
    () => Promise.all([queue.dispatch(job, { fail: false }), queue.dispatch(job, { fail: true })]),
  );
  request.end();

  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WORKER, stack.gatewayUrl, stack.token, "xproc"],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(output.success);
  const remote: SpanRecord[] = JSON.parse(new TextDecoder().decode(output.stdout));

  const outer = spanRecord(sdk.named("POST /invoices")[0]);
  const sends = sdk.named("dispatch mail").map(spanRecord);
  const sendOf = (id: string) =>
    sends.find((span) => span.attributes["messaging.message.id"] === id)!;
  const processOf = (id: string) =>
    remote.find((span) =>
      span.name === "process mail" && span.attributes["messaging.message.id"] === id
    )!;
  for (const id of [ok.id, bad.id]) {
    const send = sendOf(id);
    const process = processOf(id);
    assert.equal(send.parentSpanId, outer.spanId);
    assert.equal(
      process.traceId,
      outer.traceId,
      "the worker process continues the request's trace",
    );
    assert.equal(process.parentSpanId, send.spanId);
    assert.deepEqual(process.links, [send.spanId]);
    assert.equal(process.kind, otel.SpanKind.CONSUMER);
    assert.equal(process.attributes["messaging.system"], "kiln");
    assert.equal(process.attributes["messaging.destination.name"], "mail");
    assert.equal(process.attributes["kiln.job.name"], "send-invoice");
    assert.equal(process.attributes["kiln.job.attempt"], 1);
    const inner = remote.filter((span) =>
      span.name === "render-pdf" && span.parentSpanId === process.spanId
    );
    assert.equal(inner.length, 1, "the handler's own span is a child of the job's");
  }
  assert.equal(processOf(ok.id).status.code, otel.SpanStatusCode.UNSET);
  const failed = processOf(bad.id);
  assert.deepEqual(failed.status, { code: otel.SpanStatusCode.ERROR, message: "printer on fire" });
  assert.equal(failed.attributes["error.type"], "TypeError");
  assert.deepEqual(failed.events.map((event) => event.attributes["exception.message"]), [
    "printer on fire",
  ]);
  assert.equal((await queue.counts("mail")).failed, 1);
});
