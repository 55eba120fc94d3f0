/**
 * Configuration: the options of the publisher, their defaults, and readers
 * for the `RABBITMQ_*` environment variables.
 *
 * @module
 */

import { maskCredentials, maskUrl } from "../_mask.ts";
import { DEFAULT_MAX_MESSAGE_BYTES, type DomainEvent, utf8Length } from "../event.ts";

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
  exchangeType?: "topic" | "direct" | "fanout" | "headers";
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
 * What to do when an event arrives and the store is full.
 *
 * @example
 * ```ts
 * import type { OverflowPolicy } from "@simplycaster/rabbitmq-publisher";
 *
 * // Keep accepting; the oldest low-priority events become "evicted" dead letters.
 * const overflowPolicy: OverflowPolicy = "drop-oldest-lowest-priority";
 * ```
 */
export type OverflowPolicy =
  /** Refuse the new event with `BufferFullError`. */
  | "reject"
  /**
   * Evict the oldest event of the lowest priority present (never one of a
   * higher priority than the newcomer); the evicted event is dead-lettered.
   */
  | "drop-oldest-lowest-priority";

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
   * Maximum batches awaiting confirms at once.
   * @default {10}
   */
  maxConcurrency?: number;
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

/**
 * The defaults of {@linkcode EventBufferConfig}.
 *
 * @example
 * ```ts
 * import { DEFAULT_EVENT_BUFFER_CONFIG } from "@simplycaster/rabbitmq-publisher";
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
 * import { DEFAULT_RETRY_CONFIG } from "@simplycaster/rabbitmq-publisher";
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
 * import { DEFAULT_CIRCUIT_BREAKER_CONFIG } from "@simplycaster/rabbitmq-publisher";
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
 * } from "@simplycaster/rabbitmq-publisher";
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
  enableBackgroundProcessing: true,
  batchSize: 50,
  publishTimeout: 30_000,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  bufferConfig: DEFAULT_EVENT_BUFFER_CONFIG,
  retry: DEFAULT_RETRY_CONFIG,
  circuitBreaker: DEFAULT_CIRCUIT_BREAKER_CONFIG,
});

const DEFAULT_URL = "amqp://guest:guest@localhost:5672";
const DEFAULT_EXCHANGE = "domain-events";
const EXCHANGE_TYPES = ["topic", "direct", "fanout", "headers"] as const;
const OVERFLOW_POLICIES: readonly OverflowPolicy[] = ["reject", "drop-oldest-lowest-priority"];
// One Deno KV atomic operation holds at most 1000 mutations, so a batch that is
// stored or deleted in one commit cannot be larger.
const MAX_KV_BATCH = 1_000;
// setTimeout fires at once for delays beyond a signed 32-bit integer.
const MAX_TIMER_MS = 2_147_483_647;

type Rule =
  | { type: "number"; expected: string; ok: (value: number) => boolean }
  | { type: "string"; expected: string; ok: (value: string) => boolean }
  | { type: "boolean"; expected: string }
  | { type: "function"; expected: string };

const positiveInteger: Rule = {
  type: "number",
  expected: "a positive integer",
  ok: (n) => Number.isSafeInteger(n) && n > 0,
};
const kvBatchSize: Rule = {
  type: "number",
  expected: `a positive integer of at most ${MAX_KV_BATCH} (one Deno KV atomic operation)`,
  ok: (n) => Number.isSafeInteger(n) && n > 0 && n <= MAX_KV_BATCH,
};
const timerMs: Rule = {
  type: "number",
  expected: `a positive number of milliseconds of at most ${MAX_TIMER_MS}`,
  ok: (n) => n > 0 && n <= MAX_TIMER_MS,
};
const durationMs: Rule = {
  type: "number",
  expected: "a positive, finite number of milliseconds",
  ok: (n) => n > 0 && Number.isFinite(n),
};
const boolean: Rule = { type: "boolean", expected: "a boolean" };
const nonEmptyString: Rule = {
  type: "string",
  expected: "a non-empty string",
  ok: (s) => s !== "",
};
const amqpName: Rule = {
  type: "string",
  expected:
    'a non-empty name of at most 255 bytes, not starting with "amq." (reserved by RabbitMQ)',
  ok: (s) => s !== "" && utf8Length(s) <= 255 && !s.startsWith("amq."),
};

function oneOf(values: readonly string[]): Rule {
  const quoted = values.map((v) => JSON.stringify(v));
  return {
    type: "string",
    expected: `one of ${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`,
    ok: (s) => values.includes(s),
  };
}

type RabbitMQField = Exclude<keyof ResolvedRabbitMQConfig, "urls">;
const RABBITMQ_RULES: Record<RabbitMQField, Rule> = {
  exchange: amqpName,
  exchangeType: oneOf(EXCHANGE_TYPES),
  routingKey: { type: "function", expected: "a function" },
  heartbeat: {
    type: "number",
    expected: "an integer from 0 to 65535 (seconds)",
    ok: (n) => Number.isInteger(n) && n >= 0 && n <= 65_535,
  },
  connectionName: nonEmptyString,
  deadLetterExchange: amqpName,
  deadLetterQueue: amqpName,
  reconnectBaseDelay: timerMs,
  reconnectMaxDelay: timerMs,
};

type Section = "bufferConfig" | "retry" | "circuitBreaker";
type AsyncField =
  | Exclude<keyof AsyncPublishConfig, Section>
  | `bufferConfig.${keyof EventBufferConfig}`
  | `retry.${keyof RetryConfig}`
  | `circuitBreaker.${keyof CircuitBreakerConfig}`;
const ASYNC_RULES: Record<AsyncField, Rule> = {
  maxBufferSize: positiveInteger,
  flushInterval: timerMs,
  maxConcurrency: positiveInteger,
  enableBackgroundProcessing: boolean,
  batchSize: kvBatchSize,
  publishTimeout: timerMs,
  maxMessageBytes: positiveInteger,
  "bufferConfig.maxBufferSize": positiveInteger,
  "bufferConfig.maxEventAge": durationMs,
  "bufferConfig.enablePersistence": boolean,
  "bufferConfig.persistentStoragePath": nonEmptyString,
  "bufferConfig.cleanupInterval": timerMs,
  "bufferConfig.maxPersistentSize": positiveInteger,
  "bufferConfig.flushBatchSize": kvBatchSize,
  "bufferConfig.overflowPolicy": oneOf(OVERFLOW_POLICIES),
  // The total number of attempts: at least the first one.
  "retry.maxRetries": positiveInteger,
  "retry.baseDelay": timerMs,
  "retry.maxDelay": timerMs,
  "retry.multiplier": {
    type: "number",
    expected: "a finite number of at least 1",
    ok: (n) => n >= 1 && Number.isFinite(n),
  },
  "circuitBreaker.failureThreshold": positiveInteger,
  "circuitBreaker.resetTimeout": timerMs,
};

const RABBITMQ_ENV: readonly (readonly [string, RabbitMQField])[] = [
  ["RABBITMQ_EXCHANGE", "exchange"],
  ["RABBITMQ_EXCHANGE_TYPE", "exchangeType"],
  ["RABBITMQ_HEARTBEAT", "heartbeat"],
  ["RABBITMQ_CONNECTION_NAME", "connectionName"],
  ["RABBITMQ_DEAD_LETTER_EXCHANGE", "deadLetterExchange"],
  ["RABBITMQ_DEAD_LETTER_QUEUE", "deadLetterQueue"],
];
const URL_VARIABLE = "RABBITMQ_URL";

const ASYNC_ENV: readonly (readonly [string, AsyncField])[] = [
  ["RABBITMQ_ASYNC_BUFFER_SIZE", "maxBufferSize"],
  ["RABBITMQ_ASYNC_FLUSH_INTERVAL", "flushInterval"],
  ["RABBITMQ_ASYNC_MAX_CONCURRENCY", "maxConcurrency"],
  ["RABBITMQ_ASYNC_BACKGROUND_PROCESSING", "enableBackgroundProcessing"],
  ["RABBITMQ_ASYNC_BATCH_SIZE", "batchSize"],
  ["RABBITMQ_ASYNC_PUBLISH_TIMEOUT", "publishTimeout"],
  ["RABBITMQ_ASYNC_MAX_MESSAGE_BYTES", "maxMessageBytes"],
  ["RABBITMQ_BUFFER_MAX_SIZE", "bufferConfig.maxBufferSize"],
  ["RABBITMQ_BUFFER_MAX_AGE", "bufferConfig.maxEventAge"],
  ["RABBITMQ_BUFFER_PERSISTENCE", "bufferConfig.enablePersistence"],
  ["RABBITMQ_BUFFER_STORAGE_PATH", "bufferConfig.persistentStoragePath"],
  ["RABBITMQ_BUFFER_CLEANUP_INTERVAL", "bufferConfig.cleanupInterval"],
  ["RABBITMQ_BUFFER_MAX_PERSISTENT_SIZE", "bufferConfig.maxPersistentSize"],
  ["RABBITMQ_BUFFER_FLUSH_BATCH_SIZE", "bufferConfig.flushBatchSize"],
  ["RABBITMQ_BUFFER_OVERFLOW_POLICY", "bufferConfig.overflowPolicy"],
  ["RABBITMQ_RETRY_MAX_ATTEMPTS", "retry.maxRetries"],
  ["RABBITMQ_RETRY_BASE_DELAY", "retry.baseDelay"],
  ["RABBITMQ_RETRY_MAX_DELAY", "retry.maxDelay"],
  ["RABBITMQ_RETRY_MULTIPLIER", "retry.multiplier"],
  ["RABBITMQ_CIRCUIT_FAILURE_THRESHOLD", "circuitBreaker.failureThreshold"],
  ["RABBITMQ_CIRCUIT_RESET_TIMEOUT", "circuitBreaker.resetTimeout"],
];

/** Turns a field's dotted path into the name an error message uses for it. */
type Namer = (path: string) => string;
const fieldName: Namer = (path) => `'${path}'`;

