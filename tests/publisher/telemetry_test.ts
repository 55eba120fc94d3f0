// Telemetry through the whole pipeline, on the real broker, with an
// in-memory OpenTelemetry SDK: spans, links, trace context on the messages
// (also after a restart), and metrics against getStats().

import assert from "node:assert/strict";
import {
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import { TestTelemetry, total } from "../_otel.ts";
import { until } from "../_wait.ts";
import {
  type AsyncPublishConfig,
  createRabbitMQAsyncEventPublisher,
  type PublisherOptions,
  type RabbitMQAsyncEventPublisher,
} from "../../mod.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

async function withPublisher(
  url: string,
  exchange: string,
  config: AsyncPublishConfig,
  options: PublisherOptions,
  run: (publisher: RabbitMQAsyncEventPublisher) => Promise<void>,
): Promise<void> {
  const publisher = await createRabbitMQAsyncEventPublisher({ url, exchange }, config, {
    logger: quiet,
    ...options,
  });
  try {
    await run(publisher);
  } finally {
    await publisher.close({ timeoutMs: 2_000 });
  }
}

/** Runs `fn` with `span` active, as a request handler in the application would. */
function inSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}

Deno.test("a consumer reads traceparent and finds the trace of the caller that published", async () => {
  await using otel = new TestTelemetry().register();
  {
    await using consumer = await TestConsumer.start();
    await withPublisher(
      BROKER_URL,
      consumer.exchange,
      { flushInterval: 20 },
      {},
      async (publisher) => {
        const request = otel.tracerProvider.getTracer("app").startSpan("POST /signup");
        const events = [testEvent(1, "high"), testEvent(2), testEvent(3, "low")];
        const receipts = await inSpan(
          request,
          () => Promise.all(events.map((e) => publisher.publish(e))),
        );
        request.end();
        assert.deepEqual(receipts.map((r) => r.status), ["confirmed", "queued", "queued"]);
        const received = await consumer.waitFor(3);
        await publisher.flush();
        const traceId = request.spanContext().traceId;
        for (const message of received) {
          const header = String(message.properties.headers?.traceparent);
          const [, messageTrace, parentSpan] = TRACEPARENT.exec(header) ?? [];
          assert.deepEqual(
            messageTrace,
            traceId,
            `${message.properties.messageId} carries the trace`,
          );
          // The message's parent is its own PRODUCER span, a child of the request.
          const producer = otel.spans().find((s) => s.spanContext().spanId === parentSpan);
          assert.ok(producer, "the PRODUCER span of the message was exported");
          assert.deepEqual(producer.name, `${consumer.exchange} publish`);
          assert.deepEqual(producer.kind, SpanKind.PRODUCER);
          assert.deepEqual(producer.parentSpanContext?.spanId, request.spanContext().spanId);
          assert.deepEqual(
            producer.attributes["messaging.message.id"],
            message.properties.messageId,
          );
          assert.deepEqual(producer.attributes["messaging.destination.name"], consumer.exchange);
          assert.deepEqual(
            producer.attributes["messaging.rabbitmq.destination.routing_key"],
            "test.happened",
          );
          assert.deepEqual(producer.attributes["messaging.system"], "rabbitmq");
          assert.deepEqual(producer.status.code, SpanStatusCode.UNSET);
          assert.deepEqual(producer.events.at(-1)?.name, "confirmed");
        }
      },
    );
  }
});

