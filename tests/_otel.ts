// An in-memory OpenTelemetry SDK for tests: spans kept in an exporter, metrics
// collected on demand (no export timer), W3C trace context propagation.

import { context, metrics, propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  AggregationTemporality,
  type DataPoint,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor,
  StackContextManager,
  TracerProvider,
} from "@opentelemetry/sdk-trace";

/** A reader that collects only when asked. */
class OnDemandReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** One metric data point, flattened for assertions. */
export interface Point {
  name: string;
  unit: string;
  description: string;
  attributes: Record<string, unknown>;
  /** The sum or gauge value; for histograms, the sum of recorded values. */
  value: number;
  /** For histograms: how many values were recorded. */
  count?: number;
}

/** Options of {@linkcode TestTelemetry}. */
export interface TestTelemetryOptions {
  /** Where ended spans go instead of the in-memory exporter (then `spans()` is empty). */
  spanProcessor?: SpanProcessor;
}

/** Tracer, meter and propagator providers backed by memory. */
export class TestTelemetry implements AsyncDisposable {
  readonly exporter = new InMemorySpanExporter();
  readonly tracerProvider: TracerProvider;
  readonly #reader = new OnDemandReader();
  readonly meterProvider = new MeterProvider({ readers: [this.#reader] });
  readonly propagator = new W3CTraceContextPropagator();
  #registered = false;

  constructor(options: TestTelemetryOptions = {}) {
    const processor = options.spanProcessor ?? new SimpleSpanProcessor({ exporter: this.exporter });
    this.tracerProvider = new TracerProvider({ spanProcessors: [processor] });
  }

  /**
   * Registers this SDK as the global one, as Deno's built-in OpenTelemetry
   * does, with a context manager (a synchronous one: publish() reads the
   * caller's context before its first await). Undone by `close()`.
   */
  register(): this {
    trace.setGlobalTracerProvider(this.tracerProvider);
    metrics.setGlobalMeterProvider(this.meterProvider);
    propagation.setGlobalPropagator(this.propagator);
    context.setGlobalContextManager(new StackContextManager().enable());
    this.#registered = true;
    return this;
  }

  /** Every span ended so far. */
  spans(): ReadableSpan[] {
    return this.exporter.getFinishedSpans();
  }

  /** Collects every metric point now. */
  async points(): Promise<Point[]> {
    const { resourceMetrics } = await this.#reader.collect();
    return flatten(resourceMetrics);
  }

  async close(): Promise<void> {
    if (this.#registered) {
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    }
    await this.tracerProvider.shutdown();
    await this.meterProvider.shutdown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function flatten(resourceMetrics: ResourceMetrics): Point[] {
  const points: Point[] = [];
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      const { name, unit, description } = metric.descriptor;
      for (const point of metric.dataPoints as DataPoint<unknown>[]) {
        const value = point.value;
        if (typeof value === "number") {
          points.push({ name, unit, description, attributes: point.attributes, value });
        } else {
          const histogram = value as { sum?: number; count: number };
          points.push({
            name,
            unit,
            description,
            attributes: point.attributes,
            value: histogram.sum ?? 0,
            count: histogram.count,
          });
        }
      }
    }
  }
  return points;
}

/** The sum of the points of `name` whose attributes include `attributes`. */
export function total(
  points: readonly Point[],
  name: string,
  attributes: Record<string, unknown> = {},
): number {
  return points
    .filter((p) =>
      p.name === name &&
      Object.entries(attributes).every(([key, value]) =>
        value === undefined ? !(key in p.attributes) : p.attributes[key] === value
      )
    )
    .reduce((sum, p) => sum + p.value, 0);
}
