// The specification's "Basic Usage", as written (only the import differs),
// run as a program by create_test.ts. Where to connect, the exchange and the
// store's path come from the RABBITMQ_* variables the program is started
// with, beneath the options in the code. It prints the receipts as JSON.

import {
  createRabbitMQAsyncEventPublisher,
  type DomainEvent,
  type RabbitMQConfig,
} from "../../mod.ts";

// The specification leaves these two to the reader.
const rabbitMQConfig: RabbitMQConfig = {};
const events: DomainEvent[] = ["r-1", "r-2", "r-3"].map((recordingId) => ({
  id: crypto.randomUUID(),
  type: "recording.started",
  version: "1.0",
  timestamp: new Date(),
  data: { recordingId },
  metadata: { source: "simplycast", priority: "normal" },
}));

// ---- the specification's code ----

// Create async publisher
const publisher = await createRabbitMQAsyncEventPublisher(rabbitMQConfig, {
  maxConcurrency: 10,
  enableBackgroundProcessing: true,
  bufferConfig: {
    maxBufferSize: 5000,
    enablePersistence: true,
  },
});

// Publish high priority event (immediate)
const high = await publisher.publish({
  id: crypto.randomUUID(),
  type: "recording.failed",
  version: "1.0",
  timestamp: new Date(),
  data: { recordingId: "123", error: "Storage failure" },
  metadata: { source: "simplycast", priority: "high" },
});

// Publish batch (queued for processing)
const batch = await publisher.publishBatch(events);

// ---- end ----

const { maxSize } = publisher.getEventBuffer().getStats();
const report = await publisher.close();
console.log(
  JSON.stringify({ high: high.status, batch: batch.map((r) => r.status), maxSize, report }),
);
