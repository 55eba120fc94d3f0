// The publisher's OpenTelemetry, traces and metrics, through the global API:
// no-ops until an SDK registers (such as Deno's built-in one with
// `OTEL_DENO=true`), or none at all with `telemetry: false`.

import { PublisherMetrics } from "./_metrics.ts";
import { EventTracing } from "./_tracing.ts";

/** Traces and metrics, together. */
export interface Telemetry {
  tracing: EventTracing;
  metrics: PublisherMetrics;
  /** Whether an SDK takes either: false while both are the API's no-ops. */
  recording(): boolean;
}

/** The telemetry of a publisher, on the global providers; `undefined` when off. */
export function createTelemetry(enabled = true): Telemetry | undefined {
  if (!enabled) return undefined;
  const tracing = new EventTracing();
  const metrics = new PublisherMetrics();
  return { tracing, metrics, recording: () => tracing.recording || metrics.recording };
}
