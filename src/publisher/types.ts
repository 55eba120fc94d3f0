/**
 * The publisher's API types: receipts, the close report and options, the
 * {@linkcode EventPublisher} interface services depend on, and the parts that
 * can be injected ({@linkcode PublisherOptions}).
 *
 * @module
 */

import type { CircuitStateChange } from "../policies/circuit_breaker.ts";
import type { Logger } from "../logger.ts";
import type { DomainEvent } from "../event.ts";
import type { DeadLetterReason, PendingStore } from "../store/store.ts";
import type { Transport } from "../amqp/transport.ts";

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