/** Names a field by its variable when the environment set it, by its path otherwise. */
function envNamer(env: EnvReader, table: readonly (readonly [string, string])[]): Namer {
  return (path) => {
    const variable = table.find(([, field]) => field === path)?.[0];
    return variable !== undefined && env.get(variable) !== undefined ? variable : fieldName(path);
  };
}

/**
 * Resolves a RabbitMQ connection config: applies the defaults, normalises
 * `url` to `urls`, and validates every field.
 *
 * @param input The config; fields left out or `undefined` take their defaults.
 * @returns A fresh, fully resolved config.
 * @throws {TypeError} When a field has the wrong type; the message names the field.
 * @throws {RangeError} When a field is out of range, a URL is not an `amqp:`/`amqps:`
 * URL (its password masked in the message), `deadLetterExchange` equals
 * `exchange`, or `reconnectBaseDelay` exceeds `reconnectMaxDelay`.
 *
 * @example
 * ```ts
 * import { resolveRabbitMQConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const config = resolveRabbitMQConfig({ url: "amqp://app:secret@rabbit:5672", exchange: "orders" });
 * console.log(config.urls, config.deadLetterExchange); // ["amqp://app:secret@rabbit:5672"] orders.dead-letter
 * ```
 */
export function resolveRabbitMQConfig(input: RabbitMQConfig = {}): ResolvedRabbitMQConfig {
  return resolveRabbitMQ(input, fieldName);
}

