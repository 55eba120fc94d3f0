/**
 * What operators see of a publisher: the buffer's view
 * ({@linkcode RabbitMQEventBuffer}, {@linkcode EventBufferStats}), the stats
 * snapshot ({@linkcode PublisherStats}) and the health report
 * ({@linkcode PublisherHealth}) computed from it by {@linkcode assessHealth}.
 *
 * @module
 */

import type { CircuitState } from "../policies/circuit_breaker.ts";
import type { EventPriority } from "../event.ts";
import type { PendingStore } from "../store/store.ts";
import type { ConnectionState } from "../amqp/transport.ts";

/**
 * A snapshot of the buffer.
 *
 * @example
 * ```ts
 * import type { EventBufferStats } from "@simplycaster/rabbitmq-publisher";
 *
 * const stats: EventBufferStats = {
 *   size: 250,
 *   maxSize: 10_000,
 *   bytes: 75_000,
 *   maxBytes: 52_428_800,
 *   utilizationPercent: 2.5,
 *   byPriority: { high: 0, normal: 240, low: 10 },
 *   inFlight: 50,
 *   oldestEventAgeMs: 1_200,
 *   expiredEvents: 0,
 *   droppedEvents: 0,
 *   localDeadLetters: 0,
 *   persistent: true,
 * };
 * ```
 */
export interface EventBufferStats {
  /** Pending events (not yet confirmed by RabbitMQ), in flight included. */
  size: number;
  /** The most pending events allowed (`bufferConfig.maxBufferSize`). */
  maxSize: number;
  /** Pending bytes. */
  bytes: number;
  /** The most pending bytes allowed (`bufferConfig.maxPersistentSize`). */
  maxBytes: number;
  /** The fuller of count and bytes, in percent (0-100, one decimal). */
  utilizationPercent: number;
  /** Pending events by priority. */
  byPriority: Record<EventPriority, number>;
  /** Events sent and awaiting their confirm. */
  inFlight: number;
  /** Age of the oldest pending event in ms; 0 when empty. */
  oldestEventAgeMs: number;
  /** Events dead-lettered because they outlived `maxEventAge`. */
  expiredEvents: number;
  /** Events evicted by the overflow policy (and dead-lettered). */
  droppedEvents: number;
  /** Dead letters held locally, waiting to be moved to the broker's dead-letter queue. */
  localDeadLetters: number;
  /** Whether pending events are on disk (Deno KV). */
  persistent: boolean;
  /** Why the store's last write failed, while none has succeeded since. */
  storageError?: string;
}

/**
 * A check in {@linkcode PublisherHealth}.
 *
 * @example
 * ```ts
 * import type { HealthCheck } from "@simplycaster/rabbitmq-publisher";
 *
 * const failed: HealthCheck = { ok: false, reason: "the circuit breaker is open" };
 * ```
 */
export interface HealthCheck {
  /** Whether the check passed. */
  ok: boolean;
  /** Why it failed. */
  reason?: string;
}

/**
 * The result of `getHealth()`.
 *
 * @example
 * ```ts
 * import type { PublisherHealth } from "@simplycaster/rabbitmq-publisher";
 *
 * const health: PublisherHealth = {
 *   healthy: false,
 *   checks: {
 *     connection: {
 *       ok: false,
 *       reason: "RabbitMQ is disconnected (last error: connect ECONNREFUSED); 3 reconnect attempts",
 *     },
 *     configuration: { ok: true },
 *     circuit: { ok: false, reason: "the circuit breaker is open; events are buffered until a probe succeeds" },
 *     buffer: { ok: true },
 *     deadLetters: { ok: true },
 *     storage: { ok: true },
 *     delivery: {
 *       ok: false,
 *       reason: "the oldest pending event has waited 95 s (1200 pending); last confirm 80 s ago",
 *     },
 *     intake: { ok: true },
 *   },
 * };
 * ```
 */
