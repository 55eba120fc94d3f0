// The buffer's limits as the publisher applies them: a full buffer, the
// overflow policies, and expiry, each ending in a counted dead letter or a
// clear error, never a silent drop.

import assert from "node:assert/strict";
import { TestConsumer, testEvent } from "../_broker.ts";
import { TcpProxy } from "../_proxy.ts";
import { until } from "../_wait.ts";
import {
  type AsyncPublishConfig,
  BufferFullError,
  createRabbitMQAsyncEventPublisher,
  type RabbitMQAsyncEventPublisher,
} from "../../mod.ts";

/** A publisher whose broker is unreachable until `proxy.restore()`. */
async function cutOff(
  proxy: TcpProxy,
  consumer: TestConsumer,
  config: AsyncPublishConfig,
): Promise<RabbitMQAsyncEventPublisher> {
  proxy.refuse();
  return await createRabbitMQAsyncEventPublisher(
    { url: proxy.url, exchange: consumer.exchange, reconnectBaseDelay: 50, reconnectMaxDelay: 100 },
    config,
  );
}

Deno.test("a full buffer rejects publish() with BufferFullError and keeps what it holds", async () => {
  await using proxy = await TcpProxy.start();
  await using consumer = await TestConsumer.start();
  const publisher = await cutOff(proxy, consumer, { bufferConfig: { maxBufferSize: 5 } });
  try {
    const kept = Array.from({ length: 5 }, (_, i) => testEvent(i));
    await publisher.publishBatch(kept);
    await assert.rejects(publisher.publish(testEvent(9, "high")), (error) => {
      assert(error instanceof BufferFullError);
      assert.equal(error.size, 5);
      assert.equal(error.maxSize, 5);
      assert.match(error.message, /5\/5 events/);
      return true;
    });
    // A batch that does not fit is refused whole.
    await assert.rejects(publisher.publishBatch([testEvent(10)]), BufferFullError);
    const buffer = publisher.getEventBuffer().getStats();
    assert.equal(buffer.size, 5);
    assert.equal(buffer.utilizationPercent, 100);
    assert.equal(publisher.getHealth().checks.buffer.ok, false);
    assert.match(publisher.getHealth().checks.buffer.reason ?? "", /100% full/);

    proxy.restore();
    const received = await consumer.waitFor(5);
    assert.deepEqual(
      new Set(received.map((m) => m.properties.messageId)),
      new Set(kept.map((e) => e.id)),
    );
  } finally {
    await publisher.close();
  }
});

Deno.test("a full buffer is also measured in bytes (maxPersistentSize)", async () => {
  await using proxy = await TcpProxy.start();
  await using consumer = await TestConsumer.start();
  const publisher = await cutOff(proxy, consumer, { bufferConfig: { maxPersistentSize: 1_000 } });
  try {
    const big = { ...testEvent(1), data: { text: "x".repeat(600) } };
    await publisher.publish(big);
    await assert.rejects(publisher.publish({ ...testEvent(2), data: { text: "y".repeat(600) } }), (
      error,
    ) => error instanceof BufferFullError && error.maxBytes === 1_000);
    assert.equal(publisher.getEventBuffer().getStats().size, 1);
  } finally {
    await publisher.close();
  }
});

