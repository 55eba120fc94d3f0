/**
 * Dead letters: an event published to an exchange with no queue bound is
 * unroutable (the publisher sends with `mandatory`), so it becomes a dead
 * letter with the reason `unroutable` and is moved to the dead-letter queue
 * `<exchange>.dead-letter`. The example then inspects that queue with
 * `publisher.deadLetters`, binds a queue, and replays the letter.
 *
 * Needs a RabbitMQ broker (`RABBITMQ_URL`, default amqp://guest:guest@localhost:5672).
 *
 * Run it with:
 *
 *     deno run -A examples/dead_letters.ts
 *
 * It publishes to the exchange `examples.dead_letters`; its dead letter ends up
 * replayed, so the dead-letter queue is left as it was found.
 *
 * @module
 */

import { createRabbitMQAsyncEventPublisher } from "../mod.ts";
import {
  exampleLogger,
  type ExampleOptions,
  exampleRabbitMQConfig,
  Inbox,
  runExample,
  sampleEvent,
  waitUntil,
} from "./_common.ts";

/** Runs the example; see the module doc. */
export async function main(options: ExampleOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  const rabbitMQConfig = exampleRabbitMQConfig(options, "examples.dead_letters");
  const exchange = rabbitMQConfig.exchange;
  await using publisher = await createRabbitMQAsyncEventPublisher(rabbitMQConfig, {}, {
    logger: exampleLogger(log),
    requireConnection: true,
  });

  // High priority waits for RabbitMQ's verdict, so the receipt tells the story.
  const event = sampleEvent("invoice.issued", { invoiceId: "INV-7" }, "high");
  const receipt = await publisher.publish(event);
  log(
    `Published ${event.type} to "${exchange}", where no queue is bound: ` +
      `"${receipt.status}" (reason "${receipt.reason}").`,
  );
  // The dead letter is kept locally first, then moved to the broker's queue.
  await waitUntil(
    () => publisher.getEventBuffer().getStats().localDeadLetters === 0,
    "the dead letter to be moved to the broker",
  );
  const stats = publisher.getStats();
  log(
    `Stats: ${stats.publishedEvents} published, ${stats.failedEvents} failed, ` +
      `${stats.deadLetteredEvents} dead-lettered; last error: ${stats.lastError?.message}.`,
  );

  const { letters } = await publisher.deadLetters.list({ limit: 1_000 });
  const letter = letters.find((l) => l.id === event.id);
  if (letter === undefined) throw new Error(`dead letter ${event.id} not found`);
  log(
    `Found it in "${rabbitMQConfig.deadLetterQueue}" (${letter.location}): reason ` +
      `"${letter.reason}", ${letter.attempts} attempt(s), error: ${letter.errorMessage}.`,
  );

  await using inbox = await Inbox.open(rabbitMQConfig);
  log(`Bound a queue to "${exchange}", so the event is routable now.`);
  const { replayed, failed } = await publisher.deadLetters.replay([event.id]);
  log(`Replayed ${replayed.length} dead letter(s), ${failed.length} failed.`);
  await inbox.waitFor([event.id]);
  log("The consumer received the replayed event; it is no longer a dead letter.");
}

if (import.meta.main) await runExample(main);
