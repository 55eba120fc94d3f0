/**
 * The option types of the publisher: what a caller may pass
 * ({@linkcode RabbitMQConfig}, {@linkcode AsyncPublishConfig} and its
 * sections), what resolution returns (the `Resolved*` types), and the lists of
 * allowed values ({@linkcode EXCHANGE_TYPES}, {@linkcode OVERFLOW_POLICIES})
 * that their union types are derived from.
 *
 * @module
 */

import type { DomainEvent } from "../event.ts";

/**
 * Every exchange type that `RabbitMQConfig.exchangeType` accepts, each
 * described at {@linkcode ExchangeType}; that union is derived from this list,
 * so the two cannot drift apart.
 *
 * @example
 * ```ts
 * import { EXCHANGE_TYPES } from "@simplycaster/rabbitmq-publisher";
 *
 * console.log(EXCHANGE_TYPES.includes("fanout")); // true
 * ```
 */
export const EXCHANGE_TYPES = ["topic", "direct", "fanout", "headers"] as const;

/**
 * The type of the exchange events are published to, one of
 * {@linkcode EXCHANGE_TYPES}:
 *
 * - `"topic"`: routes by pattern (`orders.*` matches `orders.created`);
 * - `"direct"`: routes to queues bound with exactly the routing key;
 * - `"fanout"`: routes to every bound queue, ignoring the routing key;
 * - `"headers"`: routes by message headers, ignoring the routing key.
 *
 * @example
 * ```ts
 * import type { ExchangeType } from "@simplycaster/rabbitmq-publisher";
 *
 * const exchangeType: ExchangeType = "fanout";
 * ```
 */
export type ExchangeType = typeof EXCHANGE_TYPES[number];

/**
 * Every queue type that `RabbitMQConfig.deadLetterQueueType` accepts, each
 * described at {@linkcode DeadLetterQueueType}.
 *
 * @example
 * ```ts
 * import { DEAD_LETTER_QUEUE_TYPES } from "@simplycaster/rabbitmq-publisher";
 *
 * console.log(DEAD_LETTER_QUEUE_TYPES[0]); // "quorum"
 * ```
 */
export const DEAD_LETTER_QUEUE_TYPES = ["quorum", "classic", "stream"] as const;

/**
 * The type of the dead-letter queue the publisher declares, one of
 * {@linkcode DEAD_LETTER_QUEUE_TYPES}:
 *
 * - `"quorum"` (the default): replicated on a majority of the cluster's
 *   nodes, so it survives the loss of any one; what RabbitMQ recommends for
 *   data safety since 3.8 (classic mirroring is gone in 4.0). On a single
 *   node it is a quorum queue of one member.
 * - `"classic"`: lives on the node that declared it first; while that node is
 *   down the queue cannot be reached (dead letters then wait locally).
 * - `"stream"`: an append-only log (RabbitMQ 3.9+); `DeadLetterQueue` cannot
 *   read, replay or purge it (streams do not support `basic.get`), only the
 *   letters still held locally.
 *
 * A queue that already exists with other arguments is used as it is, with a
 * warning: the type only applies when the publisher creates the queue.
 *
 * @example
 * ```ts
 * import type { DeadLetterQueueType } from "@simplycaster/rabbitmq-publisher";
 *
 * const deadLetterQueueType: DeadLetterQueueType = "classic";
 * ```
 */
export type DeadLetterQueueType = typeof DEAD_LETTER_QUEUE_TYPES[number];

/**
 * Where the connection goes and what it declares. Every field is optional;
 * {@linkcode resolveRabbitMQConfig} fills in the defaults and validates.
 *
 * @example
 * ```ts
 * import { type RabbitMQConfig, resolveRabbitMQConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const config: RabbitMQConfig = {
 *   url: ["amqp://app:secret@rabbit-1:5672", "amqp://app:secret@rabbit-2:5672"],
 *   exchange: "orders",
 *   exchangeType: "topic",
 *   routingKey: (event) => `orders.${event.type}`,
 *   heartbeat: 30,
 *   connectionName: "order-service",
 *   reconnectBaseDelay: 500,
 *   reconnectMaxDelay: 30_000,
 * };
 * console.log(resolveRabbitMQConfig(config).deadLetterQueue); // "orders.dead-letter"
 * ```
 */
