// An OpenTelemetry SDK registered globally for one run of the benchmark, as
// an application would set one up: spans batched to an exporter (one that
// counts them and drops them: the SDK's whole path without the network),
// metrics aggregated for a reader. Unregistered afterwards, so that the
// other rows run with no SDK, as users get by default.

import { ExportResultCode } from "@opentelemetry/core";
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace";
import { INSTRUMENTS } from "../src/publisher/_metrics.ts";
import { TestTelemetry, total } from "../tests/_otel.ts";

/** Counts the spans exported, and keeps none. */
class CountingExporter implements SpanExporter {
  spans = 0;

  export(spans: ReadableSpan[], done: (result: { code: ExportResultCode }) => void): void {
    this.spans += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Runs `fn` with the SDK registered globally, then unregisters it, and checks
 * that the SDK saw the run: a span per event exported and `count` messages
 * counted as sent.
 */
export async function withSdk<T>(count: number, fn: () => Promise<T>): Promise<T> {
  const exporter = new CountingExporter();
  const sdk = new TestTelemetry({ spanProcessor: new BatchSpanProcessor({ exporter }) });
  let result: T;
  let sent: number;
  try {
    sdk.register();
    result = await fn();
    sent = total(await sdk.points(), INSTRUMENTS.sent.name);
  } finally {
    // Shuts the providers down too, which exports the last spans.
    await sdk.close();
  }
  if (sent < count || exporter.spans < count) {
    throw new Error(`the SDK saw ${sent} messages sent and ${exporter.spans} spans of ${count}`);
  }
  return result;
}
