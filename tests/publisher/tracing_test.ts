import assert from "node:assert/strict";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { INSTRUMENTATION_SCOPE } from "../../src/publisher/_semconv.ts";
import { type AmqpHeaders, EventTracing, type TracedEvent } from "../../src/publisher/_tracing.ts";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { TestTelemetry } from "../_otel.ts";

/** A fresh event, with its own headers. */
function event(headers: AmqpHeaders = {}): TracedEvent {
  return {
    id: "evt-1",
    type: "user.created",
    priority: "high",
    exchange: "domain-events",
    routingKey: "user.created",
    bytes: 42,
    properties: { correlationId: "signup-7", headers },
  };
}

function traceparentOf(traceId: string, spanId: string): string {
  return `00-${traceId}-${spanId}-01`;
}

const tracingOf = (otel: TestTelemetry) => new EventTracing(otel.tracerProvider, otel.propagator);

Deno.test("startEvent() opens a PRODUCER span '<exchange> publish' with the messaging attributes", async () => {
  await using otel = new TestTelemetry();
  const telemetry = tracingOf(otel);
  const span = telemetry.startEvent(ROOT_CONTEXT, event());
  telemetry.track(1, span);
  telemetry.endEvent(1, { ok: true });
  const [ended] = otel.spans();
  assert.deepEqual(ended.name, "domain-events publish");
  assert.deepEqual(ended.kind, SpanKind.PRODUCER);
  assert.deepEqual(ended.attributes, {
    "messaging.system": "rabbitmq",
    "messaging.operation.name": "publish",
    "messaging.operation.type": "create",
    "messaging.destination.name": "domain-events",
    "messaging.rabbitmq.destination.routing_key": "user.created",
    "messaging.message.id": "evt-1",
    "messaging.message.conversation_id": "signup-7",
    "messaging.message.body.size": 42,
    "rabbitmq_publisher.event.type": "user.created",
    "rabbitmq_publisher.event.priority": "high",
  });
  assert.deepEqual(ended.status.code, SpanStatusCode.UNSET);
  assert.deepEqual(ended.events.map((e) => e.name), ["confirmed"]);
  assert.deepEqual(ended.instrumentationScope.name, INSTRUMENTATION_SCOPE);
  assert.deepEqual(telemetry.openSpans, 0);
});

Deno.test("startEvent() is a child of the caller's context and writes its own context into the headers", async () => {
  await using otel = new TestTelemetry();
  const telemetry = tracingOf(otel);
  const caller = otel.tracerProvider.getTracer("app").startSpan("handle request");
  const headers: AmqpHeaders = { "event-version": "1.0" };
  const span = telemetry.startEvent(trace.setSpan(ROOT_CONTEXT, caller), event(headers));
  const { traceId, spanId } = span.spanContext();
  assert.deepEqual(traceId, caller.spanContext().traceId);
  assert.deepEqual(headers.traceparent, traceparentOf(traceId, spanId));
  assert.deepEqual(headers["event-version"], "1.0");
  span.end();
  caller.end();
  const [ended] = otel.spans();
  assert.deepEqual(ended.parentSpanContext?.spanId, caller.spanContext().spanId);
});