/**
 * Resolves the publishing pipeline's config: applies the defaults field by
 * field (nested sections included) and validates every field.
 *
 * @param input The config; fields left out or `undefined` take their defaults.
 * @returns A fresh, fully resolved config.
 * @throws {TypeError} When a field has the wrong type; the message names the
 * field by its dotted path, for example `'bufferConfig.maxBufferSize'`.
 * @throws {RangeError} When a field is out of range, `retry.baseDelay` exceeds
 * `retry.maxDelay`, or persistence is on and `maxMessageBytes` exceeds 61440
 * (what fits in one Deno KV value).
 *
 * @example
 * ```ts
 * import { resolveAsyncPublishConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const config = resolveAsyncPublishConfig({ batchSize: 100, bufferConfig: { maxBufferSize: 500 } });
 * console.log(config.batchSize, config.bufferConfig.maxBufferSize, config.bufferConfig.maxEventAge); // 100 500 3600000
 *
 * try {
 *   resolveAsyncPublishConfig({ bufferConfig: { maxBufferSize: 0 } });
 * } catch (error) {
 *   console.log((error as RangeError).message); // 'bufferConfig.maxBufferSize' must be a positive integer: got 0
 * }
 * ```
 */
export function resolveAsyncPublishConfig(
  input: AsyncPublishConfig = {},
): ResolvedAsyncPublishConfig {
  return resolveAsyncPublish(input, fieldName);
}

