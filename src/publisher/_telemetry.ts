// OpenTelemetry for the publisher: the tracer and meter it acquires, the
// PRODUCER span of each event and the span of each batch send, the W3C trace
// context carried in AMQP headers, and the metric instruments. Everything goes
// through `@opentelemetry/api`, so without an SDK (or Deno's built-in one,
// `OTEL_DENO=true`) every call here is a cheap no-op.

import {
  type Attributes,
  type BatchObservableResult,
  type Context,
  context as contextApi,
  type Counter,
  type Histogram,
  type Link,
  type Meter,
  type MeterProvider,
  metrics,
  type ObservableGauge,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  trace,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import type { ConnectionState } from "../amqp/transport.ts";
import type { CircuitState } from "../policies/circuit_breaker.ts";
import type { EventPriority } from "../event.ts";

/** The instrumentation scope: the tracer's and the meter's name. */
export const INSTRUMENTATION_SCOPE = "@simplycaster/rabbitmq-publisher";
/** The scope's version; a test checks it against `deno.json`. */
export const INSTRUMENTATION_VERSION = "0.1.0";

/** Where telemetry goes; each part defaults to the global one. */
export interface TelemetryOptions {
  /** Creates the tracer. @default {the global provider, `trace.getTracerProvider()`} */
  tracerProvider?: TracerProvider;
  /** Creates the meter. @default {the global provider, `metrics.getMeterProvider()`} */
  meterProvider?: MeterProvider;
  /** Writes and reads `traceparent`/`tracestate`. @default {the global propagator} */
  propagator?: TextMapPropagator;
}

/** What the span and the metrics of one event say about it. */
export interface EventFacts {
  id: string;
  type: string;
  priority: EventPriority;
  exchange: string;
  routingKey: string;
  bytes: number;
  correlationId?: string;
}

/** An event's final outcome, for its span. */
export type EventOutcome =
  | { ok: true }
  | { ok: false; reason: string; error?: { name: string; message: string } };

/** What the observable gauges read at each collection. */
export interface GaugeReading {
  byPriority: Readonly<Record<EventPriority, number>>;
  bytes: number;
  inFlight: number;
  /** 0-100, as in `EventBufferStats.utilizationPercent`. */
  utilizationPercent: number;
  oldestEventAgeMs: number;
  localDeadLetters: number;
  circuitState: CircuitState;
  connectionState: ConnectionState;
}

/** AMQP headers as the event codec keeps them. */
export type AmqpHeaders = Record<string, string | number>;

// Attribute names from the OpenTelemetry messaging semantic conventions.
const ATTR = {
  system: "messaging.system",
  operationName: "messaging.operation.name",
  operationType: "messaging.operation.type",
  destination: "messaging.destination.name",
  routingKey: "messaging.rabbitmq.destination.routing_key",
  messageId: "messaging.message.id",
  conversationId: "messaging.message.conversation_id",
  bodySize: "messaging.message.body.size",
  batchCount: "messaging.batch.message_count",
  errorType: "error.type",
  serverAddress: "server.address",
  serverPort: "server.port",
  // This library's own, under its prefix.
  eventType: "rabbitmq_publisher.event.type",
  priority: "rabbitmq_publisher.event.priority",
  reason: "rabbitmq_publisher.dead_letter.reason",
  resumed: "rabbitmq_publisher.resumed",
  state: "rabbitmq_publisher.state",
} as const;

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
/** Every priority, highest first. */
export const PRIORITIES: readonly EventPriority[] = every<EventPriority>({
  high: true,
  normal: true,
  low: true,
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

const headerSetter = {
  set(carrier: AmqpHeaders, key: string, value: string) {
    carrier[key] = value;
  },
};
const headerGetter = {
  get(carrier: AmqpHeaders, key: string): string | undefined {
    const value = carrier[key];
    return typeof value === "string" ? value : undefined;
  },
  keys(carrier: AmqpHeaders): string[] {
    return Object.keys(carrier);
  },
};

/**
 * The publisher's telemetry: spans for events and batch sends, W3C context in
 * headers, counters, histograms and observable gauges.
 */
export class PublisherTelemetry {
  readonly tracer: Tracer;
  readonly meter: Meter;
  readonly #propagator: TextMapPropagator;
  // seq -> the live PRODUCER span of a pending event; only recording spans are kept
  readonly #spans = new Map<number, Span>();
  readonly #sent: Counter;
  readonly #operationDuration: Histogram;
  readonly #retried: Counter;
  readonly #deadLettered: Counter;
  readonly #deduplicated: Counter;
  readonly #evicted: Counter;
  readonly #confirmLatency: Histogram;
  readonly #batchSize: Histogram;

  constructor(options: TelemetryOptions = {}) {
    const tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
    const meterProvider = options.meterProvider ?? metrics.getMeterProvider();
    this.tracer = tracerProvider.getTracer(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION);
    this.meter = meterProvider.getMeter(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION);
    this.#propagator = options.propagator ?? propagation;
    const m = this.meter;
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

  // ---- traces ----

  /**
   * Starts the PRODUCER span `<exchange> publish` of an event in `parent`
   * (the caller's context at `publish()`), and writes its context into
   * `headers` as `traceparent`/`tracestate`, so that it is stored with the
   * event and sent with it, even after a restart.
   */
  startEvent(parent: Context, event: EventFacts, headers: AmqpHeaders): Span {
    const span = this.tracer.startSpan(`${event.exchange} publish`, {
      kind: SpanKind.PRODUCER,
      attributes: eventAttributes(event),
    }, parent);
    this.#propagator.inject(trace.setSpan(parent, span), headers, headerSetter);
    return span;
  }

  /** Keeps an event's span until its outcome; a span that records nothing is not kept. */
  track(seq: number, span: Span): void {
    if (span.isRecording()) this.#spans.set(seq, span);
  }

  /**
   * Gives an event stored by an earlier run (so without a live span) a new
   * span that continues the trace found in its headers. Does nothing for an
   * event with a live span, or with no trace context.
   */
  resume(seq: number, event: EventFacts, headers: AmqpHeaders): void {
    if (this.#spans.has(seq) || headers.traceparent === undefined) return;
    const parent = this.extract(headers);
    if (trace.getSpanContext(parent) === undefined) return;
    this.track(
      seq,
      this.tracer.startSpan(`${event.exchange} publish`, {
        kind: SpanKind.PRODUCER,
        attributes: { ...eventAttributes(event), [ATTR.resumed]: true },
      }, parent),
    );
  }

  /** Ends an event's span at its outcome; a dead letter is an error with its reason. */
  endEvent(seq: number, outcome: EventOutcome): void {
    const span = this.#spans.get(seq);
    if (span === undefined) return;
    this.#spans.delete(seq);
    endWith(span, outcome);
  }

  /**
   * Ends the spans still open at `close()`, with an event saying whether the
   * pending events were kept on disk or lost.
   */
  endAll(persistent: boolean): void {
    for (const span of this.#spans.values()) {
      span.addEvent(persistent ? "pending at close: kept on disk" : "pending at close: lost");
      if (!persistent) span.setStatus({ code: SpanStatusCode.ERROR, message: "lost at close" });
      span.end();
    }
    this.#spans.clear();
  }

  /** How many event spans are open. */
  get openSpans(): number {
    return this.#spans.size;
  }

  /**
   * Starts the span `<exchange> send` of one batch, linked to the span of
   * each event in it (live, or read back from the event's headers).
   */
  startSend(exchange: string, events: readonly { seq: number; headers: AmqpHeaders }[], server?: {
    address: string;
    port?: number;
  }): Span {
    const links: Link[] = [];
    for (const { seq, headers } of events) {
      const context = this.#spans.get(seq)?.spanContext() ?? this.#storedContext(headers);
      if (context !== undefined) links.push({ context });
    }
    const attributes: Attributes = {
      [ATTR.system]: "rabbitmq",
      [ATTR.operationName]: "send",
      [ATTR.operationType]: "send",
      [ATTR.destination]: exchange,
      [ATTR.batchCount]: events.length,
    };
    if (server !== undefined) {
      attributes[ATTR.serverAddress] = server.address;
      if (server.port !== undefined) attributes[ATTR.serverPort] = server.port;
    }
    // A batch send is its own operation, not part of any one caller's trace.
    return this.tracer.startSpan(`${exchange} send`, {
      kind: SpanKind.PRODUCER,
      attributes,
      links,
    }, ROOT_CONTEXT);
  }

  /** Ends a batch span; `failed` messages of it failed, the first with `errorType`. */
  endSend(span: Span, failed: number, errorType?: string): void {
    if (failed > 0) {
      span.setAttribute(ATTR.errorType, errorType ?? "_OTHER");
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${failed} messages failed` });
    }
    span.end();
  }

  /** The context written into `headers` by {@linkcode startEvent}, or the root context. */
  extract(headers: AmqpHeaders): Context {
    return this.#propagator.extract(ROOT_CONTEXT, headers, headerGetter);
  }

  #storedContext(headers: AmqpHeaders): SpanContext | undefined {
    if (headers.traceparent === undefined) return undefined;
    return trace.getSpanContext(this.extract(headers));
  }

  // ---- metrics ----

  /**
   * Counts a batch's outcomes in `messaging.client.sent.messages` and records
   * its size and duration.
   */
  recordSend(exchange: string, outcomes: {
    confirmed: number;
    failed: ReadonlyMap<string, number>;
    durationMs: number;
    server?: { address: string; port?: number };
  }): void {
    const base: Attributes = {
      [ATTR.system]: "rabbitmq",
      [ATTR.operationName]: "send",
      [ATTR.destination]: exchange,
    };
    if (outcomes.server !== undefined) {
      base[ATTR.serverAddress] = outcomes.server.address;
      if (outcomes.server.port !== undefined) base[ATTR.serverPort] = outcomes.server.port;
    }
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
  recordConfirmed(priority: EventFacts["priority"], latencyMs: number): void {
    this.#confirmLatency.record(Math.max(0, latencyMs) / 1000, { [ATTR.priority]: priority });
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
      for (const priority of PRIORITIES) {
        result.observe(pending, reading.byPriority[priority], { [ATTR.priority]: priority });
      }
      result.observe(bytes, reading.bytes);
      result.observe(inFlight, reading.inFlight);
      result.observe(utilization, reading.utilizationPercent / 100);
      result.observe(oldest, reading.oldestEventAgeMs / 1000);
      result.observe(localDeadLetters, reading.localDeadLetters);
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

function eventAttributes(event: EventFacts): Attributes {
  const attributes: Attributes = {
    [ATTR.system]: "rabbitmq",
    [ATTR.operationName]: "publish",
    [ATTR.operationType]: "create",
    [ATTR.destination]: event.exchange,
    [ATTR.messageId]: event.id,
    [ATTR.bodySize]: event.bytes,
    [ATTR.eventType]: event.type,
    [ATTR.priority]: event.priority,
  };
  if (event.routingKey !== "") attributes[ATTR.routingKey] = event.routingKey;
  if (event.correlationId !== undefined) attributes[ATTR.conversationId] = event.correlationId;
  return attributes;
}

function endWith(span: Span, outcome: EventOutcome): void {
  if (outcome.ok) {
    span.addEvent("confirmed");
  } else {
    span.setAttribute(ATTR.reason, outcome.reason);
    span.setAttribute(ATTR.errorType, outcome.reason);
    span.addEvent("dead-lettered", { [ATTR.reason]: outcome.reason });
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: outcome.error ? `${outcome.reason}: ${outcome.error.message}` : outcome.reason,
    });
  }
  span.end();
}

/** The caller's context at this moment: capture it before the first `await`. */
export function activeContext(): Context {
  return contextApi.active();
}