Deno.test("startEvent() carries the caller's tracestate into the headers", async () => {
  await using otel = new TestTelemetry();
  const telemetry = tracingOf(otel);
  const remote = otel.propagator.extract(ROOT_CONTEXT, {
    traceparent: traceparentOf("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
    tracestate: "vendor=opaque",
  }, { get: (c, k) => c[k as keyof typeof c], keys: (c) => Object.keys(c) });
  const headers: AmqpHeaders = {};
  const span = telemetry.startEvent(remote, event(headers));
  assert.match(
    String(headers.traceparent),
    /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/,
  );
  assert.deepEqual(headers.tracestate, "vendor=opaque");
  span.end();
});

Deno.test("endEvent() of a dead letter sets an error status with the reason", async () => {
  await using otel = new TestTelemetry();
  const telemetry = tracingOf(otel);
  telemetry.track(7, telemetry.startEvent(ROOT_CONTEXT, event()));
  telemetry.endEvent(7, {
    ok: false,
    reason: "unroutable",
    error: { name: "TransportError", message: "no queue bound (NO_ROUTE)" },
  });
  // A second outcome for the same event ends nothing more.
  telemetry.endEvent(7, { ok: true });
  const spans = otel.spans();
  assert.deepEqual(spans.length, 1);
  assert.deepEqual(spans[0].status, {
    code: SpanStatusCode.ERROR,
    message: "unroutable: no queue bound (NO_ROUTE)",
  });
  assert.deepEqual(spans[0].attributes["error.type"], "unroutable");
  assert.deepEqual(spans[0].attributes["rabbitmq_publisher.dead_letter.reason"], "unroutable");
  assert.deepEqual(spans[0].events.map((e) => e.name), ["dead-lettered"]);
});

Deno.test("startSend() opens a root span linked to each event's span, live or stored in headers", async () => {
  await using otel = new TestTelemetry();
  const telemetry = tracingOf(otel);
  const liveHeaders: AmqpHeaders = {};
  const live = telemetry.startEvent(ROOT_CONTEXT, event(liveHeaders));
  telemetry.track(1, live);
  // An event stored by an earlier run: only its headers know its trace.
  const stored = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" };
  const storedHeaders: AmqpHeaders = { traceparent: traceparentOf(stored.traceId, stored.spanId) };
  const send = telemetry.startSend("domain-events", [
    { seq: 1, properties: { headers: liveHeaders } },
    { seq: 2, properties: { headers: storedHeaders } },
    { seq: 3, properties: { headers: {} } },
  ], { address: "rabbit", port: 5672 });
  telemetry.endSend(send, 1, "timeout");
  const [ended] = otel.spans();
  assert.deepEqual(ended.name, "domain-events send");
  assert.deepEqual(ended.kind, SpanKind.PRODUCER);
  assert.deepEqual(ended.parentSpanContext, undefined);
  assert.deepEqual(
    ended.links.map((l) => [l.context.traceId, l.context.spanId]),
    [[live.spanContext().traceId, live.spanContext().spanId], [stored.traceId, stored.spanId]],
  );
  assert.deepEqual(ended.attributes["messaging.batch.message_count"], 3);
  assert.deepEqual(ended.attributes["server.address"], "rabbit");
  assert.deepEqual(ended.attributes["server.port"], 5672);
  assert.deepEqual(ended.attributes["error.type"], "timeout");
  assert.deepEqual(ended.status.code, SpanStatusCode.ERROR);
  live.end();
});

Deno.test("resume() continues the trace of an event stored by an earlier run", async () => {
  await using otel = new TestTelemetry();
  const telemetry = tracingOf(otel);
  const stored = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" };
  telemetry.resume(5, event({ traceparent: traceparentOf(stored.traceId, stored.spanId) }));
  telemetry.resume(6, event()); // no trace context: nothing to continue
  assert.deepEqual(telemetry.openSpans, 1);
  telemetry.endEvent(5, { ok: true });
  const [ended] = otel.spans();
  assert.deepEqual(ended.spanContext().traceId, stored.traceId);
  assert.deepEqual(ended.parentSpanContext?.spanId, stored.spanId);
  assert.deepEqual(ended.attributes["rabbitmq_publisher.resumed"], true);
});

Deno.test("endAll() ends the open spans, as errors when the events are lost", async () => {
  await using otel = new TestTelemetry();
  const telemetry = tracingOf(otel);
  telemetry.track(1, telemetry.startEvent(ROOT_CONTEXT, event()));
  telemetry.endAll(false);
  telemetry.track(2, telemetry.startEvent(ROOT_CONTEXT, event()));
  telemetry.endAll(true);
  const [lost, kept] = otel.spans();
  assert.deepEqual(lost.status.code, SpanStatusCode.ERROR);
  assert.deepEqual(lost.events.map((e) => e.name), ["pending at close: lost"]);
  assert.deepEqual(kept.status.code, SpanStatusCode.UNSET);
  assert.deepEqual(kept.events.map((e) => e.name), ["pending at close: kept on disk"]);
  assert.deepEqual(telemetry.openSpans, 0);
});

Deno.test("without an SDK, tracing keeps no span and writes no header", () => {
  // The global providers and propagator are the API's no-ops in this test run.
  const tracing = new EventTracing();
  const traced = event();
  const span = tracing.startEvent(ROOT_CONTEXT, traced);
  tracing.track(1, span);
  assert.deepEqual(span.isRecording(), false);
  assert.deepEqual(traced.properties.headers, {});
  assert.deepEqual(tracing.openSpans, 0);
  const send = tracing.startSend("x", [{ seq: 1, properties: traced.properties }]);
  assert.deepEqual(send.isRecording(), false);
  tracing.endSend(send, 0);
});

Deno.test("without an SDK, a caller's remote trace is still carried into the headers", () => {
  const tracing = new EventTracing(undefined, new W3CTraceContextPropagator());
  const remote = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
    traceFlags: 1,
    isRemote: true,
  });
  const traced = event();
  // No span records, so none is handed back to keep; the header is written all the same.
  assert.deepEqual(tracing.startEvents(remote, [traced]), undefined);
  assert.deepEqual(
    traced.properties.headers.traceparent,
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  );
});