/**
 * Merges pipeline configs field by field, nested sections included: a later
 * config's defined fields win, `undefined` fields are skipped. Use it to layer
 * code config over the environment, where a plain spread would replace a whole
 * nested section.
 *
 * @param configs The configs, lowest precedence first.
 * @returns A fresh, unvalidated config; pass it to {@linkcode resolveAsyncPublishConfig}.
 *
 * @example
 * ```ts
 * import { mergeAsyncPublishConfig, readAsyncPublishEnv } from "@simplycaster/rabbitmq-publisher";
 *
 * const env = new Map([["RABBITMQ_BUFFER_MAX_SIZE", "500"]]);
 * const merged = mergeAsyncPublishConfig(readAsyncPublishEnv(env), {
 *   bufferConfig: { enablePersistence: true },
 * });
 * console.log(merged.bufferConfig); // { maxBufferSize: 500, enablePersistence: true }
 * ```
 */
export function mergeAsyncPublishConfig(
  ...configs: readonly AsyncPublishConfig[]
): AsyncPublishConfig {
  const merged: AsyncPublishConfig = {};
  for (const config of configs) {
    const { bufferConfig, retry, circuitBreaker, ...top } = config;
    Object.assign(merged, definedFields(top));
    if (bufferConfig !== undefined) {
      merged.bufferConfig = { ...merged.bufferConfig, ...definedFields(bufferConfig) };
    }
    if (retry !== undefined) merged.retry = { ...merged.retry, ...definedFields(retry) };
    if (circuitBreaker !== undefined) {
      merged.circuitBreaker = { ...merged.circuitBreaker, ...definedFields(circuitBreaker) };
    }
  }
  return merged;
}

/**
 * Reads the RabbitMQ connection variables that are set, without applying
 * defaults, so that code config can be spread over them:
 * `resolveRabbitMQConfig({ ...readRabbitMQEnv(), ...mine })`.
 *
 * Variables: `RABBITMQ_URL` (one URL, or several separated by commas),
 * `RABBITMQ_EXCHANGE`, `RABBITMQ_EXCHANGE_TYPE`, `RABBITMQ_HEARTBEAT`,
 * `RABBITMQ_CONNECTION_NAME`, `RABBITMQ_DEAD_LETTER_EXCHANGE`,
 * `RABBITMQ_DEAD_LETTER_QUEUE`.
 *
 * @param env Where the variables are read.
 * @returns A partial config holding only the fields whose variables are set.
 * @throws {TypeError} When a value cannot be parsed; the message names the variable and the value.
 * @throws {RangeError} When a value is out of range; the message names the variable and the value.
 *
 * @example
 * ```ts
 * import { readRabbitMQEnv } from "@simplycaster/rabbitmq-publisher";
 *
 * const env = new Map([["RABBITMQ_URL", "amqp://a:5672, amqp://b:5672"], ["RABBITMQ_HEARTBEAT", "10"]]);
 * console.log(readRabbitMQEnv(env)); // { url: ["amqp://a:5672", "amqp://b:5672"], heartbeat: 10 }
 * ```
 */
export function readRabbitMQEnv(env: EnvReader = Deno.env): RabbitMQConfig {
  const config: Record<string, unknown> = {};
  const urls = env.get(URL_VARIABLE);
  if (urls !== undefined) {
    const list = urls.split(",").map((url) => url.trim());
    if (!list.every(isAmqpUrl)) {
      throw new RangeError(
        `${URL_VARIABLE} must be an amqp:// or amqps:// URL, or several separated by commas ` +
          `(write a comma in a password as %2C): got ${showUrls(urls)}`,
      );
    }
    config.url = list.length === 1 ? list[0] : list;
  }
  for (const [variable, field] of RABBITMQ_ENV) {
    const raw = env.get(variable);
    if (raw !== undefined) config[field] = fromEnv(variable, raw, RABBITMQ_RULES[field]);
  }
  return config as RabbitMQConfig;
}

