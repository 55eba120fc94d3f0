/**
 * Publish domain events to RabbitMQ from Deno without blocking on the broker
 * and without losing an event you have accepted.
 *
 * - `publish()` validates, stores and returns at once; `high` priority waits
 *   for RabbitMQ's publisher confirm.
 * - A background dispatcher sends the rest in batches, with bounded
 *   concurrency and a publish timeout.
 * - During an outage events wait in the pending store (in memory, or on disk
 *   in Deno KV with `enablePersistence`) and are delivered when the broker is
 *   back, high priority first.
 * - Retries with backoff, a circuit breaker, and a dead-letter queue.
 *
 * @example
 * ```ts ignore
 * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
 *
 * const publisher = await createRabbitMQAsyncEventPublisher(
 *   { url: "amqp://guest:guest@localhost:5672", exchange: "domain-events" },
 *   { bufferConfig: { enablePersistence: true } },
 * );
 * await publisher.publish({
 *   id: crypto.randomUUID(),
 *   type: "user.created",
 *   data: { userId: 7 },
 *   metadata: { source: "accounts", priority: "high" },
 * });
 * await publisher.close();
 * ```
 *
 * @module
 */

export * from "./src/errors.ts";
export * from "./src/event.ts";
export * from "./src/config/types.ts";
export * from "./src/config/defaults.ts";
export * from "./src/config/env.ts";
export * from "./src/config/resolve.ts";
export * from "./src/logger.ts";
export * from "./src/amqp/transport.ts";
export * from "./src/amqp/amqp_transport.ts";
export * from "./src/store/store.ts";
export * from "./src/store/memory_store.ts";
export * from "./src/store/kv/kv_store.ts";
export * from "./src/policies/retry.ts";
export * from "./src/policies/error_classification.ts";
export * from "./src/policies/circuit_breaker.ts";
export * from "./src/dead_letters/dead_letter.ts";
export * from "./src/dead_letters/queue.ts";
export * from "./src/dead_letters/shipper.ts";
export * from "./src/publisher/types.ts";
export * from "./src/publisher/health.ts";
export * from "./src/publisher/publisher.ts";
export * from "./src/publisher/create.ts";
