// Traces of the pipeline: the PRODUCER span of each event, from publish()
// in the caller's context to its outcome, the span of each batch send linked
// to its events' spans, and the W3C trace context written into each event's
// AMQP headers (so it is stored with the event and survives a restart).

import {
  type Attributes,
  type Context,
  context as contextApi,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  type Link,
  propagation,
  ProxyTracerProvider,
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
import type { EventPriority } from "../event.ts";
import {
  ATTR,
  INSTRUMENTATION_SCOPE,
  INSTRUMENTATION_VERSION,
  type Server,
  serverAttributes,
} from "./_semconv.ts";

/** AMQP headers as the event codec keeps them. */
export type AmqpHeaders = Record<string, string | number>;

/** An event as the pipeline holds it: a new or pending record. */
export interface TracedEvent {
  id: string;
  type: string;
  priority: EventPriority;
  exchange: string;
  routingKey: string;
  bytes: number;
  properties: { correlationId?: string; headers: AmqpHeaders };
}

/** An event's final outcome, for its span. */
export type EventOutcome =
  | { ok: true }
  | { ok: false; reason: string; error?: { name: string; message: string } };

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

const PRODUCER = { kind: SpanKind.PRODUCER } as const;
// A span that records nothing and carries no context, for when no SDK is registered.
const NOT_RECORDING = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
/**
 * The most event spans kept open at once. A long outage may leave millions of
 * events pending; beyond this many, an event's span ends at once (saying so)
 * and a span continuing its trace starts when the event is sent, as after a
 * restart. So the heap does not grow with the buffer.
 */
export const MAX_OPEN_SPANS = 10_000;

/** The spans of the pipeline and the trace context in the headers. */
export class EventTracing {
  readonly tracer: Tracer;
  readonly #propagator: TextMapPropagator;
  // seq -> the live PRODUCER span of a pending event; only recording spans are kept
  readonly #spans = new Map<number, Span>();
  readonly #maxOpen: number;
  // The API's global proxy while no SDK is behind it; undefined once one is.
  #proxy: ProxyTracerProvider | undefined;

  /**
   * @param tracerProvider Creates the tracer; the global one by default.
   * @param propagator Writes and reads the headers; the global one by default.
   * @param maxOpenSpans The most event spans kept open at once.
   */
  constructor(
    tracerProvider: TracerProvider = trace.getTracerProvider(),
    propagator: TextMapPropagator = propagation,
    maxOpenSpans: number = MAX_OPEN_SPANS,
  ) {
    this.tracer = tracerProvider.getTracer(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION);
    this.#propagator = propagator;
    this.#maxOpen = maxOpenSpans;
    if (tracerProvider instanceof ProxyTracerProvider) this.#proxy = tracerProvider;
  }

  /** Whether spans can record: an SDK is behind the tracer. */
  get recording(): boolean {
    return !this.#noSdk();
  }

  /**
   * Whether no SDK is registered: then no span records, and only a caller's
   * own trace context can be carried. An SDK registered later is seen at once.
   */
  #noSdk(): boolean {
    if (this.#proxy === undefined) return false;
    if (
      this.#proxy.getDelegateTracer(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION) === undefined
    ) return true;
    this.#proxy = undefined;
    return false;
  }

  /**
   * Starts the PRODUCER span `<exchange> publish` of an event in `parent`
   * (the caller's context at `publish()`), and writes its context into the
   * event's headers as `traceparent`/`tracestate`, so that it is stored with
   * the event and sent with it, even after a restart.
   */
  startEvent(parent: Context | undefined, event: TracedEvent): Span {
    const caller = parent ?? ROOT_CONTEXT;
    const span = this.tracer.startSpan(`${event.exchange} publish`, PRODUCER, caller);
    // Attributes only for a span that records: without an SDK this costs nothing.
    if (span.isRecording()) span.setAttributes(eventAttributes(event));
    // Without an SDK and without a caller's trace there is no context to carry
    // (the no-op span's context is the invalid one, known without validating it).
    const spanContext = span.spanContext();
    if (spanContext !== INVALID_SPAN_CONTEXT && isSpanContextValid(spanContext)) {
      this.#propagator.inject(trace.setSpan(caller, span), event.properties.headers, headerSetter);
    }
    return span;
  }

  /**
   * Starts the spans of new events ({@linkcode EventTracing.startEvent}).
   *
   * @returns The spans, or `undefined` when none records (no SDK): then the
   * caller keeps nothing while the events are stored.
   */
  startEvents(parent: Context | undefined, events: readonly TracedEvent[]): Span[] | undefined {
    // Without an SDK nor a caller's trace, there is nothing to start or carry.
    if (this.#noSdk() && (parent === undefined || trace.getSpan(parent) === undefined)) {
      return undefined;
    }
    const spans = events.map((event) => this.startEvent(parent, event));
    return spans.some((span) => span.isRecording()) ? spans : undefined;
  }

  /**
   * Keeps an event's span until its outcome. A span that records nothing is
   * not kept; past the open-span limit, the span ends now and the event's
   * trace is continued when it is sent ({@linkcode EventTracing.resume}).
   */
  track(seq: number, span: Span): void {
    if (!span.isRecording()) return;
    if (this.#spans.size < this.#maxOpen) {
      this.#spans.set(seq, span);
      return;
    }
    span.addEvent("pending: continued when sent", { [ATTR.openSpans]: this.#spans.size });
    span.end();
  }

  /**
   * Gives an event stored by an earlier run (so without a live span) a new
   * span that continues the trace found in its headers. Does nothing for an
   * event with a live span, or with no trace context.
   */
  resume(seq: number, event: TracedEvent): void {
    const headers = event.properties.headers;
    if (headers.traceparent === undefined || this.#spans.has(seq) || this.#noSdk()) return;
    const parent = this.extract(headers);
    if (trace.getSpanContext(parent) === undefined) return;
    const span = this.tracer.startSpan(`${event.exchange} publish`, PRODUCER, parent);
    if (!span.isRecording()) return;
    span.setAttributes({ ...eventAttributes(event), [ATTR.resumed]: true });
    this.#spans.set(seq, span);
  }

  /** Notes a failed attempt on the event's span; the event is retried or dead-lettered next. */
  attemptFailed(seq: number, error: { kind: string; message: string }): void {
    this.#spans.get(seq)?.addEvent("send failed", {
      [ATTR.errorType]: error.kind,
      "exception.message": error.message,
    });
  }

  /** Ends an event's span at its outcome; a dead letter is an error with its reason. */
  endEvent(seq: number, outcome: EventOutcome): void {
    const span = this.#spans.get(seq);
    if (span === undefined) return;
    this.#spans.delete(seq);
    endWith(span, outcome);
  }

  /** Ends the spans of events that were never stored (the store refused them). */
  abandon(spans: readonly Span[], error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    for (const span of spans) {
      span.recordException(e);
      span.setAttribute(ATTR.errorType, e.name);
      span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
      span.end();
    }
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
  startSend(
    exchange: string,
    events: readonly { seq: number; properties: { headers: AmqpHeaders } }[],
    server?: Server,
  ): Span {
    if (this.#noSdk()) return NOT_RECORDING;
    // A batch send is its own operation, not part of any one caller's trace.
    const span = this.tracer.startSpan(`${exchange} send`, PRODUCER, ROOT_CONTEXT);
    if (!span.isRecording()) return span;
    const links: Link[] = [];
    for (const { seq, properties } of events) {
      const context = this.#spans.get(seq)?.spanContext() ??
        this.#storedContext(properties.headers);
      if (context !== undefined) links.push({ context });
    }
    span.addLinks(links);
    span.setAttributes({
      ...serverAttributes(server),
      [ATTR.system]: "rabbitmq",
      [ATTR.operationName]: "send",
      [ATTR.operationType]: "send",
      [ATTR.destination]: exchange,
      [ATTR.batchCount]: events.length,
    });
    return span;
  }

  /** Ends a batch span; `failed` messages of it failed, the first with `errorType`. */
  endSend(span: Span, failed: number, errorType?: string): void {
    if (failed > 0 && span.isRecording()) {
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
}

function eventAttributes(event: TracedEvent): Attributes {
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
  const correlationId = event.properties.correlationId;
  if (correlationId !== undefined) attributes[ATTR.conversationId] = correlationId;
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