/**
 * Reads the pipeline variables that are set, without applying defaults. Layer
 * code config over them with {@linkcode mergeAsyncPublishConfig}: a plain
 * spread would replace whole nested sections such as `bufferConfig`.
 *
 * Variables: `RABBITMQ_ASYNC_BUFFER_SIZE`, `RABBITMQ_ASYNC_FLUSH_INTERVAL`,
 * `RABBITMQ_ASYNC_MAX_CONCURRENCY`, `RABBITMQ_ASYNC_BACKGROUND_PROCESSING`,
 * `RABBITMQ_ASYNC_BATCH_SIZE`, `RABBITMQ_ASYNC_PUBLISH_TIMEOUT`,
 * `RABBITMQ_ASYNC_MAX_MESSAGE_BYTES`; `RABBITMQ_BUFFER_MAX_SIZE`,
 * `RABBITMQ_BUFFER_MAX_AGE`, `RABBITMQ_BUFFER_PERSISTENCE`,
 * `RABBITMQ_BUFFER_STORAGE_PATH`, `RABBITMQ_BUFFER_CLEANUP_INTERVAL`,
 * `RABBITMQ_BUFFER_MAX_PERSISTENT_SIZE`, `RABBITMQ_BUFFER_FLUSH_BATCH_SIZE`,
 * `RABBITMQ_BUFFER_OVERFLOW_POLICY`; `RABBITMQ_RETRY_MAX_ATTEMPTS`,
 * `RABBITMQ_RETRY_BASE_DELAY`, `RABBITMQ_RETRY_MAX_DELAY`,
 * `RABBITMQ_RETRY_MULTIPLIER`; `RABBITMQ_CIRCUIT_FAILURE_THRESHOLD`,
 * `RABBITMQ_CIRCUIT_RESET_TIMEOUT`. Booleans accept `true`/`false`, `1`/`0`
 * and `yes`/`no`, in any case.
 *
 * @param env Where the variables are read.
 * @returns A partial config holding only the fields whose variables are set.
 * @throws {TypeError} When a value cannot be parsed; the message names the variable and the value.
 * @throws {RangeError} When a value is out of range; the message names the variable and the value.
 *
 * @example
 * ```ts
 * import { readAsyncPublishEnv } from "@simplycaster/rabbitmq-publisher";
 *
 * const env = new Map([["RABBITMQ_ASYNC_BATCH_SIZE", "200"], ["RABBITMQ_BUFFER_PERSISTENCE", "yes"]]);
 * console.log(readAsyncPublishEnv(env)); // { batchSize: 200, bufferConfig: { enablePersistence: true } }
 * ```
 */
export function readAsyncPublishEnv(env: EnvReader = Deno.env): AsyncPublishConfig {
  const config: Record<string, unknown> = {};
  for (const [variable, path] of ASYNC_ENV) {
    const raw = env.get(variable);
    if (raw === undefined) continue;
    const value = fromEnv(variable, raw, ASYNC_RULES[path]);
    const [section, field] = path.split(".");
    if (field === undefined) {
      config[section] = value;
    } else {
      const nested = (config[section] ??= {}) as Record<string, unknown>;
      nested[field] = value;
    }
  }
  return config as AsyncPublishConfig;
}

/**
 * Reads the RabbitMQ connection config from the environment (see
 * {@linkcode readRabbitMQEnv} for the variables) and resolves it with the defaults.
 *
 * @param env Where the variables are read.
 * @returns The resolved config.
 * @throws {TypeError} When a value cannot be parsed; the message names the variable and the value.
 * @throws {RangeError} When a value, or a combination of values, is invalid;
 * the message names the variable.
 *
 * @example
 * ```ts
 * import { parseRabbitMQConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const config = parseRabbitMQConfig(new Map([["RABBITMQ_EXCHANGE", "orders"]]));
 * console.log(config.exchange, config.deadLetterQueue); // orders orders.dead-letter
 * ```
 */
