import assert from "node:assert/strict";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  type AmqpHeaders,
  type EventFacts,
  INSTRUMENTATION_SCOPE,
  INSTRUMENTATION_VERSION,
  INSTRUMENTS,
  PublisherTelemetry,
} from "../../src/publisher/_telemetry.ts";
import { TestTelemetry, total } from "../_otel.ts";

const EVENT: EventFacts = {
  id: "evt-1",
  type: "user.created",
  priority: "high",
  exchange: "domain-events",
  routingKey: "user.created",
  bytes: 42,
  correlationId: "signup-7",
};

function traceparentOf(traceId: string, spanId: string): string {
  return `00-${traceId}-${spanId}-01`;
}

Deno.test("startEvent() opens a PRODUCER span '<exchange> publish' with the messaging attributes", async () => {
  await using otel = new TestTelemetry();
  const telemetry = new PublisherTelemetry(otel.options);
  const span = telemetry.startEvent(ROOT_CONTEXT, EVENT, {});
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
  const telemetry = new PublisherTelemetry(otel.options);
  const caller = otel.tracerProvider.getTracer("app").startSpan("handle request");
  const headers: AmqpHeaders = { "event-version": "1.0" };
  const span = telemetry.startEvent(trace.setSpan(ROOT_CONTEXT, caller), EVENT, headers);
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
  const telemetry = new PublisherTelemetry(otel.options);
  const remote = otel.propagator.extract(ROOT_CONTEXT, {
    traceparent: traceparentOf("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
    tracestate: "vendor=opaque",
  }, { get: (c, k) => c[k as keyof typeof c], keys: (c) => Object.keys(c) });
  const headers: AmqpHeaders = {};
  const span = telemetry.startEvent(remote, EVENT, headers);
  assert.match(
    String(headers.traceparent),
    /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/,
  );
  assert.deepEqual(headers.tracestate, "vendor=opaque");
  span.end();
});

Deno.test("endEvent() of a dead letter sets an error status with the reason", async () => {
  await using otel = new TestTelemetry();
  const telemetry = new PublisherTelemetry(otel.options);
  telemetry.track(7, telemetry.startEvent(ROOT_CONTEXT, EVENT, {}));
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
  const telemetry = new PublisherTelemetry(otel.options);
  const liveHeaders: AmqpHeaders = {};
  const live = telemetry.startEvent(ROOT_CONTEXT, EVENT, liveHeaders);
  telemetry.track(1, live);
  // An event stored by an earlier run: only its headers know its trace.
  const stored = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" };
  const storedHeaders: AmqpHeaders = { traceparent: traceparentOf(stored.traceId, stored.spanId) };
  const send = telemetry.startSend("domain-events", [
    { seq: 1, headers: liveHeaders },
    { seq: 2, headers: storedHeaders },
    { seq: 3, headers: {} },
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
  const telemetry = new PublisherTelemetry(otel.options);
  const stored = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" };
  telemetry.resume(5, EVENT, { traceparent: traceparentOf(stored.traceId, stored.spanId) });
  telemetry.resume(6, EVENT, {}); // no trace context: nothing to continue
  assert.deepEqual(telemetry.openSpans, 1);
  telemetry.endEvent(5, { ok: true });
  const [ended] = otel.spans();
  assert.deepEqual(ended.spanContext().traceId, stored.traceId);
  assert.deepEqual(ended.parentSpanContext?.spanId, stored.spanId);
  assert.deepEqual(ended.attributes["rabbitmq_publisher.resumed"], true);
});

Deno.test("endAll() ends the open spans, as errors when the events are lost", async () => {
  await using otel = new TestTelemetry();
  const telemetry = new PublisherTelemetry(otel.options);
  telemetry.track(1, telemetry.startEvent(ROOT_CONTEXT, EVENT, {}));
  telemetry.endAll(false);
  telemetry.track(2, telemetry.startEvent(ROOT_CONTEXT, EVENT, {}));
  telemetry.endAll(true);
  const [lost, kept] = otel.spans();
  assert.deepEqual(lost.status.code, SpanStatusCode.ERROR);
  assert.deepEqual(lost.events.map((e) => e.name), ["pending at close: lost"]);
  assert.deepEqual(kept.status.code, SpanStatusCode.UNSET);
  assert.deepEqual(kept.events.map((e) => e.name), ["pending at close: kept on disk"]);
  assert.deepEqual(telemetry.openSpans, 0);
});

Deno.test("without an SDK, telemetry keeps no span and writes no header", () => {
  // The global providers and propagator are the API's no-ops in this test run.
  const telemetry = new PublisherTelemetry();
  const headers: AmqpHeaders = {};
  const span = telemetry.startEvent(ROOT_CONTEXT, EVENT, headers);
  telemetry.track(1, span);
  assert.deepEqual(span.isRecording(), false);
  assert.deepEqual(headers, {});
  assert.deepEqual(telemetry.openSpans, 0);
  telemetry.recordSend("x", { confirmed: 1, failed: new Map(), durationMs: 1 });
  telemetry.observe(() => {
    throw new Error("a no-op meter never reads the gauges");
  })();
});

Deno.test("recordSend() counts messaging.client.sent.messages by outcome, with batch size and duration", async () => {
  await using otel = new TestTelemetry();
  const telemetry = new PublisherTelemetry(otel.options);
  telemetry.recordSend("domain-events", {
    confirmed: 8,
    failed: new Map([["timeout", 2], ["connection-lost", 1]]),
    durationMs: 250,
    server: { address: "rabbit", port: 5672 },
  });
  telemetry.recordSend("domain-events", { confirmed: 4, failed: new Map(), durationMs: 50 });
  const points = await otel.points();
  const sent = "messaging.client.sent.messages";
  assert.deepEqual(total(points, sent), 15);
  assert.deepEqual(total(points, sent, { "error.type": undefined }), 12);
  assert.deepEqual(total(points, sent, { "error.type": "timeout" }), 2);
  assert.deepEqual(total(points, sent, { "error.type": "connection-lost" }), 1);
  const confirmed = points.find((p) => p.name === sent && p.attributes["server.address"]);
  assert.deepEqual(confirmed?.attributes, {
    "messaging.system": "rabbitmq",
    "messaging.operation.name": "send",
    "messaging.destination.name": "domain-events",
    "server.address": "rabbit",
    "server.port": 5672,
  });
  assert.deepEqual(confirmed?.unit, "{message}");
  const sizes = points.filter((p) => p.name === "rabbitmq_publisher.batch.size");
  assert.deepEqual(sizes.reduce((n, p) => n + (p.count ?? 0), 0), 2);
  assert.deepEqual(total(points, "rabbitmq_publisher.batch.size"), 15);
  const durations = points.filter((p) => p.name === "messaging.client.operation.duration");
  assert.deepEqual(durations.map((p) => p.unit), ["s", "s"]);
  assert.deepEqual(
    total(points, "messaging.client.operation.duration", { "error.type": "timeout" }),
    0.25,
  );
});

Deno.test("the event counters and the confirm latency histogram record what they are given", async () => {
  await using otel = new TestTelemetry();
  const telemetry = new PublisherTelemetry(otel.options);
  telemetry.recordRetried(3);
  telemetry.recordDeadLettered("unroutable", 2);
  telemetry.recordDeadLettered("expired", 1);
  telemetry.recordDeduplicated(4);
  telemetry.recordEvicted(5);
  telemetry.recordConfirmed("high", 1_500);
  telemetry.recordConfirmed("low", 500);
  const points = await otel.points();
  assert.deepEqual(total(points, "rabbitmq_publisher.events.retried"), 3);
  assert.deepEqual(
    total(points, "rabbitmq_publisher.events.dead_lettered", {
      "rabbitmq_publisher.dead_letter.reason": "unroutable",
    }),
    2,
  );
  assert.deepEqual(total(points, "rabbitmq_publisher.events.dead_lettered"), 3);
  assert.deepEqual(total(points, "rabbitmq_publisher.events.deduplicated"), 4);
  assert.deepEqual(total(points, "rabbitmq_publisher.events.evicted"), 5);
  assert.deepEqual(
    total(points, "rabbitmq_publisher.event.confirm.duration", {
      "rabbitmq_publisher.event.priority": "high",
    }),
    1.5,
  );
  assert.deepEqual(total(points, "rabbitmq_publisher.event.confirm.duration"), 2);
});

Deno.test("observe() reports the gauges from one reading per collection, until unregistered", async () => {
  await using otel = new TestTelemetry();
  const telemetry = new PublisherTelemetry(otel.options);
  let reads = 0;
  const unregister = telemetry.observe(() => {
    reads++;
    return {
      byPriority: { high: 1, normal: 5, low: 2 },
      bytes: 800,
      inFlight: 3,
      utilizationPercent: 8,
      oldestEventAgeMs: 2_500,
      localDeadLetters: 4,
      circuitState: "half_open",
      connectionState: "connected",
    };
  });
  const points = await otel.points();
  assert.deepEqual(reads, 1);
  const priority = "rabbitmq_publisher.event.priority";
  assert.deepEqual(total(points, "rabbitmq_publisher.buffer.events", { [priority]: "normal" }), 5);
  assert.deepEqual(total(points, "rabbitmq_publisher.buffer.events"), 8);
  assert.deepEqual(total(points, "rabbitmq_publisher.buffer.bytes"), 800);
  assert.deepEqual(total(points, "rabbitmq_publisher.buffer.in_flight"), 3);
  assert.deepEqual(total(points, "rabbitmq_publisher.buffer.utilization"), 0.08);
  assert.deepEqual(total(points, "rabbitmq_publisher.buffer.oldest_event.age"), 2.5);
  assert.deepEqual(total(points, "rabbitmq_publisher.dead_letters.local"), 4);
  const state = "rabbitmq_publisher.state";
  assert.deepEqual(total(points, "rabbitmq_publisher.circuit.state", { [state]: "half_open" }), 1);
  assert.deepEqual(total(points, "rabbitmq_publisher.circuit.state"), 1);
  assert.deepEqual(
    total(points, "rabbitmq_publisher.connection.state", { [state]: "connected" }),
    1,
  );
  assert.deepEqual(total(points, "rabbitmq_publisher.connection.state"), 1);
  unregister();
  await otel.points();
  assert.deepEqual(reads, 1);
});

Deno.test("the instrumentation version is the package's version", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.deepEqual(INSTRUMENTATION_VERSION, config.version);
});

Deno.test("every instrument in INSTRUMENTS is exported under its name, unit and description", async () => {
  await using otel = new TestTelemetry();
  const telemetry = new PublisherTelemetry(otel.options);
  telemetry.recordSend("x", { confirmed: 1, failed: new Map(), durationMs: 1 });
  telemetry.recordConfirmed("normal", 1);
  telemetry.recordRetried(1);
  telemetry.recordDeadLettered("expired", 1);
  telemetry.recordDeduplicated(1);
  telemetry.recordEvicted(1);
  telemetry.observe(() => ({
    byPriority: { high: 0, normal: 0, low: 0 },
    bytes: 0,
    inFlight: 0,
    utilizationPercent: 0,
    oldestEventAgeMs: 0,
    localDeadLetters: 0,
    circuitState: "closed",
    connectionState: "connected",
  }));
  const points = await otel.points();
  for (const spec of Object.values(INSTRUMENTS)) {
    const point = points.find((p) => p.name === spec.name);
    assert.ok(point, `${spec.name} is exported`);
    assert.deepEqual([point.unit, point.description], [spec.unit, spec.description], spec.name);
  }
  assert.deepEqual(new Set(points.map((p) => p.name)).size, Object.keys(INSTRUMENTS).length);
});
