// Retries, the circuit breaker and dead letters against the real broker.
// Nacks come from a queue with `x-overflow: reject-publish`.

import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import { ForwardingTransport } from "../_forwarding_transport.ts";
import { until } from "../_wait.ts";
import {
  AmqpTransport,
  type CircuitStateChange,
  createRabbitMQAsyncEventPublisher,
  type OutboundMessage,
} from "../../mod.ts";

/** Records when each message id was sent. */
class SendLog extends ForwardingTransport {
  readonly sentAt = new Map<string, number[]>();
  override send(messages: readonly OutboundMessage[], timeoutMs: number) {
    const now = performance.now();
    for (const m of messages) {
      const times = this.sentAt.get(m.properties.messageId) ?? [];
      times.push(now);
      this.sentAt.set(m.properties.messageId, times);
    }
    return this.inner.send(messages, timeoutMs);
  }
}

/** A queue that nacks publishes beyond `maxLength` messages. */
async function boundedQueue(exchange: string, maxLength: number) {
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  const ch = await client.channel();
  const queue = await ch.queueDeclare("", { exclusive: true }, {
    "x-max-length": maxLength,
    "x-overflow": "reject-publish",
  });
  await ch.queueBind(queue.name, exchange, "#");
  return {
    async drain(): Promise<string[]> {
      const ids: string[] = [];
      for (;;) {
        const msg = await ch.basicGet(queue.name, { noAck: true });
        if (!msg) return ids;
        ids.push(msg.properties.messageId!);
      }
    },
    async close() {
      await client.close();
    },
  };
}

Deno.test("nacks from a full queue are retried with growing delays until space frees", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const queue = await boundedQueue(consumer.exchange, 3);
  const log = new SendLog(new AmqpTransport({ urls: [BROKER_URL], exchange: consumer.exchange }));
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    {
      flushInterval: 10,
      retry: { baseDelay: 40, maxDelay: 1_000, maxRetries: 30 },
      circuitBreaker: { failureThreshold: 1_000 },
    },
    // Jitter at its ceiling makes the schedule exact: 40, 80, 160, 320 ms...
    { transport: log, random: () => 0.999 },
  );
  try {
    const events = Array.from({ length: 6 }, (_, i) => testEvent(i));
    await publisher.publishBatch(events);
    await until(() => publisher.getStats().publishedEvents === 3, "3 confirms", 5_000);
    const nacked = events.slice(3).map((e) => e.id);
    await until(() => (log.sentAt.get(nacked[0])?.length ?? 0) >= 4, "4 attempts", 5_000);
    const times = log.sentAt.get(nacked[0])!;
    for (let k = 1; k < 4; k++) {
      // Timers never fire early: each gap is at least the scheduled backoff.
      const expected = Math.floor(0.999 * 40 * 2 ** (k - 1));
      assert(times[k] - times[k - 1] >= expected - 2, `gap ${k}: ${times[k] - times[k - 1]} ms`);
    }
    const stats = publisher.getStats();
    assert(stats.retriedEvents >= 9, `retried ${stats.retriedEvents}`);
    assert.equal(stats.deadLetteredEvents, 0);
    assert(stats.lastError?.message.includes("basic.nack"), stats.lastError?.message);

    const delivered = await queue.drain();
    await until(
      async () => {
        delivered.push(...await queue.drain());
        return delivered.length >= 6;
      },
      "every event in the queue",
      10_000,
    );
    assert.deepEqual(new Set(delivered), new Set(events.map((e) => e.id)));
    assert.equal(publisher.getStats().publishedEvents, 6);
  } finally {
    await publisher.close();
    await queue.close();
  }
});

Deno.test("an event nacked on every attempt is dead-lettered after exactly maxRetries attempts", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const queue = await boundedQueue(consumer.exchange, 0);
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    {
      flushInterval: 10,
      retry: { baseDelay: 5, maxDelay: 20, maxRetries: 4 },
      circuitBreaker: { failureThreshold: 1_000 },
    },
  );
  try {
    const event = testEvent(1);
    await publisher.publish(event);
    await until(() => publisher.getStats().deadLetteredEvents === 1, "the dead letter", 10_000);
    const letters = await consumer.waitForDeadLetters(1);
    const [letter] = letters;
    const headers = letter.properties.headers!;
    assert.equal(letter.properties.messageId, event.id);
    assert.equal(letter.json.id, event.id, "the original event, unchanged");
    assert.deepEqual(letter.json.data, event.data);
    assert.equal(headers["x-dead-letter-reason"], "max-retries");
    assert.equal(headers["x-retry-count"], 4);
    assert.equal(headers["x-error-name"], "TransportError");
    assert.match(String(headers["x-error-message"]), /basic\.nack/);
    assert.equal(headers["x-original-exchange"], consumer.exchange);
    assert.equal(headers["x-original-routing-key"], event.type);
    assert(
      Date.parse(String(headers["x-first-failure-at"])) <=
        Date.parse(String(headers["x-last-failure-at"])),
    );
    const stats = publisher.getStats();
    assert.equal(stats.failedEvents, 4);
    assert.equal(stats.bufferStats.size, 0);
  } finally {
    await publisher.close();
    await queue.close();
  }
});

Deno.test("an unroutable event goes straight to the dead letters with reason unroutable", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    { flushInterval: 10 },
  );
  try {
    const event = testEvent(1, "high");
    assert.deepEqual(await publisher.publish(event), {
      id: event.id,
      status: "dead-lettered",
      reason: "unroutable",
    });
    const letters = await consumer.waitForDeadLetters(1);
    const headers = letters[0].properties.headers!;
    assert.equal(headers["x-dead-letter-reason"], "unroutable");
    assert.equal(headers["x-retry-count"], 1);
    assert.equal(publisher.getStats().retriedEvents, 0);
    assert.equal(publisher.getStats().circuitState, "closed", "a bad event is not a bad broker");
  } finally {
    await publisher.close();
  }
});

Deno.test("the circuit opens after failureThreshold failing batches, buffers, half-opens and closes", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  let queue = await boundedQueue(consumer.exchange, 0);
  const transitions: CircuitStateChange[] = [];
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    {
      flushInterval: 10,
      retry: { baseDelay: 5, maxDelay: 10, maxRetries: 100 },
      circuitBreaker: { failureThreshold: 3, resetTimeout: 300 },
    },
    { onStateChange: (change) => transitions.push(change) },
  );
  try {
    await publisher.publish(testEvent(1));
    await until(() => publisher.getStats().circuitState === "open", "the circuit to open", 5_000);
    assert.equal(publisher.getStats().failedEvents, 3);
    const receipt = await publisher.publish(testEvent(2, "high"));
    assert.equal(receipt.status, "buffered", "an open circuit buffers even high priority");
    assert.equal(publisher.getHealth().checks.circuit.ok, false);
    // Let the queue accept again: the probe after resetTimeout succeeds.
    await queue.close();
    queue = await boundedQueue(consumer.exchange, 100);
    await until(
      () => publisher.getStats().circuitState === "closed",
      "the circuit to close",
      5_000,
    );
    await until(() => publisher.getStats().publishedEvents === 2, "both events", 5_000);
    assert.deepEqual(
      transitions.map((t) => `${t.from}->${t.to}`),
      ["closed->open", "open->half_open", "half_open->closed"],
    );
  } finally {
    await publisher.close();
    await queue.close();
  }
});
