/**
 * `RabbitMQAsyncEventPublisher`: the pipeline that wires the event model, the
 * transport, the pending store and the failure policies together.
 *
 * ```
 * publish() ─ validate ─ store.add ─┬─ high: dispatched at once, confirm awaited
 *                                    └─ queued
 * dispatcher ─ store.take ─ transport.send ─ confirm ─ store.remove
 *                                  └─ failure ─ retry (backoff) or dead letter
 * ```
 *
 * @module
 */

import { maskCredentials, maskUrl } from "../_mask.ts";
import { settleWithin } from "../_async.ts";
import { toDeadLetter } from "../store/_dead_letter.ts";
import { AmqpTransport } from "../amqp/amqp_transport.ts";
import {
  CircuitBreaker,
  type CircuitState,
  type CircuitStateChange,
} from "../policies/circuit_breaker.ts";
import { resolveAsyncPublishConfig, resolveRabbitMQConfig } from "../config/resolve.ts";
import type {
  AsyncPublishConfig,
  RabbitMQConfig,
  ResolvedAsyncPublishConfig,
  ResolvedRabbitMQConfig,
} from "../config/types.ts";
import { deadLetterHeaders, DeadLetterQueue } from "../dead_letters/queue.ts";
import { classifyError } from "../policies/error_classification.ts";
import { EventValidationError, PublisherClosedError, type TransportError } from "../errors.ts";
import { type DomainEvent, type EncodedEvent, encodeEvent } from "../event.ts";
import { type EventBufferStats, RabbitMQEventBuffer } from "./event_buffer.ts";
import { KvStore } from "../store/kv/kv_store.ts";
import { type Logger, quietLogger } from "../logger.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { backoffDelay } from "../policies/retry.ts";
import type {
  DeadLetterReason,
  DeadLetterRecord,
  NewRecord,
  PendingRecord,
  PendingStore,
} from "../store/store.ts";
import type {
  ConnectionState,
  ConnectionStateChange,
  SendOutcome,
  Transport,
} from "../amqp/transport.ts";

/**
 * What became of an accepted event at the time `publish()` resolved.
 *
 * @example
 * ```ts
 * import type { PublishStatus } from "@simplycaster/rabbitmq-publisher";
 *
 * // Every status but "dead-lettered" means the event will still be delivered.
 * const onTheWay = (status: PublishStatus) => status !== "dead-lettered";
 * console.log(onTheWay("buffered")); // true
 * ```
 */
export type PublishStatus =
  /** RabbitMQ confirmed it (high priority, broker up). */
  | "confirmed"
  /** Stored; the background dispatcher sends it in a batch. */
  | "queued"
  /** Stored in the outage buffer; sent when the broker is back. */
  | "buffered"
  /**
   * High priority only: RabbitMQ refused it for good (for example unroutable)
   * and it is in the dead letters; `reason` says why.
   */
  | "dead-lettered";

/**
 * The answer to `publish()`: the event is accepted and will not be lost.
 *
 * @example
 * ```ts
 * import type { PublishReceipt } from "@simplycaster/rabbitmq-publisher";
 *
 * const confirmed: PublishReceipt = { id: "evt-1", status: "confirmed" };
 * const refused: PublishReceipt = { id: "evt-2", status: "dead-lettered", reason: "unroutable" };
 * ```
 */
export interface PublishReceipt {
  /** The event id. */
  id: string;
  /** Where the event stands. */
  status: PublishStatus;
  /** Why, when the status is `dead-lettered`. */
  reason?: DeadLetterReason;
}

/**
 * What `close()` reports.
 *
 * @example
 * ```ts
 * import type { CloseReport } from "@simplycaster/rabbitmq-publisher";
 *
 * // The broker was down at shutdown: 12 events wait on disk for the next start.
 * const report: CloseReport = { remaining: 12, timedOut: false, persistent: true };
 * ```
 */
export interface CloseReport {
  /** Events still pending after close: on disk with persistence, lost without. */
  remaining: number;
  /** Whether the deadline ran out before everything was confirmed. */
  timedOut: boolean;
  /** Whether the pending events survive (persistence on). */
  persistent: boolean;
}

/**
 * Options of `close()`.
 *
 * @example
 * ```ts
 * import type { CloseOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * const options: CloseOptions = { timeoutMs: 5_000 };
 * ```
 */
export interface CloseOptions {
  /**
   * How long to keep flushing and waiting for confirms, in ms.
   * @default {10000}
   */
  timeoutMs?: number;
}

/**
 * The interface a service depends on, so that a container can hand it any
 * publisher.
 *
 * @example
 * ```ts
 * import type { EventPublisher, PublishReceipt } from "@simplycaster/rabbitmq-publisher";
 *
 * class SignupService {
 *   constructor(private readonly events: EventPublisher) {}
 *
 *   signUp(userId: number): Promise<PublishReceipt> {
 *     return this.events.publish({ id: crypto.randomUUID(), type: "user.created", data: { userId } });
 *   }
 * }
 *
 * // In tests, a publisher that records what it is given.
 * const published: unknown[] = [];
 * const fake: EventPublisher = {
 *   publish: (event) => {
 *     published.push(event);
 *     return Promise.resolve({ id: event.id, status: "queued" });
 *   },
 *   publishBatch: (events) => Promise.all(events.map((event) => fake.publish(event))),
 *   close: () => Promise.resolve({ remaining: 0, timedOut: false, persistent: false }),
 * };
 * await new SignupService(fake).signUp(7);
 * console.log(published.length); // 1
 * ```
 */
