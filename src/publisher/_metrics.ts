// Metrics of the pipeline: counters and histograms recorded as events are
// sent, confirmed, retried or dead-lettered, and observable gauges read from
// the publisher's stats at each collection. The names follow the messaging
// semantic conventions where one exists, else `rabbitmq_publisher.*`.

import {
  type Attributes,
  type BatchObservableResult,
  type Counter,
  createNoopMeter,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
  type ObservableGauge,
} from "@opentelemetry/api";
import type { ConnectionState } from "../amqp/transport.ts";
import type { CircuitState } from "../policies/circuit_breaker.ts";
import { type EventPriority, PRIORITIES } from "../event.ts";
import type { PublisherStats } from "./health.ts";
import {
  ATTR,
  INSTRUMENTATION_SCOPE,
  INSTRUMENTATION_VERSION,
  type Server,
  serverAttributes,
} from "./_semconv.ts";

// Listed from a record of every member, so that a new member is a compile error here.
const every = <T extends string>(members: Record<T, true>) => Object.keys(members) as T[];
/** Every circuit breaker state, for gauges that report 1 for the current one. */
export const CIRCUIT_STATES: readonly CircuitState[] = every<CircuitState>({
  closed: true,
  open: true,
  half_open: true,
});
/** Every connection state, for gauges that report 1 for the current one. */
export const CONNECTION_STATES: readonly ConnectionState[] = every<ConnectionState>({
  connecting: true,
  connected: true,
  blocked: true,
  disconnected: true,
  closed: true,
});
// The conventions' advice for messaging.client.operation.duration.
const DURATION_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
];
const LATENCY_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  3600,
];
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/** One instrument: its name, kind, unit and what it counts. */
export interface InstrumentSpec {
  name: string;
  kind: "counter" | "histogram" | "gauge";
  unit: string;
  description: string;
  /** A histogram's bucket boundaries. */
  buckets?: number[];
}

const spec = (
  name: string,
  kind: InstrumentSpec["kind"],
  unit: string,
  description: string,
  buckets?: number[],
): InstrumentSpec =>
  buckets === undefined
    ? { name, kind, unit, description }
    : { name, kind, unit, description, buckets };

/**
 * Every instrument the publisher records: the messaging conventions' names
 * where one exists, else under `rabbitmq_publisher.`.
 */
export const INSTRUMENTS = {
  sent: spec(
    "messaging.client.sent.messages",
    "counter",
    "{message}",
    "Messages sent to RabbitMQ, by outcome: confirmed, or failed with error.type",
  ),
  operationDuration: spec(
    "messaging.client.operation.duration",
    "histogram",
    "s",
    "Duration of one batch send, from the first write to the last confirm",
    DURATION_BUCKETS,
  ),
  retried: spec(
    "rabbitmq_publisher.events.retried",
    "counter",
    "{event}",
    "Delivery attempts rescheduled with backoff",
  ),
  deadLettered: spec(
    "rabbitmq_publisher.events.dead_lettered",
    "counter",
    "{event}",
    "Events moved to the dead letters, by reason",
  ),
  deduplicated: spec(
    "rabbitmq_publisher.events.deduplicated",
    "counter",
    "{event}",
    "publish() calls answered by a pending event with the same id",
  ),
  evicted: spec(
    "rabbitmq_publisher.events.evicted",
    "counter",
    "{event}",
    "Events evicted by the overflow policy (and dead-lettered)",
  ),
  confirmLatency: spec(
    "rabbitmq_publisher.event.confirm.duration",
    "histogram",
    "s",
    "Time from publish() to RabbitMQ's confirm, buffering included",
    LATENCY_BUCKETS,
  ),
  batchSize: spec(
    "rabbitmq_publisher.batch.size",
    "histogram",
    "{message}",
    "Messages per batch send",
    BATCH_BUCKETS,
  ),
  pending: spec(
    "rabbitmq_publisher.buffer.events",
    "gauge",
    "{event}",
    "Pending events (not yet confirmed), in flight included, by priority",
  ),
  bytes: spec("rabbitmq_publisher.buffer.bytes", "gauge", "By", "Pending bytes"),
  inFlight: spec(
    "rabbitmq_publisher.buffer.in_flight",
    "gauge",
    "{message}",
    "Messages sent and awaiting their confirm",
  ),
  utilization: spec(
    "rabbitmq_publisher.buffer.utilization",
    "gauge",
    "1",
    "The fuller of count and bytes against the buffer's limits, 0 to 1",
  ),
  oldestAge: spec(
    "rabbitmq_publisher.buffer.oldest_event.age",
    "gauge",
    "s",
    "Age of the oldest pending event; 0 when empty",
  ),
  localDeadLetters: spec(
    "rabbitmq_publisher.dead_letters.local",
    "gauge",
    "{message}",
    "Dead letters held locally, waiting for the broker's dead-letter queue",
  ),
  circuitState: spec(
    "rabbitmq_publisher.circuit.state",
    "gauge",
    "1",
    "1 for the circuit breaker's current state, 0 for the others",
  ),
  connectionState: spec(
    "rabbitmq_publisher.connection.state",
    "gauge",
    "1",
    "1 for the connection's current state, 0 for the others",
  ),
} as const satisfies Record<string, InstrumentSpec>;

