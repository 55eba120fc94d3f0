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

export {
  BrokerConfigurationError,
  BufferFullError,
  EventValidationError,
  PublisherClosedError,
  PublishTimeoutError,
  StoreError,
  type StoreErrorKind,
  StoreLockedError,
  TransportError,
  type TransportErrorKind,
} from "./src/errors.ts";
export {
  type DomainEvent,
  type EncodedEvent,
  encodeEvent,
  type EncodeOptions,
  type EventMetadata,
  type EventPriority,
  type MessageProperties,
  PRIORITIES,
} from "./src/event.ts";
export {
  type AsyncPublishConfig,
  type CircuitBreakerConfig,
  DEAD_LETTER_QUEUE_TYPES,
  type DeadLetterQueueType,
  type EnvReader,
  type EventBufferConfig,
  EXCHANGE_TYPES,
  type ExchangeType,
  OVERFLOW_POLICIES,
  type OverflowPolicy,
  type RabbitMQConfig,
  type ResolvedAsyncPublishConfig,
  type ResolvedCircuitBreakerConfig,
  type ResolvedEventBufferConfig,
  type ResolvedRabbitMQConfig,
  type ResolvedRetryConfig,
  type RetryConfig,
} from "./src/config/types.ts";
export {
  parseAsyncPublishConfig,
  parseRabbitMQConfig,
  readAsyncPublishEnv,
  readRabbitMQEnv,
} from "./src/config/env.ts";
export {
  mergeAsyncPublishConfig,
  resolveAsyncPublishConfig,
  resolveRabbitMQConfig,
} from "./src/config/resolve.ts";
export { type Logger, quietLogger } from "./src/logger.ts";
export {
  type ConnectionState,
  type ConnectionStateChange,
  type OutboundMessage,
  type SendOptions,
  type SendOutcome,
  type Transport,
} from "./src/amqp/transport.ts";
export { AmqpTransport, type AmqpTransportOptions } from "./src/amqp/amqp_transport.ts";
export {
  type AddResult,
  DEAD_LETTER_REASONS,
  type DeadLetterReason,
  type DeadLetterRecord,
  type NewRecord,
  type PendingRecord,
  type PendingStore,
  type StoreLimits,
  type StoreStats,
} from "./src/store/store.ts";
export { MemoryStore } from "./src/store/memory_store.ts";
export { KvStore, type KvStoreOptions } from "./src/store/kv/kv_store.ts";
export { classifyError, type ErrorClassification } from "./src/policies/error_classification.ts";
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitBreakerSnapshot,
  type CircuitState,
  type CircuitStateChange,
} from "./src/policies/circuit_breaker.ts";
export { type DeadLetter, type DeadLetterProperties } from "./src/dead_letters/dead_letter.ts";
export {
  type DeadLetterCount,
  type DeadLetterList,
  DeadLetterQueue,
  type DeadLetterQueueOptions,
  type ListDeadLettersOptions,
  type ReplayOptions,
  type ReplayResult,
} from "./src/dead_letters/queue.ts";
export {
  type CloseOptions,
  type CloseReport,
  type EventPublisher,
  type FlushOptions,
  type PublisherOptions,
  type PublishReceipt,
  type PublishStatus,
} from "./src/publisher/types.ts";
export {
  type EventBufferStats,
  type HealthCheck,
  type LastError,
  type PublisherHealth,
  type PublisherStats,
  RabbitMQEventBuffer,
} from "./src/publisher/health.ts";
export { RabbitMQAsyncEventPublisher } from "./src/publisher/publisher.ts";
export { createRabbitMQAsyncEventPublisher } from "./src/publisher/create.ts";