Deno.test("each batch send is a span linked to the spans of its events", async () => {
  await using otel = new TestTelemetry().register();
  await using consumer = await TestConsumer.start();
  await withPublisher(
    BROKER_URL,
    consumer.exchange,
    {
      enableBackgroundProcessing: false,
      batchSize: 10,
    },
    {},
    async (publisher) => {
      await publisher.publishBatch(Array.from({ length: 10 }, (_, i) => testEvent(i)));
      assert.deepEqual(await publisher.flush(), 0);
      await consumer.waitFor(10);
      const spans = otel.spans();
      const sends = spans.filter((s) => s.name === `${consumer.exchange} send`);
      assert.deepEqual(sends.length, 1);
      const [send] = sends;
      assert.deepEqual(send.parentSpanContext, undefined);
      assert.deepEqual(send.attributes["messaging.batch.message_count"], 10);
      assert.deepEqual(send.attributes["server.address"], "127.0.0.1");
      assert.deepEqual(send.attributes["server.port"], 5672);
      const events = spans.filter((s) => s.name === `${consumer.exchange} publish`);
      assert.deepEqual(
        new Set(send.links.map((l) => l.context.spanId)),
        new Set(events.map((s) => s.spanContext().spanId)),
      );
      assert.deepEqual(events.length, 10);
    },
  );
});

Deno.test("an event that becomes a dead letter ends its span with an error naming the reason", async () => {
  await using otel = new TestTelemetry().register();
  await using consumer = await TestConsumer.start({ bindingKey: "bound.#" });
  await withPublisher(
    BROKER_URL,
    consumer.exchange,
    {},
    {},
    async (publisher) => {
      const event = testEvent(1, "high", "nobody.listens");
      assert.deepEqual((await publisher.publish(event)).status, "dead-lettered");
      const span = otel.spans().find((s) => s.attributes["messaging.message.id"] === event.id);
      assert.ok(span, "the event's span ended");
      assert.deepEqual(span.status.code, SpanStatusCode.ERROR);
      assert.match(span.status.message ?? "", /^unroutable: /);
      assert.deepEqual(span.attributes["error.type"], "unroutable");
      assert.deepEqual(span.events.map((e) => e.name), ["send failed", "dead-lettered"]);
      await until(
        () => publisher.getStats().bufferStats.localDeadLetters === 0,
        "the letter shipped",
      );
      await consumer.drainDeadLetters();
    },
  );
});