Deno.test("an SDK registered after the tracing was made gets the spans from then on", async () => {
  // The API's global provider, with no SDK behind it yet.
  const tracing = new EventTracing();
  assert.deepEqual(tracing.startEvents(ROOT_CONTEXT, [event()]), undefined);
  assert.deepEqual(tracing.startSend("x", []).isRecording(), false);
  await using otel = new TestTelemetry().register();
  const traced = event();
  const spans = tracing.startEvents(ROOT_CONTEXT, [traced]);
  assert.deepEqual(spans?.map((span) => span.isRecording()), [true]);
  assert.match(String(traced.properties.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  tracing.track(1, spans![0]);
  const send = tracing.startSend("x", [{ seq: 1, properties: traced.properties }]);
  assert.deepEqual(send.isRecording(), true);
  tracing.endSend(send, 0);
  tracing.endEvent(1, { ok: true });
  assert.deepEqual(otel.spans().map((span) => span.name), ["x send", "domain-events publish"]);
});

Deno.test("startEvents() hands back a span per event with an SDK, and none without", async () => {
  assert.deepEqual(new EventTracing().startEvents(ROOT_CONTEXT, [event(), event()]), undefined);
  await using otel = new TestTelemetry();
  const tracing = tracingOf(otel);
  const events = [event(), event()];
  const spans = tracing.startEvents(ROOT_CONTEXT, events);
  assert.deepEqual(spans?.map((span) => span.isRecording()), [true, true]);
  assert.deepEqual(events.map((e) => typeof e.properties.headers.traceparent), [
    "string",
    "string",
  ]);
  for (const span of spans!) span.end();
});

Deno.test("attemptFailed() notes each failed attempt on the event's span", async () => {
  await using otel = new TestTelemetry();
  const tracing = tracingOf(otel);
  tracing.track(1, tracing.startEvent(ROOT_CONTEXT, event()));
  tracing.attemptFailed(1, { kind: "timeout", message: "no publisher confirm within 30000 ms" });
  tracing.attemptFailed(2, {
    kind: "timeout",
    message: "an event without a span: nothing to note",
  });
  tracing.endEvent(1, { ok: true });
  const [span] = otel.spans();
  assert.deepEqual(span.events.map((e) => [e.name, e.attributes]), [
    ["send failed", {
      "error.type": "timeout",
      "exception.message": "no publisher confirm within 30000 ms",
    }],
    ["confirmed", undefined],
  ]);
});

Deno.test("abandon() ends the spans of events the store refused, with the error", async () => {
  await using otel = new TestTelemetry();
  const tracing = tracingOf(otel);
  const spans = [
    tracing.startEvent(ROOT_CONTEXT, event()),
    tracing.startEvent(ROOT_CONTEXT, event()),
  ];
  const refusal = new RangeError("event buffer is full: 10/10 events");
  tracing.abandon(spans, refusal);
  const ended = otel.spans();
  assert.deepEqual(ended.length, 2);
  for (const span of ended) {
    assert.deepEqual(span.status, { code: SpanStatusCode.ERROR, message: refusal.message });
    assert.deepEqual(span.attributes["error.type"], "RangeError");
    assert.deepEqual(span.events.map((e) => e.name), ["exception"]);
  }
});

Deno.test("past the open-span limit an event's span ends at once and is continued when it is sent", async () => {
  await using otel = new TestTelemetry();
  const tracing = new EventTracing(otel.tracerProvider, otel.propagator, 2);
  const events = [event({}), event({}), event({})];
  events.forEach((e, i) => tracing.track(i + 1, tracing.startEvent(ROOT_CONTEXT, e)));
  assert.deepEqual(tracing.openSpans, 2);
  const [early] = otel.spans();
  assert.deepEqual(early.events.map((e) => e.name), ["pending: continued when sent"]);
  // Sent later: its trace goes on from the span that ended early.
  tracing.resume(3, events[2]);
  tracing.endEvent(3, { ok: true });
  const continued = otel.spans()[1];
  assert.deepEqual(continued.parentSpanContext?.spanId, early.spanContext().spanId);
  assert.deepEqual(continued.attributes["rabbitmq_publisher.resumed"], true);
  // The two kept spans are not resumed again.
  tracing.resume(1, events[0]);
  assert.deepEqual(tracing.openSpans, 2);
});