// One attribute set per priority, not one per recorded event.
const PRIORITY_ATTRIBUTES: Readonly<Record<EventPriority, Attributes>> = {
  high: { [ATTR.priority]: "high" },
  normal: { [ATTR.priority]: "normal" },
  low: { [ATTR.priority]: "low" },
};

/** What the observable gauges read at each collection: a part of `getStats()`. */
export type GaugeReading = Pick<PublisherStats, "circuitState" | "connectionState"> & {
  bufferStats: Pick<
    PublisherStats["bufferStats"],
    | "byPriority"
    | "bytes"
    | "inFlight"
    | "utilizationPercent"
    | "oldestEventAgeMs"
    | "localDeadLetters"
  >;
};

/** The publisher's instruments. */
export class PublisherMetrics {
  readonly meter: Meter;
  readonly #sent: Counter;
  readonly #operationDuration: Histogram;
  readonly #retried: Counter;
  readonly #deadLettered: Counter;
  readonly #deduplicated: Counter;
  readonly #evicted: Counter;
  readonly #confirmLatency: Histogram;
  readonly #batchSize: Histogram;
  // The API's no-op meter (no SDK was registered): then nothing is recorded at all.
  readonly #noop: boolean;

  /** @param meterProvider Creates the meter; the global one by default. */
  constructor(meterProvider: MeterProvider = metrics.getMeterProvider()) {
    const m = this.meter = meterProvider.getMeter(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION);
    this.#noop = m === createNoopMeter();
    const counter = ({ name, unit, description }: InstrumentSpec) =>
      m.createCounter(name, { unit, description });
    const histogram = ({ name, unit, description, buckets }: InstrumentSpec) =>
      m.createHistogram(name, { unit, description, advice: { explicitBucketBoundaries: buckets } });
    this.#sent = counter(INSTRUMENTS.sent);
    this.#operationDuration = histogram(INSTRUMENTS.operationDuration);
    this.#retried = counter(INSTRUMENTS.retried);
    this.#deadLettered = counter(INSTRUMENTS.deadLettered);
    this.#deduplicated = counter(INSTRUMENTS.deduplicated);
    this.#evicted = counter(INSTRUMENTS.evicted);
    this.#confirmLatency = histogram(INSTRUMENTS.confirmLatency);
    this.#batchSize = histogram(INSTRUMENTS.batchSize);
  }

  /** Whether anything is recorded: an SDK's meter, not the API's no-op one. */
  get recording(): boolean {
    return !this.#noop;
  }

