// Helpers for the dead-letter tests: dead letters made the real way (an
// unroutable event through the publisher), local dead-letter records, and a
// queue bound to a test exchange after the fact.

import { AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { BROKER_URL, type TestConsumer, testEvent } from "./_broker.ts";
import { until } from "./_wait.ts";
import {
  createRabbitMQAsyncEventPublisher,
  type DeadLetterRecord,
  encodeEvent,
  type Logger,
  type PendingStore,
} from "../mod.ts";
import { DeadLetterQueue } from "../src/dead_letters/queue.ts";

/** A logger that drops everything: dead-lettering is what these tests expect. */
export const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A dead-letter queue handle on the test consumer's dead-letter queue. */
export function openDeadLetterQueue(consumer: TestConsumer, store?: PendingStore): DeadLetterQueue {
  return new DeadLetterQueue({
    urls: [BROKER_URL],
    queue: consumer.deadLetterQueue,
    store,
    publishTimeout: 5_000,
  });
}

/**
 * Publishes `count` events to the consumer's exchange, which must have no
 * queue bound, and waits until all are in the broker's dead-letter queue.
 *
 * @returns The event ids.
 */
export async function seedUnroutable(consumer: TestConsumer, count: number): Promise<string[]> {
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    { flushInterval: 20, batchSize: 100 },
    { logger: silent },
  );
  const events = Array.from({ length: count }, (_, i) => testEvent(i));
  try {
    await publisher.publishBatch(events);
    const dlq = openDeadLetterQueue(consumer);
    try {
      await until(async () => ((await dlq.count()).broker ?? 0) >= count, `${count} dead letters`);
    } finally {
      await dlq.close();
    }
  } finally {
    await publisher.close();
  }
  return events.map((event) => event.id);
}

/** A dead-letter record as the publisher keeps it locally. */
export function localDeadLetter(
  seq: number,
  exchange: string,
  overrides: Partial<DeadLetterRecord> = {},
): DeadLetterRecord {
  const encoded = encodeEvent(testEvent(seq));
  const now = Date.now();
  return {
    ...encoded,
    exchange,
    acceptedAt: now - 1_000,
    seq,
    attempts: 5,
    nextAttemptAt: now,
    firstFailureAt: now - 900,
    lastFailureAt: now - 100,
    lastError: "TransportError: no publisher confirm within 30000 ms",
    reason: "max-retries",
    deadLetteredAt: now,
    errorName: "TransportError",
    errorMessage: "no publisher confirm within 30000 ms",
    ...overrides,
  };
}

/** A queue bound with `#` to an exchange, read with basic.get. */
export class BoundQueue implements AsyncDisposable {
  #client: AMQPClient;
  #queue: string;

  private constructor(client: AMQPClient, queue: string) {
    this.#client = client;
    this.#queue = queue;
  }

  static async bind(exchange: string): Promise<BoundQueue> {
    const client = new AMQPClient(BROKER_URL);
    await client.connect();
    const channel = await client.channel();
    const queue = await channel.queueDeclare("", { exclusive: true, autoDelete: true });
    await channel.queueBind(queue.name, exchange, "#");
    await channel.close();
    return new BoundQueue(client, queue.name);
  }

  /** Every message in the queue, acknowledged. */
  async drain(): Promise<AMQPMessage[]> {
    const channel = await this.#client.channel();
    const found: AMQPMessage[] = [];
    try {
      for (;;) {
        const message = await channel.basicGet(this.#queue, { noAck: true });
        if (message === null) return found;
        found.push(message);
      }
    } finally {
      await channel.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#client.close();
  }
}
