// The test consumer's delivery checks (tests/_broker.ts), against the real
// broker: a confirm does not mean the consumer has the message yet.

import assert from "node:assert/strict";
import { assertAllArrive, BROKER_URL, lossReport, TestConsumer, testEvent } from "./_broker.ts";
import { TcpProxy } from "./_proxy.ts";
import { until } from "./_wait.ts";
import { createRabbitMQAsyncEventPublisher } from "../mod.ts";

// The outage test once failed with "35 events missing" while nothing was
// lost: it counted the consumer's messages (duplicates included) and checked
// the ids as soon as the publisher's store was empty, and the last 35
// confirms had reached the publisher before their deliveries reached the
// consumer. Here the consumer's connection is held up on purpose, which a
// loaded machine does by chance.
Deno.test("a confirmed event can reach the consumer after the publisher's store is empty, and waitForIds() waits for it", async () => {
  await using proxy = await TcpProxy.start();
  await using consumer = await TestConsumer.start({ url: proxy.url });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    { flushInterval: 20 },
  );
  try {
    proxy.stall();
    const events = Array.from({ length: 20 }, (_, i) => testEvent(i));
    const ids = events.map((e) => e.id);
    await publisher.publishBatch(events);
    await until(() => publisher.getStats().bufferStats.size === 0, "every confirm", 10_000);
    assert.equal(publisher.getStats().publishedEvents, 20);
    // The check the outage test made at this point: all 20 would be "missing".
    assert.equal(consumer.messages.length, 0);
    const missing = await consumer.waitForIds(ids, 100);
    assert.deepEqual(missing, ids);
    const report = await lossReport(publisher, consumer, missing);
    assert.match(report, /^20 events never arrived \(first: evt-0-/);
    assert.match(report, /publisher: 20 confirmed, 0 failed attempts, 0 retried, 0 dead-lettered/);
    assert.match(report, /\(dead letters: none\), 0 still pending; consumer: 0 messages/);
    await assert.rejects(assertAllArrive(publisher, consumer, ids, 0), /20 events never arrived/);

    proxy.restore();
    assert.deepEqual(await consumer.waitForIds(ids), []);
    await assertAllArrive(publisher, consumer, ids);
  } finally {
    proxy.restore();
    await publisher.close();
  }
});

Deno.test("lossReport() counts the dead letters among the missing events, by reason", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    { flushInterval: 20 },
  );
  try {
    const event = testEvent(1);
    await publisher.publish(event);
    await until(() => publisher.getStats().deadLetteredEvents === 1, "the dead letter", 10_000);
    const report = await lossReport(publisher, consumer, [event.id]);
    assert.match(report, /^1 event never arrived \(first: evt-1-/);
    assert.match(report, /0 confirmed, 1 failed attempts, 0 retried, 1 dead-lettered/);
    assert.match(report, /dead letters: unroutable: 1, 1 of them missing \(unroutable: exchange/);
  } finally {
    await publisher.close();
  }
});
