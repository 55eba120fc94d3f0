// The dead-letter queue against the real broker: declared apart from the
// connection, as a quorum queue by default; used as it is when it exists
// with other arguments (one warning); and when it cannot be declared at all,
// only dead letters wait, locally, until it can.

import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import { silent } from "../_dead_letters.ts";
import { problemLines, recordingLogger } from "../_logger.ts";
import { until } from "../_wait.ts";
import {
  createRabbitMQAsyncEventPublisher,
  type DeadLetterQueueType,
  type Logger,
  parseRabbitMQConfig,
} from "../../mod.ts";

/** An event no queue is bound for: the consumers below bind `test.#`. */
function unroutable(n: number) {
  return testEvent(n, "normal", "nobody.listens");
}

/** Runs `fn` on a channel of a fresh connection; what the broker refuses rejects. */
async function onBroker<T>(fn: (client: AMQPClient) => Promise<T>): Promise<T> {
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.close().catch(() => {});
  }
}

/** Whether declaring `queue` with these arguments matches the existing queue. */
function declaredAs(queue: string, args: Record<string, unknown>): Promise<boolean> {
  return onBroker(async (client) => {
    const channel = await client.channel();
    channel.onerror = () => {};
    try {
      await channel.queueDeclare(queue, { durable: true }, args);
      return true;
    } catch (error) {
      if (/PRECONDITION_FAILED/.test(String(error))) return false;
      throw error;
    }
  });
}

/** A publisher on the consumer's exchange that sends and moves dead letters quickly. */
function quickPublisher(consumer: TestConsumer, logger: Logger) {
  return createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    { flushInterval: 20, bufferConfig: { cleanupInterval: 100 } },
    { logger, requireConnection: true },
  );
}

async function deadLetterQueueAfterOneLetter(
  consumer: TestConsumer,
  type: DeadLetterQueueType | undefined,
): Promise<void> {
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange, deadLetterQueueType: type },
    { flushInterval: 20 },
    { logger: silent },
  );
  try {
    await publisher.publish(unroutable(1));
    await consumer.waitForDeadLetters(1);
  } finally {
    await publisher.close();
  }
}

Deno.test("the dead-letter queue is created as a quorum queue by default", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: "test.#" });
  await deadLetterQueueAfterOneLetter(consumer, undefined);
  assert.equal(await declaredAs(consumer.deadLetterQueue, { "x-queue-type": "classic" }), false);
  assert.equal(
    await declaredAs(consumer.deadLetterQueue, {
      "x-queue-type": "quorum",
      "x-delivery-limit": 2 ** 31 - 1,
    }),
    true,
  );
});

Deno.test("RABBITMQ_DEAD_LETTER_QUEUE_TYPE=classic creates a classic dead-letter queue", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: "test.#" });
  const { deadLetterQueueType } = parseRabbitMQConfig(
    new Map([["RABBITMQ_DEAD_LETTER_QUEUE_TYPE", "classic"]]),
  );
  await deadLetterQueueAfterOneLetter(consumer, deadLetterQueueType);
  assert.equal(await declaredAs(consumer.deadLetterQueue, {}), true);
  assert.equal(await declaredAs(consumer.deadLetterQueue, { "x-queue-type": "quorum" }), false);
});

Deno.test("a dead-letter queue declared beforehand with other arguments is used as it is, with one warning", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: "test.#" });
  // A classic queue with a length limit: every argument differs from ours.
  await onBroker(async (client) => {
    const channel = await client.channel();
    await channel.queueDeclare(consumer.deadLetterQueue, { durable: true }, {
      "x-max-length": 10_000,
    });
  });
  const logger = recordingLogger();
  const publisher = await quickPublisher(consumer, logger);
  try {
    const receipt = await publisher.publish({ ...testEvent(1), metadata: { priority: "high" } });
    assert.equal(receipt.status, "confirmed");
    await publisher.publish(unroutable(2));
    await publisher.publish(unroutable(3));
    const letters = await consumer.waitForDeadLetters(2);
    assert.equal(letters.length, 2);
    await consumer.waitFor(1);
    const log = problemLines(logger);
    const mismatch = log.filter((line) => line.includes("used as it is"));
    assert.equal(mismatch.length, 1, log.join("\n"));
    assert.match(mismatch[0], /^warn: the dead-letter queue ".*" exists with other arguments/);
    assert.match(mismatch[0], /PRECONDITION_FAILED/);
    assert.equal(await declaredAs(consumer.deadLetterQueue, { "x-max-length": 10_000 }), true);
  } finally {
    await publisher.close();
  }
});

Deno.test("a dead-letter queue that cannot be declared holds up dead letters only, and they follow once it can", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: "test.#" });
  // Another connection's exclusive queue of that name: declaring it is refused (405).
  const holder = new AMQPClient(BROKER_URL);
  await holder.connect();
  try {
    const channel = await holder.channel();
    await channel.queueDeclare(consumer.deadLetterQueue, { exclusive: true });
    const logger = recordingLogger();
    const publisher = await quickPublisher(consumer, logger);
    try {
      await publisher.publish(unroutable(1));
      await until(() => publisher.getStats().bufferStats.localDeadLetters === 1, "a local letter");
      for (let n = 2; n <= 20; n++) await publisher.publish(testEvent(n));
      await consumer.waitFor(19);
      assert.equal(publisher.getStats().connectionState, "connected");
      const health = publisher.getHealth();
      assert.equal(health.checks.connection.ok, true);
      assert.equal(health.checks.deadLetters.ok, false);
      // The refusal is logged by the attempt to move the letter, which a
      // loaded machine may make after the 19 events arrived.
      const refused = () =>
        problemLines(logger).some((line) =>
          /dead-letter queue ".*" cannot be declared: .*RESOURCE_LOCKED/.test(line)
        );
      await until(
        refused,
        () => `the refused declare in the log, which holds:\n${problemLines(logger).join("\n")}`,
      );
      await holder.close();
      await until(
        () => publisher.getStats().bufferStats.localDeadLetters === 0,
        "the local letter moved to the broker",
      );
      const letters = await consumer.waitForDeadLetters(1);
      assert.equal(letters[0].properties.messageId?.startsWith("evt-1-"), true);
    } finally {
      await publisher.close();
    }
  } finally {
    if (!holder.closed) await holder.close();
  }
});
