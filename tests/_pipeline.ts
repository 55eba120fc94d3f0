// Shared by the regression tests of the KV-backed pipeline: events with
// unique ids, a temporary directory, and a one-line picture of a publisher.

import type { DomainEvent, RabbitMQAsyncEventPublisher } from "../mod.ts";

let counter = 0;

/** A fresh event with a unique id, `r<n>`. */
export function reviewEvent(
  priority: "high" | "normal" | "low" = "normal",
  extra: Partial<DomainEvent> = {},
): DomainEvent {
  const n = ++counter;
  return {
    id: `r${n}`,
    type: "test.happened",
    data: { n },
    metadata: { source: "review", priority },
    ...extra,
  };
}

/** Runs `fn` with a temporary directory that is removed afterwards. */
export async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pipeline_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The publisher's counters in one line, for assertion messages. */
export function describe(publisher: RabbitMQAsyncEventPublisher): string {
  const s = publisher.getStats();
  return JSON.stringify({
    size: s.bufferStats.size,
    inFlight: s.inFlightEvents,
    published: s.publishedEvents,
    failed: s.failedEvents,
    dead: s.deadLetteredEvents,
    localDead: s.bufferStats.localDeadLetters,
    circuit: s.circuitState,
    conn: s.connectionState,
    lastError: s.lastError?.message,
  });
}