export interface RabbitMQConfig {
  /**
   * One broker URL, or several (a cluster): they are tried in turn.
   * @default {"amqp://guest:guest@localhost:5672"}
   */
  url?: string | string[];
  /**
   * The exchange events are published to; declared durable on every connect.
   * @default {"domain-events"}
   */
  exchange?: string;
  /**
   * The exchange type.
   * @default {"topic"}
   */
  exchangeType?: ExchangeType;
  /**
   * Chooses each event's routing key.
   * @default {(event) => event.type}
   */
  routingKey?: (event: DomainEvent) => string;
  /**
   * AMQP heartbeat in seconds; 0 turns heartbeats off.
   * @default {30}
   */
  heartbeat?: number;
  /**
   * The connection name shown in the RabbitMQ management UI.
   * @default {"rabbitmq-publisher"}
   */
  connectionName?: string;
  /**
   * The dead-letter exchange (durable, fanout).
   * @default {"<exchange>.dead-letter"}
   */
  deadLetterExchange?: string;
  /**
   * The dead-letter queue, bound to the dead-letter exchange.
   * @default {"<exchange>.dead-letter"}
   */
  deadLetterQueue?: string;
  /**
   * The type of the dead-letter queue when the publisher creates it; see
   * {@linkcode DeadLetterQueueType}. An existing queue is used as it is.
   * @default {"quorum"}
   */
  deadLetterQueueType?: DeadLetterQueueType;
  /**
   * First delay between reconnection attempts, in ms; it doubles up to `reconnectMaxDelay`.
   * @default {500}
   */
  reconnectBaseDelay?: number;
  /**
   * Longest delay between reconnection attempts, in ms.
   * @default {30000}
   */
  reconnectMaxDelay?: number;
}

/**
 * Retries of failed sends. `maxRetries` counts every delivery attempt, the
 * first one included.
 *
 * @example
 * ```ts
 * import type { RetryConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * // Up to 8 attempts, waiting at most 0.5 s, 1 s, 2 s, ... capped at 10 s between them.
 * const retry: RetryConfig = { maxRetries: 8, baseDelay: 500, maxDelay: 10_000, multiplier: 2 };
 * ```
 */
export interface RetryConfig {
  /**
   * Attempts after which a retriable failure becomes a dead letter (`max-retries`).
   * @default {5}
   */
  maxRetries?: number;
  /**
   * Delay before the second attempt, in ms (full jitter applies).
   * @default {1000}
   */
  baseDelay?: number;
  /**
   * Longest delay between attempts, in ms.
   * @default {60000}
   */
  maxDelay?: number;
  /**
   * Growth of the delay per attempt.
   * @default {2}
   */
  multiplier?: number;
}

/**
 * The circuit breaker in front of the broker.
 *
 * @example
 * ```ts
 * import type { CircuitBreakerConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const circuitBreaker: CircuitBreakerConfig = { failureThreshold: 3, resetTimeout: 10_000 };
 * ```
 */
export interface CircuitBreakerConfig {
  /**
   * Consecutive failed sends that open the circuit.
   * @default {5}
   */
  failureThreshold?: number;
  /**
   * How long the circuit stays open before a probe, in ms.
   * @default {30000}
   */
  resetTimeout?: number;
}

/**
 * Every policy that `EventBufferConfig.overflowPolicy` accepts, each described
 * at {@linkcode OverflowPolicy}; that union is derived from this list, so the
 * two cannot drift apart.
 *
 * @example
 * ```ts
 * import { OVERFLOW_POLICIES } from "@simplycaster/rabbitmq-publisher";
 *
 * console.log(OVERFLOW_POLICIES); // ["reject", "drop-oldest-lowest-priority"]
 * ```
 */
export const OVERFLOW_POLICIES = ["reject", "drop-oldest-lowest-priority"] as const;

/**
 * What to do when an event arrives and the store is full, one of
 * {@linkcode OVERFLOW_POLICIES}:
 *
 * - `"reject"`: refuse the new event with `BufferFullError`;
 * - `"drop-oldest-lowest-priority"`: make room by evicting pending events,
 *   the lowest priority first and the oldest first within it; each evicted
 *   event is dead-lettered as `evicted` (counted in `droppedEvents`, logged
 *   once per burst with a count). It never evicts an event more urgent than
 *   the one arriving (the most urgent of a batch), nor one in flight (sent
 *   and awaiting its confirm). So it still rejects with `BufferFullError`,
 *   saying why, when the events it may evict do not make room: a low event
 *   arriving at a buffer full of normal and high ones, or a buffer full of
 *   events in flight; and when the events arriving alone exceed the buffer.
 *
 * @example
 * ```ts
 * import type { OverflowPolicy } from "@simplycaster/rabbitmq-publisher";
 *
 * // Keep accepting; the oldest low-priority events become "evicted" dead letters.
 * const overflowPolicy: OverflowPolicy = "drop-oldest-lowest-priority";
 * ```
 */
