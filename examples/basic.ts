/**
 * Basic usage: create a publisher, publish a high-priority event (confirmed
 * by RabbitMQ before `publish()` resolves), publish a batch of normal events
 * (queued and sent in the background), flush, print the statistics, close.
 *
 * Needs a RabbitMQ broker (`RABBITMQ_URL`, default amqp://guest:guest@localhost:5672).
 *
 * Run it with:
 *
 *     deno run -A examples/basic.ts
 *
 * It publishes to the exchange `examples.basic`, and keeps the pending events
 * in a temporary Deno KV file that it removes at the end.
 *
 * @module
 */

import { createRabbitMQAsyncEventPublisher, type RabbitMQAsyncEventPublisher } from "../mod.ts";
import {
  exampleLogger,
  type ExampleOptions,
  exampleRabbitMQConfig,
  Inbox,
  runExample,
  sampleEvent,
} from "./_common.ts";

/** Runs the example; see the module doc. */
export async function main(options: ExampleOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  const rabbitMQConfig = exampleRabbitMQConfig(options, "examples.basic");
  // Stands in for the services consuming the events: without a bound queue
  // they would be unroutable.
  await using inbox = await Inbox.open(rabbitMQConfig);
  const storageDir = await Deno.makeTempDir({ prefix: "rabbitmq-publisher-basic-" });
  try {
    const publisher = await createRabbitMQAsyncEventPublisher(rabbitMQConfig, {
      maxConcurrency: 10,
      enableBackgroundProcessing: true,
      bufferConfig: {
        maxBufferSize: 5000,
        enablePersistence: true,
        persistentStoragePath: `${storageDir}/event-buffer`,
      },
    }, { logger: exampleLogger(log) });
    try {
      await publishAndReport(publisher, inbox, log);
    } finally {
      const report = await publisher.close();
      log(
        `Closed: ${report.remaining} events remaining, timed out: ${report.timedOut}, ` +
          `persistent: ${report.persistent}.`,
      );
    }
  } finally {
    await Deno.remove(storageDir, { recursive: true });
  }
}

async function publishAndReport(
  publisher: RabbitMQAsyncEventPublisher,
  inbox: Inbox,
  log: (line: string) => void,
): Promise<void> {
  log(`Connected to ${publisher.getStats().brokerUrl}.`);

  const failure = sampleEvent("recording.failed", {
    recordingId: "123",
    error: "Storage failure",
  }, "high");
  const receipt = await publisher.publish(failure);
  log(`Published high-priority ${failure.type} ${receipt.id}: status "${receipt.status}".`);

  const events = Array.from(
    { length: 20 },
    (_, i) => sampleEvent("recording.chunk.uploaded", { recordingId: "123", chunk: i }),
  );
  const receipts = await publisher.publishBatch(events);
  const statuses = countBy(receipts.map((r) => r.status));
  log(`Published a batch of ${receipts.length} normal events: ${describe(statuses)}.`);

  const remaining = await publisher.flush();
  log(`Flushed: ${remaining} events still pending.`);
  await inbox.waitFor([failure, ...events].map((event) => event.id));
  log(`The consumer received all ${inbox.received} events.`);

  const stats = publisher.getStats();
  log(
    `Stats: ${stats.publishedEvents} published, ${stats.failedEvents} failed, ` +
      `${stats.queuedEvents} queued, ${stats.bufferedEvents} buffered, ` +
      `peak ${stats.peakActiveOperations} concurrent batches.`,
  );
}

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

function describe(counts: Map<string, number>): string {
  return [...counts].map(([status, n]) => `${n} "${status}"`).join(", ");
}

if (import.meta.main) await runExample(main);
