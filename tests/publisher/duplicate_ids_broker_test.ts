// Duplicate ids against the real broker: two events with one id to an
// exchange that routes nowhere. The second is a duplicate of the pending
// first, so there is one event with one outcome (dead-lettered, unroutable)
// and nothing is counted as published that RabbitMQ returned.

import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import { silent } from "../_dead_letters.ts";
import { until } from "../_wait.ts";
import { createRabbitMQAsyncEventPublisher } from "../../mod.ts";

Deno.test("two unroutable events with one id end as one dead letter, and nothing is counted as published", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    { flushInterval: 20 },
    { logger: silent },
  );
  try {
    const first = testEvent(1);
    const second = { ...testEvent(2), id: first.id };
    const receipts = await publisher.publishBatch([first, second]);
    assert.deepEqual(receipts.map((r) => r.id), [first.id, first.id]);
    await until(
      () =>
        publisher.getStats().deadLetteredEvents === 1 &&
        publisher.getStats().bufferStats.size === 0,
      () => JSON.stringify(publisher.getStats()),
    );
    const letters = await consumer.waitForDeadLetters(1);
    await publisher.flush(1_000);
    letters.push(...await consumer.drainDeadLetters());
    assert.deepEqual(
      letters.map((l) => [l.properties.messageId, l.properties.headers?.["x-dead-letter-reason"]]),
      [[first.id, "unroutable"]],
    );
    // The first event went; the duplicate's data did not.
    assert.deepEqual(letters[0].json.data, first.data);
    const stats = publisher.getStats();
    assert.equal(stats.publishedEvents, 0);
    assert.equal(stats.deadLetteredEvents, 1);
    assert.equal(stats.deduplicatedEvents, 1);
    // delivered 0 + dead-lettered 1 + pending 0 = 1 accepted event.
    assert.equal(stats.publishedEvents + stats.deadLetteredEvents + stats.bufferStats.size, 1);
  } finally {
    await publisher.close();
  }
});