export type OverflowPolicy = typeof OVERFLOW_POLICIES[number];

/**
 * The pending-event buffer: every accepted event waits here until RabbitMQ
 * confirms it, and during an outage it is the outage buffer.
 *
 * @example
 * ```ts
 * import type { EventBufferConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const bufferConfig: EventBufferConfig = {
 *   maxBufferSize: 50_000,
 *   maxEventAge: 24 * 3_600_000,
 *   enablePersistence: true,
 *   persistentStoragePath: "./data/events.kv",
 *   cleanupInterval: 300_000,
 *   maxPersistentSize: 200 * 1024 * 1024,
 *   flushBatchSize: 500,
 *   overflowPolicy: "drop-oldest-lowest-priority",
 * };
 * ```
 */
export interface EventBufferConfig {
  /**
   * Maximum pending events (the buffer's capacity).
   * @default {10000}
   */
  maxBufferSize?: number;
  /**
   * Age in ms after which a pending event is dead-lettered as `expired`.
   * @default {3600000}
   */
  maxEventAge?: number;
  /**
   * Keep pending events in Deno KV, so they survive restarts and crashes.
   * @default {false}
   */
  enablePersistence?: boolean;
  /**
   * The Deno KV file (created with its directory when missing).
   * @default {"./data/event-buffer.json"}
   */
  persistentStoragePath?: string;
  /**
   * How often expired events are removed, in ms.
   * @default {300000}
   */
  cleanupInterval?: number;
  /**
   * Maximum pending bytes (sum of encoded bodies).
   * @default {52428800}
   */
  maxPersistentSize?: number;
  /**
   * Events per batch when draining a backlog after an outage.
   * @default {100}
   */
  flushBatchSize?: number;
  /**
   * What happens when the buffer is full.
   * @default {"reject"}
   */
  overflowPolicy?: OverflowPolicy;
}

/**
 * The asynchronous publishing pipeline. Every field is optional;
 * {@linkcode resolveAsyncPublishConfig} fills in the defaults field by field,
 * nested sections included.
 *
 * @example
 * ```ts
 * import {
 *   type AsyncPublishConfig,
 *   resolveAsyncPublishConfig,
 * } from "@simplycaster/rabbitmq-publisher";
 *
 * const config: AsyncPublishConfig = {
 *   batchSize: 100,
 *   flushInterval: 1_000,
 *   maxConcurrency: 4,
 *   publishTimeout: 10_000,
 *   bufferConfig: { enablePersistence: true, persistentStoragePath: "./data/events.kv" },
 *   retry: { maxRetries: 8 },
 *   circuitBreaker: { failureThreshold: 3 },
 * };
 * console.log(resolveAsyncPublishConfig(config).retry); // { maxRetries: 8, baseDelay: 1000, maxDelay: 60000, multiplier: 2 }
 * ```
 */
export interface AsyncPublishConfig {
  /**
   * Maximum pending events held in memory at once; with persistence the rest wait on disk.
   * @default {1000}
   */
  maxBufferSize?: number;
  /**
   * Longest wait before a partial batch is sent, in ms.
   * @default {5000}
   */
  flushInterval?: number;
  /**
   * Batches awaiting confirms at once, in the sense of the default of
   * `maxInFlight` (`maxConcurrency × batchSize` events): the window itself
   * is counted in events.
   * @default {10}
   */
  maxConcurrency?: number;
  /**
   * The most events sent and awaiting their confirms at once. A confirm
   * frees its event's place at once (the window slides), whatever became of
   * the rest of its batch.
   * @default {maxConcurrency × batchSize}
   */
  maxInFlight?: number;
  /**
   * Send queued events in the background; when `false`, only `flush()` sends them.
   * @default {true}
   */
  enableBackgroundProcessing?: boolean;
  /**
   * Events per batch.
   * @default {50}
   */
  batchSize?: number;
  /**
   * Longest wait for a publisher confirm, in ms.
   * @default {30000}
   */
  publishTimeout?: number;
  /**
   * Largest encoded event body, in bytes.
   * @default {61440}
   */
  maxMessageBytes?: number;
  /** The pending-event buffer. */
  bufferConfig?: EventBufferConfig;
  /** Retries of failed sends. */
  retry?: RetryConfig;
  /** The circuit breaker. */
  circuitBreaker?: CircuitBreakerConfig;
}