  /**
   * Counts a batch's outcomes in `messaging.client.sent.messages` and records
   * its size and duration.
   */
  recordSend(exchange: string, outcomes: {
    confirmed: number;
    failed: ReadonlyMap<string, number>;
    durationMs: number;
    server?: Server;
  }): void {
    if (this.#noop) return;
    const base: Attributes = {
      [ATTR.system]: "rabbitmq",
      [ATTR.operationName]: "send",
      [ATTR.destination]: exchange,
      ...serverAttributes(outcomes.server),
    };
    if (outcomes.confirmed > 0) this.#sent.add(outcomes.confirmed, base);
    let total = outcomes.confirmed;
    let firstError: string | undefined;
    for (const [errorType, count] of outcomes.failed) {
      this.#sent.add(count, { ...base, [ATTR.errorType]: errorType });
      total += count;
      firstError ??= errorType;
    }
    this.#batchSize.record(total, base);
    this.#operationDuration.record(
      outcomes.durationMs / 1000,
      firstError === undefined ? base : { ...base, [ATTR.errorType]: firstError },
    );
  }

  /** Records the time from `publish()` to RabbitMQ's confirm of one event. */
  recordConfirmed(priority: EventPriority, latencyMs: number): void {
    if (this.#noop) return;
    this.#confirmLatency.record(Math.max(0, latencyMs) / 1000, PRIORITY_ATTRIBUTES[priority]);
  }

  /** Counts attempts rescheduled with backoff. */
  recordRetried(count: number): void {
    if (count > 0) this.#retried.add(count);
  }

  /** Counts new dead letters of one reason. */
  recordDeadLettered(reason: string, count: number): void {
    if (count > 0) this.#deadLettered.add(count, { [ATTR.reason]: reason });
  }

  /** Counts `publish()` calls answered by a pending event with the same id. */
  recordDeduplicated(count: number): void {
    if (count > 0) this.#deduplicated.add(count);
  }

  /** Counts events evicted by the overflow policy. */
  recordEvicted(count: number): void {
    if (count > 0) this.#evicted.add(count);
  }

  /**
   * Registers the observable gauges, all read from one `read()` per
   * collection.
   *
   * @returns A function that unregisters them.
   */
  observe(read: () => GaugeReading): () => void {
    const m = this.meter;
    const gauge = ({ name, unit, description }: InstrumentSpec): ObservableGauge =>
      m.createObservableGauge(name, { unit, description });
    const pending = gauge(INSTRUMENTS.pending);
    const bytes = gauge(INSTRUMENTS.bytes);
    const inFlight = gauge(INSTRUMENTS.inFlight);
    const utilization = gauge(INSTRUMENTS.utilization);
    const oldest = gauge(INSTRUMENTS.oldestAge);
    const localDeadLetters = gauge(INSTRUMENTS.localDeadLetters);
    const circuit = gauge(INSTRUMENTS.circuitState);
    const connection = gauge(INSTRUMENTS.connectionState);
    const observables = [
      pending,
      bytes,
      inFlight,
      utilization,
      oldest,
      localDeadLetters,
      circuit,
      connection,
    ];
    const callback = (result: BatchObservableResult) => {
      const reading = read();
      const buffer = reading.bufferStats;
      for (const priority of PRIORITIES) {
        result.observe(pending, buffer.byPriority[priority], PRIORITY_ATTRIBUTES[priority]);
      }
      result.observe(bytes, buffer.bytes);
      result.observe(inFlight, buffer.inFlight);
      result.observe(utilization, buffer.utilizationPercent / 100);
      result.observe(oldest, buffer.oldestEventAgeMs / 1000);
      result.observe(localDeadLetters, buffer.localDeadLetters);
      for (const state of CIRCUIT_STATES) {
        result.observe(circuit, state === reading.circuitState ? 1 : 0, { [ATTR.state]: state });
      }
      for (const state of CONNECTION_STATES) {
        result.observe(connection, state === reading.connectionState ? 1 : 0, {
          [ATTR.state]: state,
        });
      }
    };
    m.addBatchObservableCallback(callback, observables);
    return () => m.removeBatchObservableCallback(callback, observables);
  }
}