export interface PublisherHealth {
  /** True when every check passed. */
  healthy: boolean;
  /** Each check by name. */
  checks: {
    /** The broker connection is up. */
    connection: HealthCheck;
    /**
     * The broker did not refuse the setup: no exchange declared with other
     * settings, no refused login or permission. Its reason is the broker's
     * text and what to fix; no wait fixes it.
     */
    configuration: HealthCheck;
    /** The circuit breaker is not open. */
    circuit: HealthCheck;
    /** The buffer is below 90 % of its capacity. */
    buffer: HealthCheck;
    /** No dead letters wait locally for the broker. */
    deadLetters: HealthCheck;
    /** The store can be written (no full disk, no read-only file). */
    storage: HealthCheck;
    /**
     * Events keep moving: with background processing on, no pending event
     * has waited longer than twice `publishTimeout` (at least a minute).
     * Catches a stuck pipeline as well as an outage.
     */
    delivery: HealthCheck;
    /** The publisher accepts events. */
    intake: HealthCheck;
  };
}

/**
 * The last error the publisher met.
 *
 * @example
 * ```ts
 * import type { LastError } from "@simplycaster/rabbitmq-publisher";
 *
 * const lastError: LastError = {
 *   name: "TransportError",
 *   message: "no publisher confirm within 30000 ms",
 *   at: Date.parse("2025-01-01T12:00:00Z"),
 * };
 * ```
 */
export interface LastError {
  /** The error's class. */
  name: string;
  /** Its message, credentials masked. */
  message: string;
  /** When (ms since the epoch). */
  at: number;
}

/**
 * The result of `getStats()`. Counters count since the publisher was created.
 *
 * @example
 * ```ts
 * import type { PublisherStats } from "@simplycaster/rabbitmq-publisher";
 *
 * const stats: PublisherStats = {
 *   publishedEvents: 1_520,
 *   failedEvents: 3,
 *   neverSentFailures: 1,
 *   unknownOutcomeFailures: 2,
 *   retriedEvents: 2,
 *   resentEvents: 0,
 *   deadLetteredEvents: 1,
 *   deduplicatedEvents: 0,
 *   queuedEvents: 40,
 *   bufferedEvents: 0,
 *   inFlightEvents: 50,
 *   activeOperations: 1,
 *   peakActiveOperations: 4,
 *   isRabbitMQAvailable: true,
 *   connectionState: "connected",
 *   brokerUrl: "amqp://app:***@rabbit:5672",
 *   reconnectAttempts: 0,
 *   circuitState: "closed",
 *   msSinceLastConfirm: 12,
 *   bufferStats: {
 *     size: 90,
 *     maxSize: 10_000,
 *     bytes: 27_000,
 *     maxBytes: 52_428_800,
 *     utilizationPercent: 0.9,
 *     byPriority: { high: 0, normal: 90, low: 0 },
 *     inFlight: 50,
 *     oldestEventAgeMs: 35,
 *     expiredEvents: 0,
 *     droppedEvents: 0,
 *     localDeadLetters: 0,
 *     persistent: false,
 *   },
 *   lastError: { name: "TransportError", message: "the broker rejected the message", at: 0 },
 * };
 * ```
 */
export interface PublisherStats {
  /** Events confirmed by RabbitMQ. */
  publishedEvents: number;
  /** Failed delivery attempts (an event retried three times counts three). */
  failedEvents: number;
  /** Failed attempts where the message never left this process. */
  neverSentFailures: number;
  /** Failed attempts where the message was sent but no confirm came: possible duplicates. */
  unknownOutcomeFailures: number;
  /** Attempts rescheduled with backoff. */
  retriedEvents: number;
  /**
   * Events sent again with no attempt charged because the broker closed their
   * channel over another event (which alone was refused). Those sent before
   * the refused one may arrive twice.
   */
  resentEvents: number;
  /** Events moved to the dead letters. */
  deadLetteredEvents: number;
  /**
   * `publish()` calls for an id still pending (or twice in one batch): nothing
   * new was stored, and the caller got the pending event's receipt.
   */
  deduplicatedEvents: number;
  /** Pending events waiting for the dispatcher while the broker is available. */
  queuedEvents: number;
  /** Pending events held because the broker is unavailable or the circuit is open. */
  bufferedEvents: number;
  /** Events sent and awaiting their confirm (at most `maxInFlight`), or settling. */
  inFlightEvents: number;
  /** Batches with an event still awaiting its confirm. */
  activeOperations: number;
  /** The most batches ever awaiting confirms at once. */
  peakActiveOperations: number;
  /** Whether the connection is up and not blocked. */
  isRabbitMQAvailable: boolean;
  /** The connection state. */
  connectionState: ConnectionState;
  /** While `connectionState` is `blocked`: the reason the broker gave. */
  blockedReason?: string;
  /**
   * The URL of the node connected to (or last tried), password masked: with
   * several URLs (a cluster), the node currently in use.
   */
  brokerUrl?: string;
  /** Failed connection attempts since the last successful connect. */
  reconnectAttempts: number;
  /** The circuit breaker's state. */
  circuitState: CircuitState;
  /** Time since the last confirm, in ms; undefined before the first. */
  msSinceLastConfirm?: number;
  /** The buffer. */
  bufferStats: EventBufferStats;
  /** The last error, credentials masked. */
  lastError?: LastError;
  /**
   * The broker's refusal of the setup at the last connection attempt (an
   * exchange with other settings, a refused login: a `BrokerConfigurationError`),
   * with what to fix; gone once a connection succeeds.
   */
  configurationError?: LastError;
}