/**
 * Where configuration is read from: anything with a `get` like `Deno.env`,
 * so tests can pass a `Map` instead of touching the process environment.
 *
 * @example
 * ```ts
 * import { type EnvReader, parseRabbitMQConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const env: EnvReader = new Map([["RABBITMQ_EXCHANGE", "orders"]]);
 * console.log(parseRabbitMQConfig(env).exchange); // "orders"
 * ```
 */
export interface EnvReader {
  /**
   * The value of a variable, or `undefined` when it is not set.
   *
   * @param name The variable's name.
   * @returns The value, or `undefined` when the variable is not set.
   */
  get(name: string): string | undefined;
}

/**
 * A {@linkcode RabbitMQConfig} with every default applied and `url` normalised to `urls`.
 *
 * @example
 * ```ts
 * import {
 *   type ResolvedRabbitMQConfig,
 *   resolveRabbitMQConfig,
 * } from "@simplycaster/rabbitmq-publisher";
 *
 * const config: ResolvedRabbitMQConfig = resolveRabbitMQConfig({ url: "amqp://rabbit:5672" });
 * console.log(config.urls, config.exchange, config.heartbeat); // ["amqp://rabbit:5672"] "domain-events" 30
 * ```
 */
export interface ResolvedRabbitMQConfig extends Required<Omit<RabbitMQConfig, "url">> {
  /** The broker URLs, tried in turn; never empty. */
  urls: string[];
}

/**
 * An {@linkcode EventBufferConfig} with every default applied.
 *
 * @example
 * ```ts
 * import {
 *   resolveAsyncPublishConfig,
 *   type ResolvedEventBufferConfig,
 * } from "@simplycaster/rabbitmq-publisher";
 *
 * const buffer: ResolvedEventBufferConfig = resolveAsyncPublishConfig().bufferConfig;
 * console.log(buffer.overflowPolicy); // "reject"
 * ```
 */
export type ResolvedEventBufferConfig = Required<EventBufferConfig>;

/**
 * A {@linkcode RetryConfig} with every default applied.
 *
 * @example
 * ```ts
 * import { resolveAsyncPublishConfig, type ResolvedRetryConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const retry: ResolvedRetryConfig = resolveAsyncPublishConfig({ retry: { maxRetries: 3 } }).retry;
 * console.log(retry); // { maxRetries: 3, baseDelay: 1000, maxDelay: 60000, multiplier: 2 }
 * ```
 */
export type ResolvedRetryConfig = Required<RetryConfig>;

/**
 * A {@linkcode CircuitBreakerConfig} with every default applied.
 *
 * @example
 * ```ts
 * import {
 *   type ResolvedCircuitBreakerConfig,
 *   resolveAsyncPublishConfig,
 * } from "@simplycaster/rabbitmq-publisher";
 *
 * const breaker: ResolvedCircuitBreakerConfig = resolveAsyncPublishConfig().circuitBreaker;
 * console.log(breaker); // { failureThreshold: 5, resetTimeout: 30000 }
 * ```
 */
export type ResolvedCircuitBreakerConfig = Required<CircuitBreakerConfig>;

/**
 * An {@linkcode AsyncPublishConfig} with every default applied, nested sections included.
 *
 * @example
 * ```ts
 * import {
 *   type ResolvedAsyncPublishConfig,
 *   resolveAsyncPublishConfig,
 * } from "@simplycaster/rabbitmq-publisher";
 *
 * const config: ResolvedAsyncPublishConfig = resolveAsyncPublishConfig({ batchSize: 10 });
 * console.log(config.batchSize, config.bufferConfig.maxBufferSize); // 10 10000
 * ```
 */
export interface ResolvedAsyncPublishConfig
  extends Required<Omit<AsyncPublishConfig, "bufferConfig" | "retry" | "circuitBreaker">> {
  /** The pending-event buffer. */
  bufferConfig: ResolvedEventBufferConfig;
  /** Retries of failed sends. */
  retry: ResolvedRetryConfig;
  /** The circuit breaker. */
  circuitBreaker: ResolvedCircuitBreakerConfig;
}