export interface EventPublisher {
  /**
   * Accepts one event.
   *
   * @param event The event.
   * @returns Its receipt.
   */
  publish(event: DomainEvent): Promise<PublishReceipt>;
  /**
   * Accepts several events, all or none.
   *
   * @param events The events.
   * @returns A receipt per event, in order.
   */
  publishBatch(events: readonly DomainEvent[]): Promise<PublishReceipt[]>;
  /**
   * Stops intake, flushes, and releases every resource.
   *
   * @param options The deadline.
   * @returns What is left pending.
   */
  close(options?: CloseOptions): Promise<CloseReport>;
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
 *     circuit: { ok: false, reason: "the circuit breaker is open; events are buffered until a probe succeeds" },
 *     buffer: { ok: true },
 *     deadLetters: { ok: true },
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
    /** The circuit breaker is not open. */
    circuit: HealthCheck;
    /** The buffer is below 90 % of its capacity. */
    buffer: HealthCheck;
    /** No dead letters wait locally for the broker. */
    deadLetters: HealthCheck;
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
 *   deadLetteredEvents: 1,
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
  /** Events moved to the dead letters. */
  deadLetteredEvents: number;
  /** Pending events waiting for the dispatcher while the broker is available. */
  queuedEvents: number;
  /** Pending events held because the broker is unavailable or the circuit is open. */
  bufferedEvents: number;
  /** Events sent and awaiting their confirm. */
  inFlightEvents: number;
  /** Batches awaiting confirms (bounded by `maxConcurrency`). */
  activeOperations: number;
  /** The most batches ever awaiting confirms at once. */
  peakActiveOperations: number;
  /** Whether the connection is up and not blocked. */
  isRabbitMQAvailable: boolean;
  /** The connection state. */
  connectionState: ConnectionState;
  /** The broker URL, password masked. */
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
}

/**
 * What can be swapped in for tests and special set-ups.
 *
 * @example
 * ```ts
 * import {
 *   createRabbitMQAsyncEventPublisher,
 *   MemoryStore,
 *   type PublisherOptions,
 *   type Transport,
 * } from "@simplycaster/rabbitmq-publisher";
 *
 * // A broker that is down: nothing is sent, everything waits in the store.
 * const transport: Transport = {
 *   state: "disconnected",
 *   reconnectAttempts: 1,
 *   url: undefined,
 *   start: () => Promise.resolve(false),
 *   send: () => Promise.resolve([]),
 *   onStateChange: () => () => {},
 *   close: () => Promise.resolve(),
 * };
 * const options: PublisherOptions = {
 *   transport,
 *   store: new MemoryStore({ maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" }),
 *   logger: { debug() {}, info() {}, warn() {}, error() {} },
 *   now: () => Date.parse("2025-01-01T12:00:00Z"),
 *   random: () => 0.5,
 *   onStateChange: ({ from, to }) => console.log(`circuit ${from} -> ${to}`),
 * };
 * const publisher = await createRabbitMQAsyncEventPublisher({}, {}, options);
 * const receipt = await publisher.publish({ id: "evt-1", type: "user.created", data: {} });
 * console.log(receipt.status); // "buffered"
 * console.log(await publisher.close()); // { remaining: 1, timedOut: false, persistent: false }
 * ```
 */
export interface PublisherOptions {
  /** The transport. @default {an AmqpTransport from the RabbitMQ config} */
  transport?: Transport;
  /** The pending store. @default {MemoryStore, or KvStore with persistence} */
  store?: PendingStore;
  /** Where to log. @default {quietLogger} */
  logger?: Logger;
  /** The clock. @default {Date.now} */
  now?: () => number;
  /** Random numbers for jitter. @default {Math.random} */
  random?: () => number;
  /** Called on every circuit breaker transition. */
  onStateChange?: (change: CircuitStateChange) => void;
  /**
   * Throw from `create()` when no broker answers at start, instead of starting
   * in buffering mode.
   * @default {false}
   */
  requireConnection?: boolean;
}

type Lifecycle = "running" | "closing" | "closed";

const BUFFER_HEALTH_LIMIT = 90;
const BLOCKED_RETRY_MS = 1_000;
const SHIP_PAUSE_MAX_MS = 60_000;
// A pending event older than this (or twice publishTimeout) makes the publisher unhealthy.
const MIN_STALL_MS = 60_000;

/**
 * Publishes domain events to RabbitMQ without blocking on the broker and
 * without losing an accepted event. Create it with
 * {@linkcode createRabbitMQAsyncEventPublisher}.
 *
 * @example
 * ```ts ignore
 * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
 *
 * await using publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
 * const receipt = await publisher.publish({
 *   id: crypto.randomUUID(),
 *   type: "user.created",
 *   data: { userId: 7 },
 * });
 * console.log(receipt.status); // "queued"
 * ```
 */
export class RabbitMQAsyncEventPublisher implements EventPublisher, AsyncDisposable {
  readonly #config: ResolvedAsyncPublishConfig;
  readonly #rabbit: ResolvedRabbitMQConfig;
  readonly #transport: Transport;
  readonly #store: PendingStore;
  readonly #breaker: CircuitBreaker;
  readonly #buffer: RabbitMQEventBuffer;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #unsubscribe: () => void;
  /**
   * The dead letters, local and on the broker: list, count, replay, purge.
   * Opens its own connection on first use; `close()` closes it.
   */
  readonly deadLetters: DeadLetterQueue;

