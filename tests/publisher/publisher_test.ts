import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import { ForwardingTransport } from "../_forwarding_transport.ts";
import {
  AmqpTransport,
  type AsyncPublishConfig,
  createRabbitMQAsyncEventPublisher,
  EventValidationError,
  type OutboundMessage,
  PublisherClosedError,
  type RabbitMQAsyncEventPublisher,
  type SendOptions,
  type SendOutcome,
  type Transport,
} from "../../mod.ts";

async function withPublisher(
  consumer: TestConsumer,
  config: AsyncPublishConfig,
  run: (publisher: RabbitMQAsyncEventPublisher) => Promise<void>,
  transport?: Transport,
): Promise<void> {
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    config,
    transport ? { transport } : {},
  );
  try {
    await run(publisher);
  } finally {
    await publisher.close();
  }
}

Deno.test("publish() delivers each event exactly once with the documented AMQP properties", async () => {
  await using consumer = await TestConsumer.start();
  await withPublisher(consumer, { flushInterval: 50 }, async (publisher) => {
    const events = Array.from({ length: 20 }, (_, i) => testEvent(i));
    for (const event of events) {
      assert.deepEqual((await publisher.publish(event)).status, "queued");
    }
    const received = await consumer.waitFor(20);
    await publisher.flush();
    assert.deepEqual(received.length, 20);
    assert.deepEqual(new Set(received.map((m) => m.properties.messageId)).size, 20);
    const first = received.find((m) => m.properties.messageId === events[0].id)!;
    assert.deepEqual(first.properties.contentType, "application/json");
    assert.deepEqual(first.properties.deliveryMode, 2);
    assert.deepEqual(first.properties.type, "test.happened");
    assert.deepEqual(first.properties.correlationId, "corr-0");
    assert.deepEqual(first.properties.priority, 5);
    assert.deepEqual(first.properties.headers?.["event-version"], "1.0");
    assert.deepEqual(first.properties.headers?.["event-source"], "tests");
    assert.deepEqual(first.properties.headers?.["event-priority"], "normal");
    assert.deepEqual(
      first.properties.timestamp?.getTime(),
      Math.floor(events[0].timestamp.getTime() / 1000) * 1000,
    );
    assert.deepEqual(first.routingKey, "test.happened");
    assert.deepEqual(first.json.data, { n: 0 });
    assert.deepEqual(first.json.id, events[0].id);
    assert.deepEqual(publisher.getStats().publishedEvents, 20);
  });
  // Nothing more arrives later: exactly once.
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(consumer.messages.length, 20);
});

Deno.test("publish() of a high-priority event resolves only after RabbitMQ confirmed it", async () => {
  await using consumer = await TestConsumer.start();
  // Background processing off and a long interval: only the high-priority path can send.
  await withPublisher(
    consumer,
    { enableBackgroundProcessing: false, flushInterval: 60_000 },
    async (publisher) => {
      const event = testEvent(1, "high");
      const receipt = await publisher.publish(event);
      assert.deepEqual(receipt, { id: event.id, status: "confirmed" });
      assert.deepEqual(publisher.getStats().publishedEvents, 1);
      assert.deepEqual(publisher.getEventBuffer().getStats().size, 0);
      const [message] = await consumer.waitFor(1);
      assert.deepEqual(message.properties.messageId, event.id);
      assert.deepEqual(message.properties.priority, 9);
    },
  );
});

Deno.test("queued events are sent high, normal, low within one batch cycle", async () => {
  await using consumer = await TestConsumer.start();
  await withPublisher(
    consumer,
    { enableBackgroundProcessing: false, batchSize: 100 },
    async (publisher) => {
      const low = Array.from({ length: 5 }, (_, i) => testEvent(i, "low"));
      const normal = Array.from({ length: 5 }, (_, i) => testEvent(10 + i, "normal"));
      const high = Array.from({ length: 5 }, (_, i) => testEvent(20 + i, "high"));
      await publisher.publishBatch([...low, ...normal]);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        consumer.messages.length,
        0,
        "nothing is sent before flush() or a high event",
      );
      await publisher.publishBatch(high);
      const received = await consumer.waitFor(15);
      assert.deepEqual(
        received.map((m) => m.properties.messageId),
        [...high, ...normal, ...low].map((e) => e.id),
      );
    },
  );
});

Deno.test("publishBatch() of 1,000 events delivers all of them", async () => {
  await using consumer = await TestConsumer.start();
  await withPublisher(consumer, { flushInterval: 20 }, async (publisher) => {
    const events = Array.from({ length: 1000 }, (_, i) => testEvent(i));
    const receipts = await publisher.publishBatch(events);
    assert.deepEqual(receipts.length, 1000);
    assert(receipts.every((r, i) => r.id === events[i].id && r.status === "queued"));
    const received = await consumer.waitFor(1000);
    assert.deepEqual(new Set(received.map((m) => m.properties.messageId)).size, 1000);
  });
});

