/**
 * Monitoring: what `getStats()`, `getHealth()` and the buffer's statistics
 * say while events wait, and after they are sent. Background processing is
 * off and the buffer is small, so the events wait until `flush()` and the
 * buffer health check fails in between.
 *
 * Needs a RabbitMQ broker (`RABBITMQ_URL`, default amqp://guest:guest@localhost:5672).
 *
 * Run it with:
 *
 *     deno run -A examples/monitoring.ts
 *
 * It publishes to the exchange `examples.monitoring`.
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
  const rabbitMQConfig = exampleRabbitMQConfig(options, "examples.monitoring");
  await using inbox = await Inbox.open(rabbitMQConfig);
  const publisher = await createRabbitMQAsyncEventPublisher(rabbitMQConfig, {
    enableBackgroundProcessing: false,
    bufferConfig: { maxBufferSize: 20 },
  }, { logger: exampleLogger(log) });
  try {
    const events = Array.from(
      { length: 19 },
      (_, i) => sampleEvent("listener.joined", { sessionId: "s-42", listener: i }),
    );
    await publisher.publishBatch(events);
    log(`Published ${events.length} events; with background processing off they wait.`);
    report(publisher, log);

    const remaining = await publisher.flush();
    await inbox.waitFor(events.map((event) => event.id));
    log(`Flushed: ${remaining} events pending, the consumer received ${inbox.received}.`);
    report(publisher, log);
  } finally {
    const closing = await publisher.close();
    log(`Closed with ${closing.remaining} events remaining.`);
  }
}

function report(publisher: RabbitMQAsyncEventPublisher, log: (line: string) => void): void {
  const stats = publisher.getStats();
  log(
    `  Stats: ${stats.publishedEvents} published, ${stats.failedEvents} failed, ` +
      `RabbitMQ available: ${stats.isRabbitMQAvailable}, circuit ${stats.circuitState}.`,
  );
  const { size, maxSize, bytes, byPriority, oldestEventAgeMs } = stats.bufferStats;
  log(
    `  Buffer stats: ${size}/${maxSize} events (${bytes} bytes; high ${byPriority.high}, ` +
      `normal ${byPriority.normal}, low ${byPriority.low}), oldest ${oldestEventAgeMs} ms old.`,
  );

  const health = publisher.getHealth();
  log(`  Publisher healthy: ${health.healthy}.`);
  for (const [name, check] of Object.entries(health.checks)) {
    if (!check.ok) log(`  Failed check "${name}": ${check.reason}.`);
  }

  const bufferStats = publisher.getEventBuffer().getStats();
  log(`  Buffer utilization: ${bufferStats.utilizationPercent}%.`);
}

if (import.meta.main) await runExample(main);
