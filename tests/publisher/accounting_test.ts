// The books balance: across outages, with expiry, evictions, a refused
// publish and a close during an outage, every accepted event is delivered,
// in the broker's dead-letter queue, or reported lost by close(), exactly
// once.

import assert from "node:assert/strict";
import { TestConsumer, testEvent } from "../_broker.ts";
import { silent } from "../_dead_letters.ts";
import { TcpProxy } from "../_proxy.ts";
import { until } from "../_wait.ts";
import {
  BufferFullError,
  createRabbitMQAsyncEventPublisher,
  type DomainEvent,
  type RabbitMQAsyncEventPublisher,
} from "../../mod.ts";

Deno.test("accepted = delivered + dead-lettered + reported lost, exactly, across outages with expiry, evictions and a close", async () => {
  await using consumer = await TestConsumer.start();
  await using proxy = await TcpProxy.start();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: proxy.url, exchange: consumer.exchange, reconnectBaseDelay: 50, reconnectMaxDelay: 100 },
    {
      batchSize: 20,
      flushInterval: 20,
      bufferConfig: {
        maxBufferSize: 40,
        overflowPolicy: "drop-oldest-lowest-priority",
        maxEventAge: 1_000,
        cleanupInterval: 50,
      },
    },
    { logger: silent },
  );
  const accepted = new Set<string>();
  let refused = 0;
  let n = 0;
  const publish = async (count: number, priority: "high" | "normal" | "low") => {
    for (let i = 0; i < count; i++) {
      const event: DomainEvent = testEvent(n++, priority);
      try {
        await publisher.publish(event);
        accepted.add(event.id);
      } catch (error) {
        if (!(error instanceof BufferFullError)) throw error;
        refused++;
      }
    }
  };
  const local = () => publisher.getStats().bufferStats.localDeadLetters;
  let closed = false;
  try {
    // Broker up: delivered.
    await publish(30, "normal");
    await settledUp(publisher);

    // Outage 1, cut while nothing is in flight, so no outcome is unknown.
    proxy.outage();
    await until(() => !publisher.isRabbitMQAvailable, "the first outage to be noticed", 5_000);
    await publish(20, "low");
    await until(() => local() === 20, "the 20 low events to expire");
    await publish(30, "normal");
    await publish(20, "low"); // the last 10 evict the first 10
    await publish(10, "high"); // evicts the other 10 low ones
    await publish(5, "low"); // a full buffer of more urgent events: refused
    assert.equal(refused, 5);
    assert.equal(publisher.getStats().bufferStats.droppedEvents, 20);
    proxy.restore();
    await settledUp(publisher);

    // Outage 2, ended by close() while the broker is still away.
    proxy.outage();
    await until(() => !publisher.isRabbitMQAvailable, "the second outage to be noticed", 5_000);
    await publish(15, "normal");
    await until(() => local() === 15, "the 15 events to expire");
    await publish(10, "normal");
    const report = await publisher.close({ timeoutMs: 200 });
    closed = true;
    proxy.restore();

    const stats = publisher.getStats();
    const lost = report.lost.events + report.lost.deadLetters;
    assert.deepEqual(report.lost, {
      events: report.remaining,
      deadLetters: report.localDeadLetters,
    });
    const shipped = stats.deadLetteredEvents - report.localDeadLetters;
    await until(
      () =>
        new Set(consumer.messages.map((m) => m.properties.messageId)).size >= stats.publishedEvents,
      "every confirmed event to reach the consumer",
    );
    const deadLettered = new Set(
      (await consumer.waitForDeadLetters(shipped, 10_000)).map((m) => m.properties.messageId),
    );
    const delivered = new Set(consumer.messages.map((m) => m.properties.messageId));

    for (const id of [...delivered, ...deadLettered]) {
      assert(id !== undefined && accepted.has(id), `${id} was not accepted`);
    }
    assert.deepEqual(
      [...delivered].filter((id) => deadLettered.has(id)),
      [],
      "delivered and dead-lettered",
    );
    assert.equal(delivered.size, stats.publishedEvents, "one delivery per confirm");
    assert.equal(deadLettered.size, shipped);
    assert.equal(accepted.size, delivered.size + deadLettered.size + lost);
    assert(
      delivered.size > 0 && deadLettered.size > 0 && lost > 0,
      "each kind of outcome occurred",
    );
    console.log(
      `accepted ${accepted.size} (refused ${refused}) = delivered ${delivered.size} + ` +
        `dead-lettered ${deadLettered.size} + reported lost ${lost} ` +
        `(${report.lost.events} pending, ${report.lost.deadLetters} local dead letters)`,
    );
  } finally {
    if (!closed) await publisher.close({ timeoutMs: 100 });
  }
});

/** Waits until the broker is back, every pending event confirmed and every dead letter moved. */
async function settledUp(publisher: RabbitMQAsyncEventPublisher): Promise<void> {
  await until(() => {
    const { isRabbitMQAvailable, bufferStats } = publisher.getStats();
    return isRabbitMQAvailable && bufferStats.size === 0 && bufferStats.localDeadLetters === 0;
  }, () => `a settled pipeline: ${JSON.stringify(publisher.getStats().bufferStats)}`);
}
