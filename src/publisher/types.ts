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
import type { EnvReader } from "../config/types.ts";

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
 * What `close()` reports: what was left when the publisher closed, and
 * whether it survives. With persistence on, pending events and local dead
 * letters stay on disk for the next start; without, they are lost, and
 * `lost` counts them (a loss is also logged at `warn`). Nothing goes
 * uncounted.
 *
 * @example
 * ```ts
 * import type { CloseReport } from "@simplycaster/rabbitmq-publisher";
 *
 * // The broker was down at shutdown: 12 events and 3 dead letters wait on disk.
 * const kept: CloseReport = {
 *   remaining: 12,
 *   localDeadLetters: 3,
 *   timedOut: false,
 *   persistent: true,
 *   lost: { events: 0, deadLetters: 0 },
 * };
 * // The same in memory mode: all of it is gone, and said so.
 * const lost: CloseReport = { ...kept, persistent: false, lost: { events: 12, deadLetters: 3 } };
 * ```
 */
export interface CloseReport {
  /** Events still pending after close (not confirmed by RabbitMQ). */
  remaining: number;
  /** Dead letters still held locally: not moved to the broker's dead-letter queue. */
  localDeadLetters: number;
  /** Whether the deadline ran out before everything was confirmed and moved. */
  timedOut: boolean;
  /** Whether what is left survives (persistence on: it waits on disk for the next start). */
  persistent: boolean;
  /** What is left and does not survive: everything left in memory mode, nothing with persistence. */
  lost: {
    /** Pending events lost. */
    events: number;
    /** Local dead letters lost. */
    deadLetters: number;
  };
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
   * How long to keep flushing, waiting for confirms and moving dead letters
   * to the broker, in ms.
   * @default {10000}
   */
  timeoutMs?: number;
}

/**
 * Options of `flush()`.
 *
 * @example
 * ```ts
 * import type { FlushOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * const controller = new AbortController();
 * const options: FlushOptions = { timeoutMs: 5_000, signal: controller.signal };
 * ```
 */
export interface FlushOptions {
  /**
   * The longest wait, in ms.
   * @default {publishTimeout}
   */
  timeoutMs?: number;
  /** Ends the wait early: `flush()` rejects with the signal's reason. */
  signal?: AbortSignal;
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
 *   close: () =>
 *     Promise.resolve({
 *       remaining: 0,
 *       localDeadLetters: 0,
 *       timedOut: false,
 *       persistent: false,
 *       lost: { events: 0, deadLetters: 0 },
 *     }),
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
 * const report = await publisher.close();
 * console.log(report.remaining, report.lost); // 1 { events: 1, deadLetters: 0 }
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
  /**
   * Where `createRabbitMQAsyncEventPublisher()` reads the `RABBITMQ_*`
   * variables, which apply beneath the options passed in code (code, then
   * environment, then the defaults); `false` reads none.
   * @default {the process environment: the variables the process may read}
   */
  env?: EnvReader | false;
  /**
   * Traces and metrics through the global OpenTelemetry API
   * (`npm:@opentelemetry/api`): no-ops until an SDK registers, such as Deno's
   * built-in one with `OTEL_DENO=true`. `false` makes no call into the API at
   * all, whatever is registered.
   * @default {true}
   */
  telemetry?: boolean;
}
