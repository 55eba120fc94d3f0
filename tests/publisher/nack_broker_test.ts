// A full queue with `x-overflow: reject-publish` nacks the events it cannot
// take, and only those: the events it took are confirmed once, the refused
// ones are retried with backoff and end as `max-retries` dead letters. No
// event is both in the queue and in the dead letters.

import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { BROKER_URL, TestConsumer, testEvent, uniqueName } from "../_broker.ts";
import { silent } from "../_dead_letters.ts";
import { until } from "../_wait.ts";
import { createRabbitMQAsyncEventPublisher } from "../../mod.ts";

Deno.test("a full queue nacks exactly the events it cannot take: 5 delivered once, 5 dead-lettered after maxRetries", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const admin = new AMQPClient(BROKER_URL);
  await admin.connect();
  const channel = await admin.channel();
  const queue = uniqueName("outcomes.full");
  // Durable, so its confirms wait for the disk while the nacks come at once.
  await channel.queueDeclare(queue, { durable: true }, {
    "x-max-length": 5,
    "x-overflow": "reject-publish",
  });
  await channel.queueBind(queue, consumer.exchange, "#");
  const maxRetries = 3;
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    {
      flushInterval: 20,
      batchSize: 10,
      retry: { maxRetries, baseDelay: 20, maxDelay: 100 },
      circuitBreaker: { failureThreshold: 100 },
    },
    { logger: silent },
  );
  try {
    const events = Array.from({ length: 10 }, (_, i) => testEvent(i));
    await publisher.publishBatch(events);
    await until(
      () => {
        const { size, localDeadLetters } = publisher.getStats().bufferStats;
        return size === 0 && localDeadLetters === 0;
      },
      () => JSON.stringify(publisher.getStats()),
    );
    const letters = await consumer.waitForDeadLetters(5);
    const queued: string[] = [];
    for (;;) {
      const got = await channel.basicGet(queue, { noAck: true });
      if (got === null) break;
      queued.push(got.properties.messageId ?? "");
    }
    const dead = letters.map((l) => l.properties.messageId ?? "");
    assert.deepEqual(queued, events.slice(0, 5).map((e) => e.id));
    assert.deepEqual(dead.sort(), events.slice(5).map((e) => e.id).sort());
    for (const letter of letters) {
      assert.equal(letter.properties.headers?.["x-dead-letter-reason"], "max-retries");
      assert.equal(letter.properties.headers?.["x-retry-count"], maxRetries);
    }
    const stats = publisher.getStats();
    assert.equal(stats.publishedEvents, 5);
    assert.equal(stats.deadLetteredEvents, 5);
    assert.equal(stats.failedEvents, 5 * maxRetries);
    // delivered 5 + dead-lettered 5 + pending 0 = 10 accepted.
    assert.equal(stats.publishedEvents + stats.deadLetteredEvents + stats.bufferStats.size, 10);
  } finally {
    await publisher.close();
    await channel.queueDelete(queue).catch(() => {});
    await admin.close();
  }
});