  #lifecycle: Lifecycle = "running";
  #closing: Promise<CloseReport> | undefined;
  // seq -> resolver of a high-priority publish() awaiting its first outcome
  readonly #waiters = new Map<number, (status: PublishStatus, reason?: DeadLetterReason) => void>();
  readonly #dispatches = new Set<Promise<void>>();
  #urgent = 0;
  #activeBatches = 0;
  #peakBatches = 0;
  #flushDue = false;
  #draining = false;
  #pumping = false;
  #pumpAgain = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeAt = Infinity;
  #cleanupTimer: ReturnType<typeof setInterval> | undefined;
  #idle: PromiseWithResolvers<void> | undefined;
  #housekeeping: Promise<void> | undefined;
  #lastConfirmAt: number | undefined;
  #shipPausedUntil = 0;
  #lastError: LastError | undefined;
  #counters = {
    published: 0,
    failed: 0,
    neverSent: 0,
    unknownOutcome: 0,
    retried: 0,
    deadLettered: 0,
  };

  /**
   * Use {@linkcode createRabbitMQAsyncEventPublisher}, which also opens the
   * store and connects. The constructor starts the cleanup timer but does not
   * start the transport: call its `start()` yourself.
   *
   * @param rabbit The resolved RabbitMQ configuration.
   * @param config The resolved publishing configuration.
   * @param parts The transport, store and the rest.
   * @throws {RangeError} When a config was not resolved and holds invalid
   * values (an empty `urls`, a bad circuit breaker or timeout setting).
   *
   * @example
   * ```ts ignore
   * import {
   *   AmqpTransport,
   *   MemoryStore,
   *   RabbitMQAsyncEventPublisher,
   *   resolveAsyncPublishConfig,
   *   resolveRabbitMQConfig,
   * } from "@simplycaster/rabbitmq-publisher";
   *
   * const rabbit = resolveRabbitMQConfig({ exchange: "app" });
   * const config = resolveAsyncPublishConfig();
   * const transport = new AmqpTransport({ urls: rabbit.urls, exchange: rabbit.exchange });
   * const store = new MemoryStore({
   *   maxEvents: config.bufferConfig.maxBufferSize,
   *   maxBytes: config.bufferConfig.maxPersistentSize,
   *   overflow: config.bufferConfig.overflowPolicy,
   * });
   * const publisher = new RabbitMQAsyncEventPublisher(rabbit, config, { transport, store });
   * await transport.start();
   * await publisher.close();
   * ```
   */
  constructor(
    rabbit: ResolvedRabbitMQConfig,
    config: ResolvedAsyncPublishConfig,
    parts: PublisherOptions & { transport: Transport; store: PendingStore },
  ) {
    this.#rabbit = rabbit;
    this.#config = config;
    this.#transport = parts.transport;
    this.#store = parts.store;
    this.#logger = parts.logger ?? quietLogger;
    this.#now = parts.now ?? Date.now;
    this.#random = parts.random ?? Math.random;
    this.#buffer = new RabbitMQEventBuffer(this.#store, this.#now);
    this.deadLetters = new DeadLetterQueue({
      urls: rabbit.urls,
      queue: rabbit.deadLetterQueue,
      store: this.#store,
      publishTimeout: config.publishTimeout,
      logger: this.#logger,
    });
    const onStateChange = parts.onStateChange;
    this.#breaker = new CircuitBreaker({
      ...config.circuitBreaker,
      now: this.#now,
      onStateChange: (change) => {
        const log = change.to === "open" ? this.#logger.warn : this.#logger.info;
        log(`circuit breaker ${change.from} -> ${change.to}: ${change.reason}`);
        onStateChange?.(change);
        if (change.to === "open") this.#releaseWaiters();
        // Dead letters made while the circuit was open can go to the broker now.
        if (change.to === "closed") this.#runHousekeeping();
        this.#pump();
      },
    });
    this.#unsubscribe = this.#transport.onStateChange((change) => this.#onConnection(change));
    const { cleanupInterval } = config.bufferConfig;
    this.#cleanupTimer = setInterval(() => this.#runHousekeeping(), cleanupInterval);
  }

  /**
   * Whether the connection is up and publishing is not blocked. The circuit
   * breaker is not consulted: see `getStats().circuitState`.
   *
   * @returns `true` when the transport is `connected`.
   *
   * @example
   * ```ts ignore
   * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
   *
   * await using publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
   * if (!publisher.isRabbitMQAvailable) console.warn("RabbitMQ is down: events are buffered");
   * ```
   */
  get isRabbitMQAvailable(): boolean {
    return this.#transport.state === "connected";
  }

  /**
   * Accepts one event. Resolves once the event is stored (on disk with
   * persistence); for high priority, once RabbitMQ confirmed it or it was
   * buffered.
   *
   * @param event The event.
   * @returns Its receipt.
   * @throws {EventValidationError} When the event is invalid; nothing is stored.
   * @throws {BufferFullError} When the buffer is full and the policy is `reject`.
   * @throws {PublisherClosedError} After `close()` began.
   * @throws {StoreLockedError} With persistence, when another process has taken
   * over the store's lease.
   *
   * @example
   * ```ts ignore
   * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
   *
   * await using publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
   * const { status } = await publisher.publish({
   *   id: crypto.randomUUID(),
   *   type: "recording.failed",
   *   data: { recordingId: "123" },
   *   metadata: { source: "recorder", priority: "high" },
   * });
   * console.log(status); // "confirmed" when the broker is up
   * ```
   */
  async publish(event: DomainEvent): Promise<PublishReceipt> {
    this.#assertOpen();
    const [receipt] = await this.#accept([this.#encode(event)], true);
    return receipt;
  }

  /**
   * Accepts several events: all are validated first, and one bad event
   * rejects the whole batch (naming its index) with nothing stored.
   * High-priority events in the batch are sent at once, but their confirms
   * are not awaited.
   *
   * @param events The events.
   * @returns A receipt per event, in order.
   * @throws {TypeError} When `events` is not an array.
   * @throws {EventValidationError} When an event is invalid; `index` names it.
   * @throws {BufferFullError} When the batch does not fit and the policy is `reject`.
   * @throws {PublisherClosedError} After `close()` began.
   * @throws {StoreLockedError} With persistence, when another process has taken
   * over the store's lease.
   *
   * @example
   * ```ts ignore
   * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
   *
   * await using publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
   * const receipts = await publisher.publishBatch([
   *   { id: crypto.randomUUID(), type: "order.placed", data: { orderId: 1 } },
   *   { id: crypto.randomUUID(), type: "order.placed", data: { orderId: 2 } },
   * ]);
   * console.log(receipts.map((r) => r.status)); // ["queued", "queued"]
   * ```
   */
  async publishBatch(events: readonly DomainEvent[]): Promise<PublishReceipt[]> {
    this.#assertOpen();
    if (!Array.isArray(events)) {
      throw new TypeError(`'events' must be an array: got ${typeof events}`);
    }
    const encoded = events.map((event, index) => {
      try {
        return this.#encode(event);
      } catch (error) {
        if (!(error instanceof EventValidationError)) throw error;
        throw new EventValidationError(error.field, `events[${index}]: ${error.message}`, {
          index,
          cause: error,
        });
      }
    });
    if (encoded.length === 0) return [];
    return await this.#accept(encoded, false);
  }

  /**
   * Sends every ready pending event now, whatever the batch fill, and waits
   * until none is left that can be sent (or `timeoutMs` passes). It returns
   * at once while the broker is unavailable or the circuit is open; events
   * waiting out a retry delay keep it waiting until they are sent or the
   * timeout passes.
   *
   * @param timeoutMs The longest wait, in ms. Defaults to `publishTimeout`.
   * @returns The number of events still pending, in flight included.
   *
   * @example
   * ```ts ignore
   * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
   *
   * await using publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
   * await publisher.publish({ id: crypto.randomUUID(), type: "user.created", data: {} });
   * const pending = await publisher.flush(5_000);
   * console.log(pending); // 0 when the broker confirmed everything
   * ```
   */
  async flush(timeoutMs: number = this.#config.publishTimeout): Promise<number> {
    this.#flushDue = true;
    this.#pump();
    await settleWithin(this.#whenIdle(), timeoutMs);
    return this.#store.counts().size;
  }

  /**
   * The buffer: the pending events, with sizes and limits.
   *
   * @returns The buffer.
   *
   * @example
   * ```ts ignore
   * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
   *
   * await using publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
   * const { size, utilizationPercent } = publisher.getEventBuffer().getStats();
   * console.log(`${size} events pending, buffer ${utilizationPercent}% full`);
   * ```
   */
  getEventBuffer(): RabbitMQEventBuffer {
    return this.#buffer;
  }

  /**
   * Counters and gauges of the pipeline, for dashboards and troubleshooting.
   *
   * @returns A snapshot.
   *
   * @example
   * ```ts ignore
   * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
   *
   * await using publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
   * const stats = publisher.getStats();
   * console.log(stats.publishedEvents, stats.bufferedEvents, stats.circuitState, stats.lastError?.message);
   * ```
   */
  getStats(): PublisherStats {
    const bufferStats = this.#buffer.getStats();
    const waiting = bufferStats.size - bufferStats.inFlight;
    const available = this.isRabbitMQAvailable && this.#breaker.state !== "open";
    const stats: PublisherStats = {
      publishedEvents: this.#counters.published,
      failedEvents: this.#counters.failed,
      neverSentFailures: this.#counters.neverSent,
      unknownOutcomeFailures: this.#counters.unknownOutcome,
      retriedEvents: this.#counters.retried,
      deadLetteredEvents: this.#counters.deadLettered,
      queuedEvents: available ? waiting : 0,
      bufferedEvents: available ? 0 : waiting,
      inFlightEvents: bufferStats.inFlight,
      activeOperations: this.#activeBatches,
      peakActiveOperations: this.#peakBatches,
      isRabbitMQAvailable: this.isRabbitMQAvailable,
      connectionState: this.#transport.state,
      reconnectAttempts: this.#transport.reconnectAttempts,
      circuitState: this.#breaker.state,
      bufferStats,
    };
    if (this.#transport.url !== undefined) stats.brokerUrl = this.#transport.url;
    if (this.#lastConfirmAt !== undefined) {
      stats.msSinceLastConfirm = this.#now() - this.#lastConfirmAt;
    }
    if (this.#lastError !== undefined) stats.lastError = { ...this.#lastError };
    return stats;
  }

  /**
   * Whether the publisher is fit to serve, with a reason for each failed check.
   *
   * @returns The health report.
   *
   * @example
   * ```ts ignore
   * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
   *
   * await using publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
   * const health = publisher.getHealth();
   * if (!health.healthy) {
   *   for (const [name, check] of Object.entries(health.checks)) {
   *     if (!check.ok) console.warn(`${name}: ${check.reason}`);
   *   }
   * }
   * ```
   */
  getHealth(): PublisherHealth {
    const stats = this.getStats();
    const buffer = stats.bufferStats;
    const stallAfter = Math.max(2 * this.#config.publishTimeout, MIN_STALL_MS);
    const check = (ok: boolean, reason: string): HealthCheck => ok ? { ok } : { ok, reason };
    const checks: PublisherHealth["checks"] = {
      connection: check(
        stats.isRabbitMQAvailable,
        `RabbitMQ is ${stats.connectionState}` +
          (stats.lastError ? ` (last error: ${stats.lastError.message})` : "") +
          `; ${stats.reconnectAttempts} reconnect attempts`,
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
      delivery: check(
        !this.#config.enableBackgroundProcessing || buffer.oldestEventAgeMs <= stallAfter,
        `the oldest pending event has waited ${Math.round(buffer.oldestEventAgeMs / 1000)} s ` +
          `(${buffer.size} pending); ` +
          (stats.msSinceLastConfirm === undefined
            ? "nothing confirmed since start"
            : `last confirm ${Math.round(stats.msSinceLastConfirm / 1000)} s ago`),
      ),
      intake: check(this.#lifecycle === "running", `the publisher is ${this.#lifecycle}`),
    };
    return { healthy: Object.values(checks).every((c) => c.ok), checks };
  }

  /**
   * Stops intake (later publishes reject with `PublisherClosedError`), sends
   * what it can within the deadline, waits for in-flight confirms, then
   * closes the connection and the store and clears every timer. Calling it
   * again closes nothing more.
   *
   * @param options The deadline.
   * @returns How many events remain pending, and whether they survive.
   * @throws {Error} When the store cannot be closed (for example, releasing
   * the Deno KV lease fails).
   *
   * @example
   * ```ts ignore
   * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
   *
   * const publisher = await createRabbitMQAsyncEventPublisher(
   *   { exchange: "app" },
   *   { bufferConfig: { enablePersistence: true } },
   * );
   * // ... publish ...
   * const { remaining, timedOut, persistent } = await publisher.close({ timeoutMs: 5_000 });
   * if (remaining > 0) console.warn(`${remaining} events ${persistent ? "kept on disk" : "lost"}`);
   * console.log(timedOut);
   * ```
   */
  close(options: CloseOptions = {}): Promise<CloseReport> {
    // Every caller, concurrent or later, gets the one close and its report.
    this.#closing ??= this.#close(options.timeoutMs ?? 10_000);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<CloseReport> {
    this.#lifecycle = "closing";
    clearInterval(this.#cleanupTimer);
    const started = this.#now();
    this.#flushDue = true;
    this.#pump();
    const idle = await settleWithin(this.#whenIdle().then(() => true), timeoutMs);
    const timedOut = idle === undefined;
    // In-flight batches settle when the transport closes (as connection-lost) and are released.
    await this.#transport.close();
    await Promise.all(this.#dispatches);
    await this.#housekeeping;
    await this.deadLetters.close();
    this.#lifecycle = "closed";
    this.#clearTimers();
    this.#unsubscribe();
    this.#releaseWaiters();
    const remaining = this.#store.counts().size;
    const persistent = this.#store.persistent;
    await this.#store.close();
    const level = remaining > 0 && !persistent ? this.#logger.warn : this.#logger.info;
    level(
      `publisher closed in ${this.#now() - started} ms; ${remaining} events pending` +
        (remaining > 0 ? (persistent ? " (kept on disk)" : " (lost: persistence is off)") : ""),
    );
    return { remaining, timedOut, persistent };
  }

  /**
   * Closes the publisher with the default deadline, for `await using`.
   *
   * @returns Resolves once closed.
   * @throws {Error} When the store cannot be closed.
   *
   * @example
   * ```ts ignore
   * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
   *
   * {
   *   await using publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
   *   await publisher.publish({ id: crypto.randomUUID(), type: "user.created", data: {} });
   * } // closed here, with up to 10 s to deliver what is pending
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- intake ----

  #assertOpen(): void {
    if (this.#lifecycle !== "running") throw new PublisherClosedError();
  }

  #encode(event: DomainEvent): EncodedEvent {
    return encodeEvent(event, {
      maxMessageBytes: this.#config.maxMessageBytes,
      routingKey: this.#rabbit.routingKey,
      now: this.#now,
    });
  }

  async #accept(encoded: EncodedEvent[], awaitHigh: boolean): Promise<PublishReceipt[]> {
    const acceptedAt = this.#now();
    const exchange = this.#rabbit.exchange;
    // The encoded events are ours alone: completed in place, not copied.
    const events = encoded as NewRecord[];
    for (const event of events) {
      event.exchange = exchange;
      event.acceptedAt = acceptedAt;
    }
    const { records, evicted } = await this.#store.add(events);
    if (evicted.length > 0) {
      this.#logger.warn(`buffer full: evicted ${evicted.length} events to the dead letters`);
      this.#afterDeadLetters(evicted);
    }
    const sendable = this.#canSend();
    const receipts: (PublishReceipt | Promise<PublishReceipt>)[] = records.map((record) => {
      if (record.priority !== "high" || !sendable) {
        return { id: record.id, status: sendable ? "queued" : "buffered" };
      }
      this.#urgent++;
      return awaitHigh ? this.#waitFor(record) : { id: record.id, status: "queued" };
    });
    this.#pump();
    return await Promise.all(receipts);
  }

  /**
   * The receipt of a high-priority event once its first attempt settles:
   * `confirmed`, `dead-lettered`, or `buffered` (failed and kept for a retry,
   * or not settled within `publishTimeout`).
   */
  #waitFor(record: PendingRecord): Promise<PublishReceipt> {
    const { promise, resolve } = Promise.withResolvers<PublishReceipt>();
    const timer = setTimeout(() => settle("buffered"), this.#config.publishTimeout);
    const settle = (status: PublishStatus, reason?: DeadLetterReason) => {
      clearTimeout(timer);
      this.#waiters.delete(record.seq);
      resolve(reason === undefined ? { id: record.id, status } : { id: record.id, status, reason });
    };
    this.#waiters.set(record.seq, settle);
    return promise;
  }

  // ---- dispatcher ----

  #canSend(): boolean {
    return this.#transport.state === "connected" && this.#breaker.state !== "open" &&
      this.#lifecycle !== "closed";
  }

  /** Schedules a dispatcher pass; passes never overlap. */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    queueMicrotask(async () => {
      try {
        do {
          this.#pumpAgain = false;
          await this.#pumpOnce();
        } while (this.#pumpAgain);
      } catch (error) {
        this.#recordError(error);
        this.#logger.error("dispatcher pass failed", error);
      } finally {
        this.#pumping = false;
        this.#checkIdle();
      }
    });
  }

  async #pumpOnce(): Promise<void> {
    const { maxConcurrency, batchSize, enableBackgroundProcessing, flushInterval } = this.#config;
    while (this.#activeBatches < maxConcurrency && this.#lifecycle !== "closed") {
      const counts = this.#store.counts();
      const waiting = counts.size - counts.inFlight;
      if (waiting === 0) {
        this.#flushDue = false;
        this.#draining = false;
        this.#urgent = 0;
        return;
      }
      if (this.#transport.state !== "connected") return;
      const limit = this.#draining ? this.#config.bufferConfig.flushBatchSize : batchSize;
      const background = enableBackgroundProcessing || this.#lifecycle === "closing";
      const sendNow = this.#urgent > 0 || this.#flushDue || this.#draining ||
        (background && waiting >= limit);
      if (!sendNow) {
        if (background && this.#flushTimer === undefined) {
          this.#flushTimer = setTimeout(() => {
            this.#flushTimer = undefined;
            this.#flushDue = true;
            this.#pump();
          }, flushInterval);
        }
        return;
      }
      const now = this.#now();
      const readyAt = this.#store.nextReadyAt();
      if (readyAt === undefined || readyAt > now) {
        if (readyAt !== undefined) this.#wakeUpAt(readyAt);
        this.#urgent = 0;
        return;
      }
      if (!this.#breaker.allowsSend()) {
        const reopensAt = this.#breaker.reopensAt();
        if (reopensAt !== undefined) this.#wakeUpAt(reopensAt);
        return;
      }
      let batch: PendingRecord[];
      try {
        batch = await this.#store.take(limit, now);
      } catch (error) {
        this.#breaker.releaseProbe();
        throw error;
      }
      if (batch.length === 0) {
        this.#breaker.releaseProbe();
        return;
      }
      for (const record of batch) {
        if (this.#urgent > 0 && record.priority === "high") this.#urgent--;
      }
      if (batch.length < limit) {
        this.#flushDue = false;
        this.#draining = false;
        // Every ready high-priority event was in this batch.
        this.#urgent = 0;
      }
      this.#startBatch(batch);
    }
  }

  #startBatch(batch: PendingRecord[]): void {
    this.#activeBatches++;
    this.#peakBatches = Math.max(this.#peakBatches, this.#activeBatches);
    const dispatch = this.#sendBatch(batch)
      .catch((error) => {
        this.#recordError(error);
        this.#logger.error("a batch could not be settled", error);
      })
      .finally(() => {
        this.#activeBatches--;
        this.#dispatches.delete(dispatch);
        this.#pump();
      });
    this.#dispatches.add(dispatch);
  }

  async #sendBatch(batch: PendingRecord[]): Promise<void> {
    const outcomes = await this.#transport.send(batch, this.#config.publishTimeout);
    await this.#settle(batch, outcomes);
  }

  async #settle(batch: PendingRecord[], outcomes: SendOutcome[]): Promise<void> {
    const now = this.#now();
    const confirmed: PendingRecord[] = [];
    const retry: PendingRecord[] = [];
    const dead: { record: PendingRecord; reason: DeadLetterReason; error: TransportError }[] = [];
    let brokerFailure: TransportError | undefined;
    for (let i = 0; i < batch.length; i++) {
      const record = batch[i];
      const outcome = outcomes[i];
      if (outcome.ok) {
        confirmed.push(record);
        continue;
      }
      const error = outcome.error;
      this.#counters.failed++;
      if (error.sent) this.#counters.unknownOutcome++;
      else this.#counters.neverSent++;
      const classification = classifyError(error);
      if (classification.retriable) brokerFailure ??= error;
      this.#recordError(error);
      // A message that never left this process was not a delivery attempt.
      const attempts = error.sent ? record.attempts + 1 : record.attempts;
      const updated: PendingRecord = {
        ...record,
        attempts,
        firstFailureAt: record.firstFailureAt ?? now,
        lastFailureAt: now,
        lastError: `${error.name}: ${maskCredentials(error.message)}`,
        outcomeUnknown: record.outcomeUnknown || error.sent,
      };
      if (!classification.retriable) {
        dead.push({ record: updated, reason: classification.reason, error });
      } else if (attempts >= this.#config.retry.maxRetries) {
        dead.push({ record: updated, reason: "max-retries", error });
      } else {
        // A retry counts when an attempt was spent; a never-sent event simply goes again.
        if (error.sent) this.#counters.retried++;
        updated.nextAttemptAt = error.sent
          ? now + backoffDelay(Math.max(1, attempts), this.#config.retry, this.#random)
          : error.kind === "blocked"
          ? now + BLOCKED_RETRY_MS
          : now;
        retry.push(updated);
      }
    }
    if (brokerFailure !== undefined) this.#breaker.recordFailure(brokerFailure.message);
    else this.#breaker.recordSuccess();
    for (const { seq } of confirmed) this.#waiters.get(seq)?.("confirmed");
    if (confirmed.length > 0) {
      // Counted first: RabbitMQ has them, whatever the store is still doing.
      this.#counters.published += confirmed.length;
      this.#lastConfirmAt = now;
    }
    // Each step runs even when one before it failed, so that no event stays
    // in flight for good: a confirmed event the store failed to delete is
    // released and sent again (a duplicate, never a loss).
    const failures: unknown[] = [];
    const step = async (work: () => Promise<void>, orRelease: PendingRecord[]) => {
      try {
        await work();
      } catch (error) {
        failures.push(error);
        await this.#store.release(orRelease).catch((e) => failures.push(e));
      }
    };
    if (confirmed.length > 0) await step(() => this.#store.remove(confirmed), confirmed);
    if (dead.length > 0) {
      // Not kept as a dead letter: retried later, not at once in a tight loop.
      const later = dead.map(({ record }) => ({
        ...record,
        nextAttemptAt: now +
          backoffDelay(Math.max(1, record.attempts), this.#config.retry, this.#random),
      }));
      await step(() => this.#deadLetter(dead), later);
    }
    if (retry.length > 0) {
      await step(() => this.#store.release(retry), retry);
      const next = Math.min(...retry.map((r) => r.nextAttemptAt));
      if (next > now) this.#wakeUpAt(next);
    }
    for (const { seq } of retry) this.#waiters.get(seq)?.("buffered");
    if (failures.length > 0) throw failures[0];
  }

  // ---- dead letters ----

  async #deadLetter(
    items: readonly { record: PendingRecord; reason: DeadLetterReason; error?: Error }[],
  ): Promise<void> {
    const at = this.#now();
    const letters = items.map(({ record, reason, error }) =>
      toDeadLetter(record, reason, at, error)
    );
    // Kept locally first, then removed from pending, so a crash between the
    // two steps leaves a duplicate, never a loss.
    await this.#store.addDeadLetters(letters);
    await this.#store.remove(letters);
    this.#afterDeadLetters(letters);
  }

  /**
   * What follows every new dead letter, however it was made (failed send,
   * eviction, expiry): a log line, the counter, the waiting high-priority
   * caller's answer, and a move to the broker when it is there.
   */
  #afterDeadLetters(letters: readonly DeadLetterRecord[]): void {
    for (const letter of letters) {
      this.#logger.warn(
        `event ${letter.id} (${letter.type}) dead-lettered: ${letter.reason}` +
          (letter.errorMessage ? ` (${letter.errorMessage})` : ""),
      );
      this.#waiters.get(letter.seq)?.("dead-lettered", letter.reason);
    }
    this.#counters.deadLettered += letters.length;
    if (this.#canSend()) this.#runHousekeeping();
  }

  /** Moves local dead letters to the broker's dead-letter queue. */
  async #shipDeadLetters(): Promise<void> {
    const { deadLetterExchange } = this.#rabbit;
    // A broker that refused dead letters is not asked again at every reconnect:
    // a refusal that closes the channel would fail healthy batches each time.
    if (this.#now() < this.#shipPausedUntil) return;
    while (this.#transport.state === "connected") {
      const letters = await this.#store.listDeadLetters(this.#config.batchSize);
      if (letters.length === 0) return;
      const outcomes = await this.#transport.send(
        letters.map((letter) => ({
          exchange: deadLetterExchange,
          routingKey: letter.routingKey,
          body: letter.body,
          properties: {
            ...letter.properties,
            headers: { ...letter.properties.headers, ...deadLetterHeaders(letter) },
          },
        })),
        this.#config.publishTimeout,
      );
      const shipped = letters.filter((_, i) => outcomes[i].ok);
      await this.#store.removeDeadLetters(shipped.map((letter) => letter.seq));
      if (shipped.length < letters.length) {
        const failure = outcomes.find((outcome) => !outcome.ok);
        const pause = Math.min(this.#config.bufferConfig.cleanupInterval, SHIP_PAUSE_MAX_MS);
        this.#shipPausedUntil = this.#now() + pause;
        this.#logger.warn(
          `${letters.length - shipped.length} dead letters could not be moved to ` +
            `${deadLetterExchange}; kept locally, next try in ${Math.round(pause / 1000)} s` +
            (failure && !failure.ok ? ` (${failure.error.message})` : ""),
        );
        return;
      }
    }
  }

  // ---- housekeeping: expiry and dead-letter shipping ----

  #runHousekeeping(): void {
    if (this.#housekeeping !== undefined) return;
    this.#housekeeping = this.#housekeep()
      .catch((error) => {
        this.#recordError(error);
        this.#logger.error("buffer cleanup failed", error);
      })
      .finally(() => {
        this.#housekeeping = undefined;
      });
  }

  async #housekeep(): Promise<void> {
    const cutoff = this.#now() - this.#config.bufferConfig.maxEventAge;
    const expired = await this.#store.expire(cutoff);
    if (expired.length > 0) {
      this.#afterDeadLetters(expired);
    }
    await this.#shipDeadLetters();
  }

  // ---- connection and timers ----

  #onConnection(change: ConnectionStateChange): void {
    if (change.error) this.#recordError(change.error);
    if (change.to === "connected") {
      if (change.from !== "blocked") {
        // Draining is background work: with it off, only flush() or close() send the backlog.
        this.#draining = this.#config.enableBackgroundProcessing && this.#store.counts().size > 0;
        if (this.#breaker.state !== "closed") this.#breaker.reset("connection re-established");
        this.#runHousekeeping();
      }
      this.#pump();
    } else if (change.to === "disconnected" && change.from !== "connecting") {
      this.#breaker.trip(`connection lost: ${change.error?.message ?? "closed"}`);
    }
    if (change.to !== "connected") this.#releaseWaiters();
  }

  /**
   * Answers every waiting high-priority publish() with `buffered`: its event is
   * safe in the store, and the broker will not confirm it any time soon.
   */
  #releaseWaiters(): void {
    for (const settle of this.#waiters.values()) settle("buffered");
  }

  #wakeUpAt(at: number): void {
    if (at >= this.#wakeAt || this.#lifecycle === "closed") return;
    clearTimeout(this.#wakeTimer);
    this.#wakeAt = at;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      this.#wakeAt = Infinity;
      this.#flushDue = true;
      this.#pump();
    }, Math.max(0, at - this.#now()));
  }

  #whenIdle(): Promise<void> {
    this.#idle ??= Promise.withResolvers<void>();
    const idle = this.#idle.promise;
    this.#checkIdle();
    return idle;
  }

  #checkIdle(): void {
    if (this.#idle === undefined || this.#pumping || this.#activeBatches > 0) return;
    const nothingToSend = this.#store.counts().size === 0 || !this.#canSend();
    if (!nothingToSend) return;
    this.#idle.resolve();
    this.#idle = undefined;
  }

  #clearTimers(): void {
    clearTimeout(this.#flushTimer);
    clearTimeout(this.#wakeTimer);
    clearInterval(this.#cleanupTimer);
    this.#flushTimer = this.#wakeTimer = this.#cleanupTimer = undefined;
  }

  #recordError(error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    this.#lastError = { name: e.name, message: maskCredentials(e.message), at: this.#now() };
  }
}

/**
 * Creates a publisher and connects it. When no broker answers, the publisher
 * starts anyway in buffering mode and keeps reconnecting (unless
 * `requireConnection` is set), so a service can start during an outage.
 *
 * @param rabbitMQConfig Where to connect; see {@linkcode RabbitMQConfig}.
 * @param asyncConfig The pipeline's options; see {@linkcode AsyncPublishConfig}.
 * @param options Injected parts (transport, store, logger, clock).
 * @returns The running publisher.
 * @throws {RangeError} When an option is out of range; the message names it.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {StoreLockedError} When another live publisher holds the persistent store.
 * @throws {Error} When `requireConnection` is set and no broker answers.
 *
 * @example
 * ```ts ignore
 * import {
 *   createRabbitMQAsyncEventPublisher,
 *   parseAsyncPublishConfig,
 *   parseRabbitMQConfig,
 * } from "@simplycaster/rabbitmq-publisher";
 *
 * const publisher = await createRabbitMQAsyncEventPublisher(
 *   parseRabbitMQConfig(),
 *   parseAsyncPublishConfig(),
 * );
 * await publisher.close();
 * ```
 */
export async function createRabbitMQAsyncEventPublisher(
  rabbitMQConfig: RabbitMQConfig | ResolvedRabbitMQConfig = {},
  asyncConfig: AsyncPublishConfig = {},
  options: PublisherOptions = {},
): Promise<RabbitMQAsyncEventPublisher> {
  const rabbit = "urls" in rabbitMQConfig
    ? resolveRabbitMQConfig({ ...rabbitMQConfig, url: rabbitMQConfig.urls })
    : resolveRabbitMQConfig(rabbitMQConfig);
  const config = resolveAsyncPublishConfig(asyncConfig);
  const logger = options.logger ?? quietLogger;
  const store = options.store ?? await openStore(config, options.now);
  const transport = options.transport ?? new AmqpTransport({
    urls: rabbit.urls,
    exchange: rabbit.exchange,
    exchangeType: rabbit.exchangeType,
    deadLetter: { exchange: rabbit.deadLetterExchange, queue: rabbit.deadLetterQueue },
    heartbeat: rabbit.heartbeat,
    connectionName: rabbit.connectionName,
    reconnectBaseDelay: rabbit.reconnectBaseDelay,
    reconnectMaxDelay: rabbit.reconnectMaxDelay,
    logger,
  });
  const publisher = new RabbitMQAsyncEventPublisher(rabbit, config, {
    ...options,
    logger,
    transport,
    store,
  });
  const connected = await transport.start();
  if (!connected) {
    if (options.requireConnection) {
      await publisher.close({ timeoutMs: 0 });
      throw new Error(`no RabbitMQ broker answered at ${rabbit.urls.map(maskUrl).join(", ")}`);
    }
    logger.warn("RabbitMQ is unreachable: starting in buffering mode, reconnecting");
  }
  const pending = store.stats().size;
  if (pending > 0) logger.info(`${pending} events pending from a previous run`);
  return publisher;
}

async function openStore(
  config: ResolvedAsyncPublishConfig,
  now: (() => number) | undefined,
): Promise<PendingStore> {
  const buffer = config.bufferConfig;
  const limits = {
    maxEvents: buffer.maxBufferSize,
    maxBytes: buffer.maxPersistentSize,
    overflow: buffer.overflowPolicy,
  };
  if (!buffer.enablePersistence) return new MemoryStore(limits, now);
  return await KvStore.open({
    path: buffer.persistentStoragePath,
    limits,
    memoryLimit: config.maxBufferSize,
    now,
  });
}