Deno.test("a message sent after a restart still carries the trace it was published in", async () => {
  const dir = await Deno.makeTempDir();
  const bufferConfig = { enablePersistence: true, persistentStoragePath: `${dir}/events.kv` };
  await using consumer = await TestConsumer.start();
  const request = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" };
  let producerSpanId: string | undefined;
  try {
    {
      await using otel = new TestTelemetry().register();
      // The broker is unreachable: the event waits on disk.
      await withPublisher(
        "amqp://guest:guest@127.0.0.1:1",
        consumer.exchange,
        { bufferConfig },
        {},
        async (publisher) => {
          const remote = trace.setSpanContext(ROOT_CONTEXT, {
            ...request,
            traceFlags: 1,
            isRemote: true,
          });
          const receipt = await context.with(remote, () => publisher.publish(testEvent(1)));
          assert.deepEqual(receipt.status, "buffered");
        },
      );
      // Closed with the event kept on disk: its span ended, saying so.
      const [span] = otel.spans();
      assert.deepEqual(span.events.map((e) => e.name), ["pending at close: kept on disk"]);
      producerSpanId = span.spanContext().spanId;
    }
    await using otel = new TestTelemetry().register();
    await withPublisher(BROKER_URL, consumer.exchange, { bufferConfig }, {}, async (publisher) => {
      const [message] = await consumer.waitFor(1);
      await publisher.flush();
      const [, traceId, parent] =
        TRACEPARENT.exec(String(message.properties.headers?.traceparent)) ?? [];
      assert.deepEqual([traceId, parent], [request.traceId, producerSpanId]);
      // The new run continues the stored trace with a span of its own.
      const resumed = otel.spans().find((s) => s.name === `${consumer.exchange} publish`);
      assert.ok(resumed, "a resumed span was exported");
      assert.deepEqual(resumed.spanContext().traceId, request.traceId);
      assert.deepEqual(resumed.parentSpanContext?.spanId, producerSpanId);
      assert.deepEqual(resumed.attributes["rabbitmq_publisher.resumed"], true);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the metrics agree with getStats() after a run with confirms and a dead letter", async () => {
  await using otel = new TestTelemetry().register();
  await using consumer = await TestConsumer.start({ bindingKey: "test.#" });
  await withPublisher(
    BROKER_URL,
    consumer.exchange,
    { flushInterval: 20 },
    {},
    async (publisher) => {
      const events = Array.from({ length: 12 }, (_, i) => testEvent(i));
      // The first event twice in one batch: stored once, counted as deduplicated.
      await publisher.publishBatch([...events, events[0]]);
      await publisher.publish(testEvent(99, "high", "nobody.listens"));
      await consumer.waitFor(12);
      await publisher.flush();
      await until(
        () => publisher.getStats().bufferStats.localDeadLetters === 0,
        "the letter shipped",
      );
      const stats = publisher.getStats();
      const points = await otel.points();
      const sent = "messaging.client.sent.messages";
      assert.deepEqual(total(points, sent, { "error.type": undefined }), stats.publishedEvents);
      // Every message sent and not confirmed: failed attempts, and resends after a channel closed.
      assert.deepEqual(
        total(points, sent) - stats.publishedEvents,
        stats.failedEvents + stats.resentEvents,
      );
      assert.deepEqual(total(points, sent, { "error.type": "unroutable" }), 1);
      assert.deepEqual(
        total(points, "rabbitmq_publisher.events.dead_lettered", {
          "rabbitmq_publisher.dead_letter.reason": "unroutable",
        }),
        stats.deadLetteredEvents,
      );
      assert.deepEqual(total(points, "rabbitmq_publisher.events.retried"), stats.retriedEvents);
      assert.deepEqual(stats.deduplicatedEvents, 1);
      assert.deepEqual(
        total(points, "rabbitmq_publisher.events.deduplicated"),
        stats.deduplicatedEvents,
      );
      const latency = points.filter((p) => p.name === "rabbitmq_publisher.event.confirm.duration");
      assert.deepEqual(latency.reduce((n, p) => n + (p.count ?? 0), 0), stats.publishedEvents);
      assert.deepEqual(total(points, "rabbitmq_publisher.buffer.events"), stats.bufferStats.size);
      assert.deepEqual(total(points, "rabbitmq_publisher.buffer.bytes"), stats.bufferStats.bytes);
      assert.deepEqual(
        total(points, "rabbitmq_publisher.connection.state", {
          "rabbitmq_publisher.state": "connected",
        }),
        1,
      );
      assert.deepEqual(
        total(points, "rabbitmq_publisher.circuit.state", { "rabbitmq_publisher.state": "closed" }),
        1,
      );
      await consumer.drainDeadLetters();
    },
  );
});

Deno.test("with telemetry: false, no span is made and no trace header is sent, even with a global SDK", async () => {
  await using otel = new TestTelemetry().register();
  await using consumer = await TestConsumer.start();
  await withPublisher(
    BROKER_URL,
    consumer.exchange,
    {},
    { telemetry: false },
    async (publisher) => {
      const request = otel.tracerProvider.getTracer("app").startSpan("request");
      await inSpan(request, () => publisher.publish(testEvent(1, "high")));
      request.end();
      const [message] = await consumer.waitFor(1);
      assert.deepEqual(message.properties.headers?.traceparent, undefined);
      assert.deepEqual(otel.spans().map((s) => s.name), ["request"]);
      assert.deepEqual(
        (await otel.points()).filter((p) => p.name.startsWith("rabbitmq_publisher")),
        [],
      );
    },
  );
});

Deno.test("without an SDK nothing is recorded and no trace header is sent", async () => {
  await using consumer = await TestConsumer.start();
  await withPublisher(BROKER_URL, consumer.exchange, {}, {}, async (publisher) => {
    await publisher.publish(testEvent(1, "high"));
    const [message] = await consumer.waitFor(1);
    assert.deepEqual(message.properties.headers?.traceparent, undefined);
    assert.deepEqual(message.properties.headers?.["event-priority"], "high");
  });
});
