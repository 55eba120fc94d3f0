// The dead letters as an operator sees them through an outage: listed and
// counted while no broker answers, and listed once while the publisher moves
// them from its store to the broker.

import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import { localDeadLetter, silent } from "../_dead_letters.ts";
import { TcpProxy } from "../_proxy.ts";
import { until } from "../_wait.ts";
import {
  createRabbitMQAsyncEventPublisher,
  DeadLetterQueue,
  type DeadLetterRecord,
  MemoryStore,
} from "../../mod.ts";
import { deadLetterHeaders } from "../../src/dead_letters/_headers.ts";

const LIMITS = { maxEvents: 1_000, maxBytes: 10_000_000, overflow: "reject" } as const;

Deno.test("list() and count() give the local dead letters while no broker answers", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  await using proxy = await TcpProxy.start();
  const store = new MemoryStore(LIMITS);
  const letters = Array.from({ length: 10 }, (_, i) => localDeadLetter(i + 1, consumer.exchange));
  await store.addDeadLetters(letters);
  try {
    await using dlq = new DeadLetterQueue({
      urls: [proxy.url],
      queue: consumer.deadLetterQueue,
      store,
    });
    proxy.refuse();
    const count = await dlq.count();
    assert.deepEqual([count.local, count.broker, count.total], [10, null, null]);
    assert.match(count.brokerError ?? "", /^no RabbitMQ broker answered: amqp:\/\/guest:\*\*\*@/);
    const listed = await dlq.list();
    assert.equal(listed.brokerAvailable, false);
    assert.equal(listed.brokerError, count.brokerError);
    assert.deepEqual(
      listed.letters.map((l) => [l.id, l.location]),
      letters.map((l) => [l.id, "local"]),
    );

    proxy.restore();
    assert.deepEqual(await dlq.count(), { local: 10, broker: 0, total: 10 });
    assert.equal((await dlq.list()).brokerAvailable, true);
  } finally {
    await store.close();
  }
});

Deno.test("list() shows a letter once while it is both in the store and on the broker", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const store = new MemoryStore(LIMITS);
  const moving = localDeadLetter(1, consumer.exchange, { deadLetteredAt: Date.now() - 1_234 });
  const stays = localDeadLetter(2, consumer.exchange);
  // Dead-lettered again after a failed replay: the same id, a letter of its own.
  const again = { ...moving, seq: 3, deadLetteredAt: Date.now() };
  await store.addDeadLetters([moving, stays, again]);
  try {
    await publishCopy(consumer, moving);
    await using dlq = new DeadLetterQueue({
      urls: [BROKER_URL],
      queue: consumer.deadLetterQueue,
      store,
    });
    const { letters } = await dlq.list();
    assert.deepEqual(letters.map((l) => [l.id, l.location, l.deadLetteredAt]), [
      [stays.id, "local", stays.deadLetteredAt],
      [again.id, "local", again.deadLetteredAt],
      [moving.id, "broker", moving.deadLetteredAt],
    ]);
    assert.equal((await dlq.list({ limit: 2 })).letters.length, 2);
  } finally {
    await store.close();
  }
});

Deno.test("while a publisher moves its dead letters to the broker, every list() shows each once", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  await using proxy = await TcpProxy.start();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: proxy.url, exchange: consumer.exchange, reconnectBaseDelay: 50, reconnectMaxDelay: 100 },
    {
      // One letter per move: the move takes long enough for listings to catch it midway.
      batchSize: 1,
      bufferConfig: { maxEventAge: 100, cleanupInterval: 50 },
    },
    { logger: silent },
  );
  try {
    proxy.outage();
    await until(() => !publisher.isRabbitMQAvailable, "the outage to be noticed", 5_000);
    const events = Array.from({ length: 300 }, (_, i) => testEvent(i));
    await publisher.publishBatch(events);
    await until(
      () => publisher.getStats().bufferStats.localDeadLetters === events.length,
      "every event to expire into the local dead letters",
    );
    proxy.restore();
    const ids = events.map((e) => e.id).sort();
    let listings = 0;
    let mixed = 0;
    for (;;) {
      const { letters, brokerAvailable } = await publisher.deadLetters.list({ limit: 1_000 });
      if (!brokerAvailable) continue; // not reconnected yet
      listings++;
      assert.deepEqual(letters.map((l) => l.id).sort(), ids, `listing ${listings}`);
      const local = letters.filter((l) => l.location === "local").length;
      if (local > 0 && local < letters.length) mixed++;
      if (local === 0) break;
    }
    assert(listings > 0);
    const count = await publisher.deadLetters.count();
    assert.deepEqual(count, { local: 0, broker: 300, total: 300 });
    console.log(`${listings} listings while moving, ${mixed} with letters in both places`);
  } finally {
    await publisher.close();
  }
});

/** Puts a copy of `letter` into the dead-letter queue, as the publisher's move does. */
async function publishCopy(consumer: TestConsumer, letter: DeadLetterRecord): Promise<void> {
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  try {
    const channel = await client.channel();
    await channel.queueDeclare(consumer.deadLetterQueue, { durable: true });
    await channel.confirmSelect();
    const { timestamp, headers, ...properties } = letter.properties;
    await channel.basicPublish("", consumer.deadLetterQueue, letter.body, {
      ...properties,
      timestamp: new Date(timestamp),
      headers: { ...headers, ...deadLetterHeaders(letter) },
    });
    await channel.close();
  } finally {
    await client.close();
  }
}