/** Records how many events were awaiting their outcome at once, as the broker gave them. */
class ConcurrencyProbe extends ForwardingTransport {
  inFlight = 0;
  peak = 0;
  sends = 0;
  override async send(
    messages: readonly OutboundMessage[],
    timeoutMs: number,
    options: SendOptions = {},
  ) {
    this.sends++;
    this.inFlight += messages.length;
    this.peak = Math.max(this.peak, this.inFlight);
    const told = new Set<number>();
    const tell = (index: number, outcome: SendOutcome) => {
      if (told.has(index)) return;
      told.add(index);
      this.inFlight--;
      options.onOutcome?.(index, outcome);
    };
    const outcomes = await this.inner.send(messages, timeoutMs, { onOutcome: tell });
    outcomes.forEach((outcome, i) => tell(i, outcome));
    return outcomes;
  }
}

Deno.test("the dispatcher never has more than maxInFlight events awaiting confirms, and refills as they come", async () => {
  await using consumer = await TestConsumer.start();
  const probe = new ConcurrencyProbe(
    new AmqpTransport({ urls: [BROKER_URL], exchange: consumer.exchange }),
  );
  // The window: maxConcurrency × batchSize = 30 events.
  await withPublisher(consumer, { maxConcurrency: 3, batchSize: 10 }, async (publisher) => {
    const events = Array.from({ length: 2000 }, (_, i) => testEvent(i));
    await publisher.publishBatch(events);
    await consumer.waitFor(2000);
    assert(probe.peak <= 30, `peak ${probe.peak} exceeds maxInFlight 30`);
    assert(probe.peak > 10, `the probe saw no more than one batch in flight (peak ${probe.peak})`);
    assert(probe.sends >= 200, `expected batches of at most 10, saw ${probe.sends} sends`);
  }, probe);
});

Deno.test("publish() rejects invalid events with an error naming the field, storing nothing", async () => {
  await using consumer = await TestConsumer.start();
  await withPublisher(consumer, { enableBackgroundProcessing: false }, async (publisher) => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: [unknown, string][] = [
      [{ ...testEvent(1), id: "" }, "id"],
      [{ ...testEvent(1), type: undefined }, "type"],
      [{ ...testEvent(1), timestamp: "yesterday" }, "timestamp"],
      [{ ...testEvent(1), data: cyclic }, "data.self"],
      [{ ...testEvent(1), data: { big: 1n } }, "data.big"],
      [{ ...testEvent(1), data: { tags: new Map() } }, "data.tags"],
      [{ ...testEvent(1), data: "x".repeat(70_000) }, "data"],
      [{ ...testEvent(1), metadata: { priority: "urgent" } }, "metadata.priority"],
      [{ ...testEvent(1), metadata: { correlationId: "c".repeat(300) } }, "metadata.correlationId"],
    ];
    for (const [event, field] of cases) {
      // deno-lint-ignore no-explicit-any
      await assert.rejects(publisher.publish(event as any), (error) => {
        assert(error instanceof EventValidationError, String(error));
        assert.equal(error.field, field, error.message);
        assert(
          error.message.includes(`'${field}'`) || error.message.startsWith(`${field}: `),
          error.message,
        );
        return true;
      });
    }
    const batch = [testEvent(1), testEvent(2), { ...testEvent(3), id: 42 }];
    // deno-lint-ignore no-explicit-any
    await assert.rejects(publisher.publishBatch(batch as any), (error) => {
      assert(error instanceof EventValidationError);
      assert.equal(error.index, 2);
      assert(error.message.startsWith("events[2]"), error.message);
      return true;
    });
    assert.deepEqual(publisher.getEventBuffer().getStats().size, 0);
  });
});

Deno.test("close() flushes pending events, then publish() rejects with PublisherClosedError", async () => {
  await using consumer = await TestConsumer.start();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    { flushInterval: 60_000, batchSize: 500 },
  );
  await publisher.publishBatch(Array.from({ length: 30 }, (_, i) => testEvent(i)));
  const report = await publisher.close({ timeoutMs: 5_000 });
  assert.deepEqual(report, {
    remaining: 0,
    localDeadLetters: 0,
    timedOut: false,
    persistent: false,
    lost: { events: 0, deadLetters: 0 },
  });
  assert.deepEqual((await consumer.waitFor(30)).length, 30);
  await assert.rejects(publisher.publish(testEvent(99)), PublisherClosedError);
  await assert.rejects(publisher.publishBatch([testEvent(99)]), PublisherClosedError);
  assert.deepEqual(publisher.getHealth().checks.intake.ok, false);
});

Deno.test("getStats() and getHealth() describe a healthy publisher", async () => {
  await using consumer = await TestConsumer.start();
  await withPublisher(consumer, {}, async (publisher) => {
    await publisher.publish(testEvent(1, "high"));
    const stats = publisher.getStats();
    assert.deepEqual(stats.isRabbitMQAvailable, true);
    assert.deepEqual(stats.connectionState, "connected");
    assert.deepEqual(stats.circuitState, "closed");
    assert.deepEqual(stats.brokerUrl, "amqp://guest:***@127.0.0.1:5672");
    assert.deepEqual(stats.bufferStats.maxSize, 10_000);
    assert.deepEqual(stats.bufferStats.utilizationPercent, 0);
    assert(stats.msSinceLastConfirm !== undefined && stats.msSinceLastConfirm >= 0);
    const health = publisher.getHealth();
    assert.deepEqual(health.healthy, true, JSON.stringify(health));
  });
});
