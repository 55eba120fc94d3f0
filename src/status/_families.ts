// The publisher's figures as Prometheus metric families: every number of
// `getStats()` (and each check of `getHealth()`), named
// `rabbitmq_publisher_*`, in base units (seconds, bytes, ratios).

import type { PublisherHealth, PublisherStats } from "../publisher/health.ts";
import { PRIORITIES } from "../event.ts";
import { CIRCUIT_STATES, CONNECTION_STATES } from "../publisher/_metrics.ts";
import type { MetricFamily, MetricType, Sample } from "./_exposition.ts";

const PREFIX = "rabbitmq_publisher_";

/**
 * The families for one snapshot. `ready` is the handler's readiness verdict,
 * exported as `rabbitmq_publisher_ready`.
 */
export function publisherFamilies(
  stats: PublisherStats,
  health: PublisherHealth,
  ready: boolean,
): MetricFamily[] {
  const buffer = stats.bufferStats;
  const families: MetricFamily[] = [];
  const add = (name: string, type: MetricType, help: string, samples: Sample[] | number) => {
    families.push({
      name: PREFIX + name,
      type,
      help,
      samples: typeof samples === "number" ? [{ value: samples }] : samples,
    });
  };
  const flag = (on: boolean) => on ? 1 : 0;

  add("published_events_total", "counter", "Events confirmed by RabbitMQ.", stats.publishedEvents);
  add(
    "failed_attempts_total",
    "counter",
    'Failed delivery attempts; sent="true" when the message left the process but no confirm ' +
      'came (a possible duplicate), sent="false" when it never left.',
    [
      { labels: { sent: "false" }, value: stats.neverSentFailures },
      { labels: { sent: "true" }, value: stats.unknownOutcomeFailures },
    ],
  );
  add("retries_total", "counter", "Attempts rescheduled with backoff.", stats.retriedEvents);
  add(
    "resent_events_total",
    "counter",
    "Events sent again with no attempt charged because the broker closed their channel over " +
      "another event.",
    stats.resentEvents,
  );
  add(
    "deduplicated_events_total",
    "counter",
    "publish() calls for an id still pending: nothing new was stored.",
    stats.deduplicatedEvents,
  );
  add(
    "dead_lettered_events_total",
    "counter",
    "Events moved to the dead letters, for any reason.",
    stats.deadLetteredEvents,
  );
  add(
    "expired_events_total",
    "counter",
    "Events dead-lettered because they outlived maxEventAge.",
    buffer.expiredEvents,
  );
  add(
    "evicted_events_total",
    "counter",
    "Events evicted by the overflow policy (and dead-lettered).",
    buffer.droppedEvents,
  );

  add(
    "pending_events",
    "gauge",
    "Pending events (not yet confirmed), in flight included, by priority.",
    PRIORITIES.map((priority) => ({ labels: { priority }, value: buffer.byPriority[priority] })),
  );
  add("pending_bytes", "gauge", "Bytes of the pending events.", buffer.bytes);
  add(
    "buffer_capacity_events",
    "gauge",
    "The most pending events allowed (bufferConfig.maxBufferSize).",
    buffer.maxSize,
  );
  add(
    "buffer_capacity_bytes",
    "gauge",
    "The most pending bytes allowed (bufferConfig.maxPersistentSize).",
    buffer.maxBytes,
  );
  add(
    "buffer_utilization_ratio",
    "gauge",
    "The fuller of count and bytes against the buffer's capacity, 0 to 1.",
    buffer.utilizationPercent / 100,
  );
  add("in_flight_events", "gauge", "Events sent and awaiting their confirm.", stats.inFlightEvents);
  add(
    "queued_events",
    "gauge",
    "Pending events waiting for the dispatcher while the broker is available.",
    stats.queuedEvents,
  );
  add(
    "buffered_events",
    "gauge",
    "Pending events held because the broker is unavailable or the circuit is open.",
    stats.bufferedEvents,
  );
  add(
    "oldest_pending_event_age_seconds",
    "gauge",
    "Age of the oldest pending event; 0 when none is pending.",
    buffer.oldestEventAgeMs / 1000,
  );
  add(
    "local_dead_letters",
    "gauge",
    "Dead letters held locally, waiting to be moved to the broker's dead-letter queue.",
    buffer.localDeadLetters,
  );
  add(
    "persistent",
    "gauge",
    "1 when pending events are kept on disk (Deno KV), 0 in memory.",
    flag(buffer.persistent),
  );
  add(
    "active_batches",
    "gauge",
    "Batches awaiting confirms (bounded by maxConcurrency).",
    stats.activeOperations,
  );
  add(
    "peak_active_batches",
    "gauge",
    "The most batches ever awaiting confirms at once.",
    stats.peakActiveOperations,
  );
  add(
    "broker_available",
    "gauge",
    "1 when the connection is up and not blocked.",
    flag(stats.isRabbitMQAvailable),
  );
  add(
    "connection_state",
    "gauge",
    "1 for the connection's current state, 0 for the others.",
    CONNECTION_STATES.map((state) => ({
      labels: { state },
      value: flag(state === stats.connectionState),
    })),
  );
  add(
    "reconnect_attempts",
    "gauge",
    "Failed connection attempts since the last successful connect.",
    stats.reconnectAttempts,
  );
  add(
    "circuit_state",
    "gauge",
    "1 for the circuit breaker's current state, 0 for the others.",
    CIRCUIT_STATES.map((state) => ({
      labels: { state },
      value: flag(state === stats.circuitState),
    })),
  );
  if (stats.msSinceLastConfirm !== undefined) {
    add(
      "seconds_since_last_confirm",
      "gauge",
      "Time since RabbitMQ's last confirm; absent before the first.",
      stats.msSinceLastConfirm / 1000,
    );
  }
  if (stats.lastError !== undefined) {
    add(
      "last_error_timestamp_seconds",
      "gauge",
      "When the last error happened (Unix time), labelled with its class; absent before the first.",
      [{ labels: { name: stats.lastError.name }, value: stats.lastError.at / 1000 }],
    );
  }
  add("healthy", "gauge", "1 when every check of getHealth() passes.", flag(health.healthy));
  add(
    "health_check",
    "gauge",
    "1 when the named check of getHealth() passes, 0 when it fails.",
    Object.entries(health.checks).map(([check, { ok }]) => ({
      labels: { check },
      value: flag(ok),
    })),
  );
  add(
    "ready",
    "gauge",
    "1 when the publisher accepts events (/readyz answers 200).",
    flag(ready),
  );
  return families;
}
