/**
 * `RabbitMQAsyncEventPublisher`: the facade that wires the transport, the
 * pending store and the policies together. Its parts do the work: the
 * dispatcher (`_dispatcher.ts`) and its pure settle step (`_settle.ts`), the
 * high-priority waiters (`_waiters.ts`), housekeeping (`_housekeeping.ts`).
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

import { maskCredentials } from "../_mask.ts";
import { settleWithin } from "../_async.ts";
import { CircuitBreaker } from "../policies/circuit_breaker.ts";
import type { ResolvedAsyncPublishConfig, ResolvedRabbitMQConfig } from "../config/types.ts";
import { DeadLetterQueue } from "../dead_letters/queue.ts";
import { BrokerConfigurationError, PublisherClosedError } from "../errors.ts";
import type { DomainEvent } from "../event.ts";
import { type Logger, quietLogger } from "../logger.ts";
import type { PendingStore } from "../store/store.ts";
import type { ConnectionStateChange, Transport } from "../amqp/transport.ts";
import {
  assessHealth,
  type HealthOptions,
  type LastError,
  type PublisherHealth,
  type PublisherStats,
  RabbitMQEventBuffer,
} from "./health.ts";
import type {
  CloseOptions,
  CloseReport,
  EventPublisher,
  FlushOptions,
  PublisherOptions,
  PublishReceipt,
} from "./types.ts";
import { ChangeSignal, flushOptions, waitAtMost } from "./_changes.ts";
import { closeReport } from "./_close_report.ts";
import { EvictionLog } from "./_dead_letter_log.ts";
import { Dispatcher } from "./_dispatcher.ts";
import { Housekeeping } from "./_housekeeping.ts";
import { Waiters } from "./_waiters.ts";
import { Intake } from "./_intake.ts";
import { createTelemetry, type Telemetry } from "./_telemetry.ts";
import { activeContext } from "./_tracing.ts";

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
  readonly #waiters: Waiters;
  readonly #dispatcher: Dispatcher;
  readonly #housekeeping: Housekeeping;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #unsubscribe: () => void;
  // Undefined with `telemetry: false`: then not even the no-op API is called.
  readonly #telemetry: Telemetry | undefined;
  readonly #unobserve: () => void;
  /**
   * The dead letters, local and on the broker: list, count, replay, purge.
   * Opens its own connection on first use; `close()` closes it.
   */
  readonly deadLetters: DeadLetterQueue;
  #closing: Promise<CloseReport> | undefined;
  /** Wakes flush() calls waiting for a connection or circuit change. */
  readonly #changes = new ChangeSignal();
  /** Evictions are logged once per burst, with a count. */
  readonly #evictions: EvictionLog;
  #lastError: LastError | undefined;
  readonly #intake: Intake;
  // The broker's refusal of the setup, until a connection succeeds.
  #refusal: LastError | undefined;

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
   * import { AmqpTransport, MemoryStore, RabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
   * import { resolveAsyncPublishConfig, resolveRabbitMQConfig } from "@simplycaster/rabbitmq-publisher";
   *
   * const rabbit = resolveRabbitMQConfig({ exchange: "app" });
   * const config = resolveAsyncPublishConfig();
   * const transport = new AmqpTransport({ urls: rabbit.urls, exchange: rabbit.exchange });
   * const store = new MemoryStore({ maxEvents: 10_000, maxBytes: 50_000_000, overflow: "reject" });
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
    const transport = this.#transport = parts.transport;
    const store = this.#store = parts.store;
    const logger = this.#logger = parts.logger ?? quietLogger;
    const now = this.#now = parts.now ?? Date.now;
    this.#buffer = new RabbitMQEventBuffer(store, now);
    this.#evictions = new EvictionLog(logger, config.bufferConfig.overflowPolicy, now);
    this.deadLetters = new DeadLetterQueue({
      urls: rabbit.urls,
      queue: rabbit.deadLetterQueue,
      store,
      publishTimeout: config.publishTimeout,
      logger,
    });
    const onStateChange = parts.onStateChange;
    this.#breaker = new CircuitBreaker({
      ...config.circuitBreaker,
      now,
      onStateChange: (change) => {
        const log = change.to === "open" ? logger.warn : logger.info;
        log(`circuit breaker ${change.from} -> ${change.to}: ${change.reason}`);
        onStateChange?.(change);
        if (change.to === "open") this.#waiters.releaseAll();
        else this.#changes.notify(); // sending may be possible again
        // Dead letters made while the circuit was open can go to the broker now.
        if (change.to === "closed") this.#housekeeping.run();
        this.#dispatcher.wake();
      },
    });
    const onError = (error: unknown) => this.#recordError(error);
    const telemetry = this.#telemetry = createTelemetry(parts.telemetry);
    this.#waiters = new Waiters(config.publishTimeout);
    this.#dispatcher = new Dispatcher({
      config,
      transport,
      store,
      breaker: this.#breaker,
      waiters: this.#waiters,
      logger,
      now,
      random: parts.random ?? Math.random,
      telemetry,
      onError,
      onDeadLetters: () => {
        if (this.#dispatcher.canSend()) this.#housekeeping.run();
      },
    });
    this.#housekeeping = new Housekeeping({
      config,
      store,
      transport,
      logger,
      now,
      deadLetterExchange: rabbit.deadLetterExchange,
      onExpired: (letters) => this.#dispatcher.deadLettered(letters),
      onError,
    });
    this.#intake = new Intake({
      store,
      dispatcher: this.#dispatcher,
      waiters: this.#waiters,
      evictions: this.#evictions,
      telemetry,
      exchange: rabbit.exchange,
      encode: { maxMessageBytes: config.maxMessageBytes, routingKey: rabbit.routingKey, now },
      now,
    });
    this.#unsubscribe = transport.onStateChange((change) => this.#onConnection(change));
    this.#unobserve = telemetry?.metrics.observe(() => this.getStats()) ?? (() => {});
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
   * buffered. An event whose id is still pending is a duplicate: nothing new
   * is stored, and the receipt is the pending event's (a high-priority one
   * awaits the same confirm); `deduplicatedEvents` counts it.
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
   * declare const publisher: RabbitMQAsyncEventPublisher;
   * const { status } = await publisher.publish({
   *   id: crypto.randomUUID(),
   *   type: "recording.failed",
   *   data: { recordingId: "123" },
   *   metadata: { source: "recorder", priority: "high" },
   * });
   * console.log(status); // "confirmed" when the broker is up
   * ```
   */
  publish(event: DomainEvent): Promise<PublishReceipt> {
    // Not an async function: its frame and promise were a third of what a
    // queued publish() allocated. Every failure still comes as a rejection.
    try {
      const parent = this.#telemetry && activeContext();
      this.#assertOpen();
      // A promise comes back as it is; a receipt already made, resolved.
      return Promise.resolve(this.#intake.one(event, parent));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Accepts several events: all are validated first, and one bad event
   * rejects the whole batch (naming its index) with nothing stored.
   * High-priority events in the batch are sent at once, but their confirms
   * are not awaited. An id still pending, or seen earlier in the batch, is a
   * duplicate: it gets that event's receipt and nothing new is stored.
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
   * declare const publisher: RabbitMQAsyncEventPublisher;
   * const receipts = await publisher.publishBatch([
   *   { id: crypto.randomUUID(), type: "order.placed", data: { orderId: 1 } },
   *   { id: crypto.randomUUID(), type: "order.placed", data: { orderId: 2 } },
   * ]);
   * console.log(receipts.map((r) => r.status)); // ["queued", "queued"]
   * ```
   */
  async publishBatch(events: readonly DomainEvent[]): Promise<PublishReceipt[]> {
    const parent = this.#telemetry && activeContext();
    this.#assertOpen();
    if (!Array.isArray(events)) {
      throw new TypeError(`'events' must be an array: got ${typeof events}`);
    }
    return await this.#intake.many(events, parent);
  }

  /**
   * Sends every ready pending event now, whatever the batch fill, and waits
   * for real progress: until none is left that can be sent, or, while the
   * broker is unavailable or the circuit open, until that changes (so a loop
   * `while (await flush() > 0)` waits out an outage instead of spinning), or
   * until `timeoutMs` passes. Events waiting out a retry delay keep it
   * waiting until they are sent or the timeout passes.
   *
   * @param options The longest wait in ms (a number, as before), or
   * `{ timeoutMs, signal }`. `timeoutMs` defaults to `publishTimeout`.
   * @returns The number of events still pending, in flight included.
   * @throws {RangeError} When `timeoutMs` is not a positive number.
   * @throws {unknown} The signal's reason, when `signal` aborts the wait.
   *
   * @example
   * ```ts ignore
   * declare const publisher: RabbitMQAsyncEventPublisher;
   * await publisher.publish({ id: crypto.randomUUID(), type: "user.created", data: {} });
   * const pending = await publisher.flush({ timeoutMs: 5_000, signal: AbortSignal.timeout(10_000) });
   * console.log(pending); // 0 when the broker confirmed everything
   * ```
   */
  async flush(options: number | FlushOptions = {}): Promise<number> {
    const { timeoutMs, signal } = flushOptions(options, this.#config.publishTimeout);
    signal?.throwIfAborted();
    if (this.#store.counts().size === 0 || this.#dispatcher.mode === "closed") {
      return this.#store.counts().size;
    }
    this.#dispatcher.flush("flush() was called");
    const change = this.#changes.next();
    try {
      const progress = this.#dispatcher.canSend() ? this.#dispatcher.whenIdle() : change.promise;
      await waitAtMost(progress, timeoutMs, signal);
    } finally {
      change.cancel();
    }
    return this.#store.counts().size;
  }

  /**
   * The buffer: the pending events, with sizes and limits.
   *
   * @returns The buffer.
   *
   * @example
   * ```ts ignore
   * declare const publisher: RabbitMQAsyncEventPublisher;
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
   * declare const publisher: RabbitMQAsyncEventPublisher;
   * const stats = publisher.getStats();
   * console.log(stats.publishedEvents, stats.bufferedEvents, stats.circuitState, stats.lastError?.message);
   * ```
   */
  getStats(): PublisherStats {
    const bufferStats = this.#buffer.getStats();
    const waiting = bufferStats.size - bufferStats.inFlight;
    const available = this.isRabbitMQAvailable && this.#breaker.state !== "open";
    const counters = this.#dispatcher.counters;
    const stats: PublisherStats = {
      publishedEvents: counters.published,
      failedEvents: counters.failed,
      neverSentFailures: counters.neverSent,
      unknownOutcomeFailures: counters.unknownOutcome,
      retriedEvents: counters.retried,
      resentEvents: counters.resent,
      deadLetteredEvents: counters.deadLettered,
      deduplicatedEvents: this.#intake.deduplicated,
      queuedEvents: available ? waiting : 0,
      bufferedEvents: available ? 0 : waiting,
      inFlightEvents: bufferStats.inFlight,
      activeOperations: this.#dispatcher.activeBatches,
      peakActiveOperations: this.#dispatcher.peakBatches,
      isRabbitMQAvailable: this.isRabbitMQAvailable,
      connectionState: this.#transport.state,
      reconnectAttempts: this.#transport.reconnectAttempts,
      circuitState: this.#breaker.state,
      bufferStats,
    };
    if (this.#transport.url !== undefined) stats.brokerUrl = this.#transport.url;
    const blockedReason = this.#transport.blockedReason;
    if (stats.connectionState === "blocked" && blockedReason !== undefined) {
      stats.blockedReason = blockedReason;
    }
    const lastConfirmAt = this.#dispatcher.lastConfirmAt;
    if (lastConfirmAt !== undefined) stats.msSinceLastConfirm = this.#now() - lastConfirmAt;
    if (this.#lastError !== undefined) stats.lastError = { ...this.#lastError };
    if (this.#refusal !== undefined) stats.configurationError = { ...this.#refusal };
    return stats;
  }

  /**
   * Whether the publisher is fit to serve, with a reason for each failed check.
   *
   * @returns The health report.
   *
   * @example
   * ```ts ignore
   * declare const publisher: RabbitMQAsyncEventPublisher;
   * const health = publisher.getHealth();
   * if (!health.healthy) {
   *   for (const [name, check] of Object.entries(health.checks)) {
   *     if (!check.ok) console.warn(`${name}: ${check.reason}`);
   *   }
   * }
   * ```
   */
  getHealth(): PublisherHealth {
    return assessHealth(this.getStats(), {
      publishTimeout: this.#config.publishTimeout,
      backgroundProcessing: this.#config.enableBackgroundProcessing,
      lifecycle: this.#lifecycle(),
    });
  }

  /**
   * Stops intake (later publishes reject with `PublisherClosedError`), sends
   * what it can within the deadline, waits for in-flight confirms, moves the
   * local dead letters to the broker's dead-letter queue, then closes the
   * connection and the store and clears every timer. Calling it again closes
   * nothing more.
   *
   * What is left (pending events, local dead letters) survives on disk with
   * persistence; without it, it is lost, counted in the report's `lost` and
   * logged at `warn`.
   *
   * @param options The deadline.
   * @returns How many events and dead letters are left, and whether they survive.
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
   * const { remaining, localDeadLetters, lost } = await publisher.close({ timeoutMs: 5_000 });
   * console.log(`${remaining} events and ${localDeadLetters} dead letters left`);
   * if (lost.events + lost.deadLetters > 0) console.warn("lost:", lost); // memory mode only
   * ```
   */
  close(options: CloseOptions = {}): Promise<CloseReport> {
    // Every caller, concurrent or later, gets the one close and its report.
    this.#closing ??= this.#close(options.timeoutMs ?? 10_000);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<CloseReport> {
    this.#housekeeping.stopTimer();
    const started = this.#now();
    const deadline = started + timeoutMs;
    this.#dispatcher.beginClose();
    this.#changes.notify();
    const idle = await settleWithin(this.#dispatcher.whenIdle().then(() => true), timeoutMs);
    // Dead letters go to the broker while the connection is still open, so a
    // move that succeeds is never reported as cut short by the close.
    const move = await this.#housekeeping.finalMove(deadline);
    const timedOut = idle === undefined || move.timedOut === true;
    // In-flight batches settle when the transport closes (as connection-lost) and are released.
    await this.#transport.close();
    await this.#dispatcher.settled();
    await this.#housekeeping.settled();
    await this.deadLetters.close();
    this.#dispatcher.stop();
    this.#evictions.flush();
    this.#unsubscribe();
    this.#waiters.releaseAll();
    const left = {
      events: this.#store.counts().size,
      deadLetters: this.#store.stats().deadLetters,
    };
    const persistent = this.#store.persistent;
    this.#unobserve();
    this.#telemetry?.tracing.endAll(persistent);
    await this.#store.close();
    return closeReport(left, { persistent, timedOut, ms: this.#now() - started }, this.#logger);
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

  #lifecycle(): HealthOptions["lifecycle"] {
    const mode = this.#dispatcher.mode;
    return mode === "closed" || mode === "closing" ? mode : "running";
  }

  #assertOpen(): void {
    if (this.#lifecycle() !== "running") throw new PublisherClosedError();
  }

  // ---- connection ----

  #onConnection(change: ConnectionStateChange): void {
    if (change.error) this.#recordError(change.error);
    if (change.error instanceof BrokerConfigurationError) this.#refusal = this.#lastError;
    if (change.to === "connected" || change.to === "blocked") this.#refusal = undefined;
    if (change.to === "connected") {
      if (change.from !== "blocked") {
        this.#dispatcher.reconnected();
        if (this.#breaker.state !== "closed") this.#breaker.reset("connection re-established");
        this.#housekeeping.run();
      }
      this.#dispatcher.wake();
      this.#changes.notify(); // after the breaker's reset: flush() may send at once
    } else if (change.to === "disconnected" && change.from !== "connecting") {
      this.#breaker.trip(`connection lost: ${change.error?.message ?? "closed"}`);
    }
    if (change.to !== "connected") this.#waiters.releaseAll();
  }

  #recordError(error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    this.#lastError = { name: e.name, message: maskCredentials(e.message), at: this.#now() };
  }
}