export function parseRabbitMQConfig(env: EnvReader = Deno.env): ResolvedRabbitMQConfig {
  return resolveRabbitMQ(
    readRabbitMQEnv(env),
    envNamer(env, [[URL_VARIABLE, "url"], ...RABBITMQ_ENV]),
  );
}

/**
 * Reads the pipeline config from the environment (see
 * {@linkcode readAsyncPublishEnv} for the variables) and resolves it with the defaults.
 *
 * @param env Where the variables are read.
 * @returns The resolved config.
 * @throws {TypeError} When a value cannot be parsed; the message names the variable and the value.
 * @throws {RangeError} When a value, or a combination of values, is invalid;
 * the message names the variable.
 *
 * @example
 * ```ts
 * import { parseAsyncPublishConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * try {
 *   parseAsyncPublishConfig(new Map([["RABBITMQ_ASYNC_BATCH_SIZE", "abc"]]));
 * } catch (error) {
 *   console.log((error as TypeError).message); // RABBITMQ_ASYNC_BATCH_SIZE must be a positive integer ...: got "abc"
 * }
 * ```
 */
export function parseAsyncPublishConfig(env: EnvReader = Deno.env): ResolvedAsyncPublishConfig {
  return resolveAsyncPublish(readAsyncPublishEnv(env), envNamer(env, ASYNC_ENV));
}

function resolveRabbitMQ(input: RabbitMQConfig, name: Namer): ResolvedRabbitMQConfig {
  checkObject(input, "config");
  const { url = DEFAULT_URL } = input;
  let urls: string[];
  if (typeof url === "string") {
    checkUrl(name("url"), url);
    urls = [url];
  } else if (Array.isArray(url) && url.length > 0) {
    url.forEach((entry, i) => checkUrl(name(`url[${i}]`), entry));
    urls = [...url];
  } else {
    const problem = Array.isArray(url) ? RangeError : TypeError;
    throw new problem(
      `${name("url")} must be a URL or a non-empty array of URLs: got ${show(url)}`,
    );
  }
  const exchange = input.exchange ?? DEFAULT_EXCHANGE;
  check(name("exchange"), exchange, RABBITMQ_RULES.exchange);
  const config: ResolvedRabbitMQConfig = {
    urls,
    ...withDefaults<Omit<ResolvedRabbitMQConfig, "urls">>({
      exchange,
      exchangeType: "topic",
      routingKey: (event: DomainEvent) => event.type,
      heartbeat: 30,
      connectionName: "rabbitmq-publisher",
      deadLetterExchange: `${exchange}.dead-letter`,
      deadLetterQueue: `${exchange}.dead-letter`,
      reconnectBaseDelay: 500,
      reconnectMaxDelay: 30_000,
    }, input),
  };
  for (const field of Object.keys(RABBITMQ_RULES) as RabbitMQField[]) {
    check(name(field), config[field], RABBITMQ_RULES[field]);
  }
  if (config.deadLetterExchange === config.exchange) {
    throw new RangeError(
      `${name("deadLetterExchange")} must differ from ${name("exchange")}, since it is ` +
        `declared as a fanout exchange: got ${show(config.deadLetterExchange)}`,
    );
  }
  checkOrder(name, "reconnectBaseDelay", "reconnectMaxDelay", config);
  return config;
}

function resolveAsyncPublish(input: AsyncPublishConfig, name: Namer): ResolvedAsyncPublishConfig {
  checkObject(input, "config");
  const { bufferConfig = {}, retry = {}, circuitBreaker = {}, ...top } = input;
  checkObject(bufferConfig, name("bufferConfig"));
  checkObject(retry, name("retry"));
  checkObject(circuitBreaker, name("circuitBreaker"));
  const config: ResolvedAsyncPublishConfig = {
    ...withDefaults(DEFAULT_ASYNC_PUBLISH_CONFIG, top),
    bufferConfig: withDefaults(DEFAULT_EVENT_BUFFER_CONFIG, bufferConfig),
    retry: withDefaults(DEFAULT_RETRY_CONFIG, retry),
    circuitBreaker: withDefaults(DEFAULT_CIRCUIT_BREAKER_CONFIG, circuitBreaker),
  };
  for (const path of Object.keys(ASYNC_RULES) as AsyncField[]) {
    const [section, field] = path.split(".") as [keyof ResolvedAsyncPublishConfig, string?];
    const value = field === undefined
      ? config[section]
      : (config[section] as unknown as Record<string, unknown>)[field];
    check(name(path), value, ASYNC_RULES[path]);
  }
  checkOrder((field) => name(`retry.${field}`), "baseDelay", "maxDelay", config.retry);
  if (config.bufferConfig.enablePersistence && config.maxMessageBytes > DEFAULT_MAX_MESSAGE_BYTES) {
    throw new RangeError(
      `${name("maxMessageBytes")} must be at most ${DEFAULT_MAX_MESSAGE_BYTES} when ` +
        `${name("bufferConfig.enablePersistence")} is true, since a Deno KV value holds at ` +
        `most 64 KiB and each event is stored with its metadata: got ${config.maxMessageBytes}`,
    );
  }
  return config;
}

