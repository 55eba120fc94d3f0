import assert from "node:assert/strict";
import { INSTRUMENTATION_VERSION } from "../../src/publisher/_semconv.ts";
import { INSTRUMENTS, PublisherMetrics } from "../../src/publisher/_metrics.ts";
import { TestTelemetry, total } from "../_otel.ts";

/** A reading of the gauges, as `getStats()` would give it. */
function reading(
  buffer: Partial<{
    byPriority: { high: number; normal: number; low: number };
    bytes: number;
    inFlight: number;
    utilizationPercent: number;
    oldestEventAgeMs: number;
    localDeadLetters: number;
  }> = {},
  states: { circuitState?: "closed" | "open" | "half_open"; connectionState?: "connected" } = {},
) {
  return {
    circuitState: states.circuitState ?? "closed",
    connectionState: states.connectionState ?? "connected",
    bufferStats: {
      byPriority: { high: 0, normal: 0, low: 0 },
      bytes: 0,
      inFlight: 0,
      utilizationPercent: 0,
      oldestEventAgeMs: 0,
      localDeadLetters: 0,
      ...buffer,
    },
  } as const;
}

Deno.test("without an SDK, the metrics record nothing and read no gauge", () => {
  // The global meter provider is the API's no-op in this test run.
  const metrics = new PublisherMetrics();
  metrics.recordSend("x", { confirmed: 1, failed: new Map(), durationMs: 1 });
  metrics.recordConfirmed("high", 5);
  metrics.observe(() => {
    throw new Error("a no-op meter never reads the gauges");
  })();
});

Deno.test("recordSend() counts messaging.client.sent.messages by outcome, with batch size and duration", async () => {
  await using otel = new TestTelemetry();
  const metrics = new PublisherMetrics(otel.meterProvider);
  metrics.recordSend("domain-events", {
    confirmed: 8,
    failed: new Map([["timeout", 2], ["connection-lost", 1]]),
    durationMs: 250,
    server: { address: "rabbit", port: 5672 },
  });
  metrics.recordSend("domain-events", { confirmed: 4, failed: new Map(), durationMs: 50 });
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
  const metrics = new PublisherMetrics(otel.meterProvider);
  metrics.recordRetried(3);
  metrics.recordDeadLettered("unroutable", 2);
  metrics.recordDeadLettered("expired", 1);
  metrics.recordDeduplicated(4);
  metrics.recordEvicted(5);
  metrics.recordConfirmed("high", 1_500);
  metrics.recordConfirmed("low", 500);
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
  const metrics = new PublisherMetrics(otel.meterProvider);
  let reads = 0;
  const unregister = metrics.observe(() => {
    reads++;
    return reading({
      byPriority: { high: 1, normal: 5, low: 2 },
      bytes: 800,
      inFlight: 3,
      utilizationPercent: 8,
      oldestEventAgeMs: 2_500,
      localDeadLetters: 4,
    }, { circuitState: "half_open" });
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
  const metrics = new PublisherMetrics(otel.meterProvider);
  metrics.recordSend("x", { confirmed: 1, failed: new Map(), durationMs: 1 });
  metrics.recordConfirmed("normal", 1);
  metrics.recordRetried(1);
  metrics.recordDeadLettered("expired", 1);
  metrics.recordDeduplicated(1);
  metrics.recordEvicted(1);
  metrics.observe(() => reading());
  const points = await otel.points();
  for (const spec of Object.values(INSTRUMENTS)) {
    const point = points.find((p) => p.name === spec.name);
    assert.ok(point, `${spec.name} is exported`);
    assert.deepEqual([point.unit, point.description], [spec.unit, spec.description], spec.name);
  }
  assert.deepEqual(new Set(points.map((p) => p.name)).size, Object.keys(INSTRUMENTS).length);
});