Deno.test("drop-oldest-lowest-priority evicts the oldest low event and dead-letters it as evicted", async () => {
  await using proxy = await TcpProxy.start();
  await using consumer = await TestConsumer.start();
  const publisher = await cutOff(proxy, consumer, {
    bufferConfig: { maxBufferSize: 3, overflowPolicy: "drop-oldest-lowest-priority" },
  });
  try {
    const oldLow = testEvent(1, "low");
    const newLow = testEvent(2, "low");
    const normal = testEvent(3, "normal");
    for (const event of [oldLow, newLow, normal]) await publisher.publish(event);
    const high = testEvent(4, "high");
    assert.equal((await publisher.publish(high)).status, "buffered");
    const buffer = publisher.getEventBuffer().getStats();
    assert.equal(buffer.size, 3);
    assert.equal(buffer.droppedEvents, 1);
    assert.deepEqual(buffer.byPriority, { high: 1, normal: 1, low: 1 });
    assert.equal(publisher.getStats().deadLetteredEvents, 1);
    assert.equal(buffer.localDeadLetters, 1, "kept locally while the broker is away");

    proxy.restore();
    const delivered = await consumer.waitFor(3);
    assert.deepEqual(
      delivered.map((m) => m.properties.messageId),
      [high.id, normal.id, newLow.id],
    );
    const [letter] = await consumer.waitForDeadLetters(1);
    assert.equal(letter.properties.messageId, oldLow.id);
    assert.equal(letter.properties.headers?.["x-dead-letter-reason"], "evicted");
    assert.equal(letter.properties.headers?.["x-retry-count"], 0);
  } finally {
    await publisher.close();
  }
});

Deno.test("drop-oldest-lowest-priority never evicts a more urgent event for a less urgent one", async () => {
  await using proxy = await TcpProxy.start();
  await using consumer = await TestConsumer.start();
  const publisher = await cutOff(proxy, consumer, {
    bufferConfig: { maxBufferSize: 2, overflowPolicy: "drop-oldest-lowest-priority" },
  });
  try {
    await publisher.publish(testEvent(1, "high"));
    await publisher.publish(testEvent(2, "normal"));
    await assert.rejects(publisher.publish(testEvent(3, "low")), BufferFullError);
    assert.equal(publisher.getEventBuffer().getStats().droppedEvents, 0);
  } finally {
    await publisher.close();
  }
});

Deno.test("events older than maxEventAge are dead-lettered as expired, counted, and shipped later", async () => {
  await using proxy = await TcpProxy.start();
  await using consumer = await TestConsumer.start();
  const publisher = await cutOff(proxy, consumer, {
    bufferConfig: { maxEventAge: 100, cleanupInterval: 50 },
  });
  try {
    const events = Array.from({ length: 4 }, (_, i) => testEvent(i));
    await publisher.publishBatch(events);
    await until(
      () => publisher.getEventBuffer().getStats().expiredEvents === 4,
      "the events to expire",
      5_000,
    );
    const stats = publisher.getStats();
    assert.equal(stats.bufferStats.size, 0);
    assert.equal(stats.deadLetteredEvents, 4);

    proxy.restore();
    const letters = await consumer.waitForDeadLetters(4);
    assert.deepEqual(
      new Set(letters.map((l) => l.properties.messageId)),
      new Set(events.map((e) => e.id)),
    );
    assert(letters.every((l) => l.properties.headers?.["x-dead-letter-reason"] === "expired"));
    await until(
      () => publisher.getEventBuffer().getStats().localDeadLetters === 0,
      "the local dead letters to be shipped",
    );
    assert.equal(consumer.messages.length, 0, "an expired event is not delivered");
  } finally {
    await publisher.close();
  }
});

Deno.test("a broker that goes silent is detected by missed heartbeats and the events still arrive", async () => {
  await using proxy = await TcpProxy.start();
  await using consumer = await TestConsumer.start();
  const publisher = await createRabbitMQAsyncEventPublisher(
    {
      url: proxy.url,
      exchange: consumer.exchange,
      heartbeat: 1,
      reconnectBaseDelay: 50,
      reconnectMaxDelay: 200,
    },
    { flushInterval: 20 },
  );
  try {
    proxy.stall();
    await until(() => !publisher.isRabbitMQAvailable, "the silence to be noticed", 10_000);
    assert.match(publisher.getStats().lastError?.message ?? "", /heartbeat|timeout|closed/i);
    const event = testEvent(1);
    assert.equal((await publisher.publish(event)).status, "buffered");
    proxy.restore();
    const [message] = await consumer.waitFor(1);
    assert.equal(message.properties.messageId, event.id);
  } finally {
    await publisher.close();
  }
});