/** The defaults, overridden by the input's fields that are not `undefined`; other keys are dropped. */
function withDefaults<T extends object>(defaults: T, input: Partial<T>): T {
  const result = { ...defaults };
  for (const key of Object.keys(defaults) as (keyof T)[]) {
    const value = input[key];
    if (value !== undefined) result[key] = value as T[keyof T];
  }
  return result;
}

function definedFields<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(input).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

function check(name: string, value: unknown, rule: Rule, shown = show(value)): void {
  const message = `${name} must be ${rule.expected}: got ${shown}`;
  const type: string = typeof value;
  if (type !== rule.type) throw new TypeError(message);
  const ok = rule.type === "number"
    ? rule.ok(value as number)
    : rule.type === "string"
    ? rule.ok(value as string)
    : true;
  if (!ok) throw new RangeError(message);
}

function checkObject(value: unknown, name: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object: got ${show(value)}`);
  }
}

function checkOrder<K extends string>(
  name: Namer,
  low: K,
  high: K,
  config: Record<K, number>,
): void {
  if (config[low] > config[high]) {
    throw new RangeError(
      `${name(low)} must be at most ${name(high)} (${config[high]}): got ${config[low]}`,
    );
  }
}

function checkUrl(name: string, url: unknown): void {
  const message = `${name} must be an amqp:// or amqps:// URL with a host: got `;
  if (typeof url !== "string") throw new TypeError(message + show(url));
  if (!isAmqpUrl(url)) throw new RangeError(message + showUrls(url));
}

function isAmqpUrl(url: string): boolean {
  // The parser's error is dropped, never used as a `cause`: it repeats the password.
  try {
    const { protocol, hostname } = new URL(url);
    return (protocol === "amqp:" || protocol === "amqps:") && hostname !== "";
  } catch {
    return false;
  }
}

/** Parses an environment value by the type its rule expects, then checks the rule. */
function fromEnv(variable: string, raw: string, rule: Rule): unknown {
  const shown = show(raw);
  if (rule.type === "boolean") {
    const value = BOOLEANS[raw.trim().toLowerCase()];
    if (value === undefined) {
      throw new TypeError(
        `${variable} must be true, false, 1, 0, yes or no: got ${shown}`,
      );
    }
    return value;
  }
  if (rule.type === "number") {
    const text = raw.trim();
    const value = Number(text);
    if (!NUMBER.test(text) || !Number.isFinite(value)) {
      throw new TypeError(`${variable} must be ${rule.expected}: got ${shown}`);
    }
    check(variable, value, rule, shown);
    return value;
  }
  check(variable, raw, rule, shown);
  return raw;
}

const BOOLEANS: Record<string, boolean> = {
  true: true,
  false: false,
  1: true,
  0: false,
  yes: true,
  no: false,
};
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A value as an error message shows it: strings quoted, cut short, credentials masked. */
function show(value: unknown): string {
  if (typeof value === "string") return quote(maskCredentials(value));
  if (typeof value === "function") return "a function";
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

/**
 * URLs as an error message shows them. Masking the whole text first catches a
 * password holding a comma, which splitting the list would cut in two;
 * masking each entry then catches one holding a "/".
 */
function showUrls(urls: string): string {
  return quote(maskCredentials(urls).split(",").map(maskUrl).join(","));
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? text.slice(0, 80) + "…" : text);
}
