/**
 * The built-in defaults: the frozen `DEFAULT_*` constants that
 * resolution fills left-out fields from.
 *
 * @module
 */

import { DEFAULT_MAX_MESSAGE_BYTES, type DomainEvent } from "../event.ts";
import type {
  RabbitMQConfig,
  ResolvedAsyncPublishConfig,
  ResolvedCircuitBreakerConfig,
  ResolvedEventBufferConfig,
  ResolvedRetryConfig,
} from "./types.ts";

/**
 * The defaults of {@linkcode RabbitMQConfig}, but for the dead-letter
 * exchange and queue: those are named after the exchange,
 * `<exchange>.dead-letter`.
 *
 * @example
 * ```ts
 * import { DEFAULT_RABBITMQ_CONFIG } from "./defaults.ts";
 *
 * console.log(DEFAULT_RABBITMQ_CONFIG.exchange, DEFAULT_RABBITMQ_CONFIG.heartbeat); // domain-events 30
 * ```
 */
export const DEFAULT_RABBITMQ_CONFIG: Readonly<
  & Required<Omit<RabbitMQConfig, "url" | "deadLetterExchange" | "deadLetterQueue">>
  & { url: string }
> = Object.freeze({
  url: "amqp://guest:guest@localhost:5672",
  exchange: "domain-events",
  exchangeType: "topic",
  routingKey: (event: DomainEvent) => event.type,
  heartbeat: 30,
  connectionName: "rabbitmq-publisher",
  deadLetterQueueType: "quorum",
  reconnectBaseDelay: 500,
  reconnectMaxDelay: 30_000,
});

/**
 * The defaults of {@linkcode EventBufferConfig}.
 *
 * @example
 * ```ts
 * import { DEFAULT_EVENT_BUFFER_CONFIG } from "./defaults.ts";
 *
 * console.log(DEFAULT_EVENT_BUFFER_CONFIG.maxBufferSize); // 10000
 * ```
 */
export const DEFAULT_EVENT_BUFFER_CONFIG: Readonly<ResolvedEventBufferConfig> = Object.freeze({
  maxBufferSize: 10_000,
  maxEventAge: 3_600_000,
  enablePersistence: false,
  persistentStoragePath: "./data/event-buffer.json",
  cleanupInterval: 300_000,
  maxPersistentSize: 52_428_800,
  flushBatchSize: 100,
  overflowPolicy: "reject",
});

/**
 * The defaults of {@linkcode RetryConfig}.
 *
 * @example
 * ```ts
 * import { DEFAULT_RETRY_CONFIG } from "./defaults.ts";
 *
 * console.log(DEFAULT_RETRY_CONFIG); // { maxRetries: 5, baseDelay: 1000, maxDelay: 60000, multiplier: 2 }
 * ```
 */
export const DEFAULT_RETRY_CONFIG: Readonly<ResolvedRetryConfig> = Object.freeze({
  maxRetries: 5,
  baseDelay: 1_000,
  maxDelay: 60_000,
  multiplier: 2,
});

/**
 * The defaults of {@linkcode CircuitBreakerConfig}.
 *
 * @example
 * ```ts
 * import { DEFAULT_CIRCUIT_BREAKER_CONFIG } from "./defaults.ts";
 *
 * console.log(DEFAULT_CIRCUIT_BREAKER_CONFIG); // { failureThreshold: 5, resetTimeout: 30000 }
 * ```
 */
export const DEFAULT_CIRCUIT_BREAKER_CONFIG: Readonly<ResolvedCircuitBreakerConfig> = Object
  .freeze({
    failureThreshold: 5,
    resetTimeout: 30_000,
  });

/**
 * The defaults of {@linkcode AsyncPublishConfig}; its nested sections are the
 * other frozen `DEFAULT_*` constants.
 *
 * @example
 * ```ts
 * import {
 *   DEFAULT_ASYNC_PUBLISH_CONFIG,
 *   DEFAULT_RETRY_CONFIG,
 * } from "./defaults.ts";
 *
 * console.log(DEFAULT_ASYNC_PUBLISH_CONFIG.batchSize); // 50
 * console.log(DEFAULT_ASYNC_PUBLISH_CONFIG.retry === DEFAULT_RETRY_CONFIG); // true
 * console.log(Object.isFrozen(DEFAULT_ASYNC_PUBLISH_CONFIG)); // true
 * ```
 */
export const DEFAULT_ASYNC_PUBLISH_CONFIG: Readonly<ResolvedAsyncPublishConfig> = Object.freeze({
  maxBufferSize: 1_000,
  flushInterval: 5_000,
  maxConcurrency: 10,
  // Resolution derives it from maxConcurrency × batchSize when it is not given.
  maxInFlight: 500,
  enableBackgroundProcessing: true,
  batchSize: 50,
  publishTimeout: 30_000,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  bufferConfig: DEFAULT_EVENT_BUFFER_CONFIG,
  retry: DEFAULT_RETRY_CONFIG,
  circuitBreaker: DEFAULT_CIRCUIT_BREAKER_CONFIG,
});