/**
 * The pending-event buffer as operators see it.
 *
 * @example
 * ```ts
 * import { MemoryStore, RabbitMQEventBuffer } from "@simplycaster/rabbitmq-publisher";
 *
 * const store = new MemoryStore({ maxEvents: 10, maxBytes: 1_000, overflow: "reject" });
 * const buffer = new RabbitMQEventBuffer(store);
 * console.log(buffer.getStats().utilizationPercent); // 0
 * ```
 */
export class RabbitMQEventBuffer {
  readonly #store: PendingStore;
  readonly #now: () => number;

  /**
   * Creates the view of a store.
   *
   * @param store The pending-event store.
   * @param now The clock, for the age of the oldest event.
   *
   * @example
   * ```ts
   * import { MemoryStore, RabbitMQEventBuffer } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 1_000, overflow: "reject" });
   * const buffer = new RabbitMQEventBuffer(store, () => 0);
   * console.log(buffer.getStats().oldestEventAgeMs); // 0
   * ```
   */
  constructor(store: PendingStore, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  /**
   * A snapshot of sizes, limits and counters.
   *
   * @returns The buffer's statistics.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore, RabbitMQEventBuffer } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 4, maxBytes: 1_000_000, overflow: "reject" });
   * const event = encodeEvent({ id: "evt-1", type: "user.created", data: {} });
   * await store.add([{ ...event, exchange: "domain-events", acceptedAt: 1_000 }]);
   * const stats = new RabbitMQEventBuffer(store, () => 3_000).getStats();
   * console.log(stats.utilizationPercent, stats.oldestEventAgeMs); // 25 2000
   * ```
   */
  getStats(): EventBufferStats {
    const s = this.#store.stats();
    const fill = Math.max(s.size / s.maxSize, s.bytes / s.maxBytes);
    return {
      size: s.size,
      maxSize: s.maxSize,
      bytes: s.bytes,
      maxBytes: s.maxBytes,
      utilizationPercent: Math.round(fill * 1000) / 10,
      byPriority: s.byPriority,
      inFlight: s.inFlight,
      oldestEventAgeMs: s.oldestAcceptedAt === undefined
        ? 0
        : Math.max(0, this.#now() - s.oldestAcceptedAt),
      expiredEvents: s.expiredEvents,
      droppedEvents: s.droppedEvents,
      localDeadLetters: s.deadLetters,
      persistent: s.persistent,
      ...(s.storageError === undefined ? {} : { storageError: s.storageError }),
    };
  }
}

/**
 * What {@linkcode assessHealth} needs besides the stats.
 *
 * @example
 * ```ts
 * import type { HealthOptions } from "./health.ts";
 *
 * const options: HealthOptions = { publishTimeout: 30_000, backgroundProcessing: true, lifecycle: "running" };
 * ```
 */
export interface HealthOptions {
  /** The publish timeout: an event pending over twice as long (at least a minute) fails `delivery`. */
  publishTimeout: number;
  /** Whether background processing is on; with it off, `delivery` always passes. */
  backgroundProcessing: boolean;
  /** Where the publisher is in its life; anything but `running` fails `intake`. */
  lifecycle: "running" | "closing" | "closed";
}

const BUFFER_HEALTH_LIMIT = 90;
// A pending event older than this (or twice publishTimeout) makes the publisher unhealthy.
const MIN_STALL_MS = 60_000;

/**
 * The health report of a stats snapshot: each check, with a reason when it
 * failed. `getHealth()` is this applied to `getStats()`.
 *
 * @param stats A stats snapshot.
 * @param options The publish timeout, background processing, and the lifecycle.
 * @returns The health report.
 *
 * @example
 * ```ts
 * import { assessHealth, type PublisherStats } from "./health.ts";
 *
 * const stats: PublisherStats = {
 *   publishedEvents: 0, failedEvents: 0, neverSentFailures: 0, unknownOutcomeFailures: 0,
 *   retriedEvents: 0, resentEvents: 0, deadLetteredEvents: 0, deduplicatedEvents: 0,
 *   queuedEvents: 0, bufferedEvents: 0,
 *   inFlightEvents: 0, activeOperations: 0, peakActiveOperations: 0,
 *   isRabbitMQAvailable: false, connectionState: "disconnected", reconnectAttempts: 2,
 *   circuitState: "closed",
 *   bufferStats: {
 *     size: 0, maxSize: 10, bytes: 0, maxBytes: 1_000, utilizationPercent: 0,
 *     byPriority: { high: 0, normal: 0, low: 0 }, inFlight: 0, oldestEventAgeMs: 0,
 *     expiredEvents: 0, droppedEvents: 0, localDeadLetters: 0, persistent: false,
 *   },
 * };
 * const health = assessHealth(stats, {
 *   publishTimeout: 30_000,
 *   backgroundProcessing: true,
 *   lifecycle: "running",
 * });
 * console.log(health.healthy, health.checks.connection.reason);
 * // false "RabbitMQ is disconnected; 2 reconnect attempts"
 * ```
 */
export function assessHealth(stats: PublisherStats, options: HealthOptions): PublisherHealth {
  const buffer = stats.bufferStats;
  const stallAfter = Math.max(2 * options.publishTimeout, MIN_STALL_MS);
  const check = (ok: boolean, reason: string): HealthCheck => ok ? { ok } : { ok, reason };
  const checks: PublisherHealth["checks"] = {
    connection: check(
      stats.isRabbitMQAvailable,
      stats.connectionState === "blocked"
        ? `RabbitMQ is blocked: ${stats.blockedReason ?? "a resource alarm"}; nothing is ` +
          `written until it clears, and the ${stats.inFlightEvents} events in flight wait for ` +
          `their confirms`
        : `RabbitMQ is ${stats.connectionState}` +
          (stats.lastError ? ` (last error: ${stats.lastError.message})` : "") +
          `; ${stats.reconnectAttempts} reconnect attempts`,
    ),
    configuration: check(
      stats.configurationError === undefined,
      stats.configurationError?.message ?? "",
    ),
    circuit: check(
      stats.circuitState !== "open",
      `the circuit breaker is open; events are buffered until a probe succeeds`,
    ),
    buffer: check(
      buffer.utilizationPercent < BUFFER_HEALTH_LIMIT,
      `the buffer is ${buffer.utilizationPercent}% full (${buffer.size}/${buffer.maxSize} ` +
        `events, ${buffer.bytes}/${buffer.maxBytes} bytes)`,
    ),
    deadLetters: check(
      buffer.localDeadLetters === 0,
      `${buffer.localDeadLetters} dead letters wait locally for the broker`,
    ),
    storage: check(
      buffer.storageError === undefined,
      `the last write to the event store failed: ${buffer.storageError}`,
    ),
    delivery: check(
      !options.backgroundProcessing || buffer.oldestEventAgeMs <= stallAfter,
      `the oldest pending event has waited ${Math.round(buffer.oldestEventAgeMs / 1000)} s ` +
        `(${buffer.size} pending); ` +
        (stats.msSinceLastConfirm === undefined
          ? "nothing confirmed since start"
          : `last confirm ${Math.round(stats.msSinceLastConfirm / 1000)} s ago`),
    ),
    intake: check(options.lifecycle === "running", `the publisher is ${options.lifecycle}`),
  };
  return { healthy: Object.values(checks).every((c) => c.ok), checks };
}
