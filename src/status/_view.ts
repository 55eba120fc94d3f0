// What the status page and `/status.json` show: one snapshot of the
// publisher built from its public API (stats, health, dead letters), with
// every URL and error message masked, and the readiness verdict of `/readyz`.

import { maskCredentials, maskUrl } from "../_mask.ts";
import type {
  HealthCheck,
  LastError,
  PublisherHealth,
  PublisherStats,
} from "../publisher/health.ts";
import type { Throughput } from "./_throughput.ts";

/** A dead letter as the page lists it: no body, no headers. */
export interface DeadLetterSummary {
  id: string;
  type: string;
  reason: string;
  attempts: number;
  deadLetteredAt: number;
  location: "local" | "broker";
  errorMessage?: string;
}

/** The latest dead letters, or why they could not all be listed. */
export interface DeadLettersView {
  /**
   * `listed`: local and broker ones; `local-only`: the broker did not answer,
   * so only the local ones; `unavailable`: none could be listed; `off`: the
   * handler lists none (`deadLetterLimit: 0`).
   */
  status: "listed" | "local-only" | "unavailable" | "off";
  /** Why not everything was listed (credentials masked). */
  note?: string;
  /** How many there are in all, local and on the broker, when known. */
  total?: number;
  /** At most the handler's `deadLetterLimit`, newest first. */
  items: DeadLetterSummary[];
}

/** The readiness verdict: ready when every check passes. */
export interface Readiness {
  ready: boolean;
  checks: { intake: HealthCheck; buffer: HealthCheck };
}

/** Everything the page shows, as `/status.json` returns it. */
export interface StatusView {
  generatedAt: number;
  healthy: boolean;
  readiness: Readiness;
  checks: PublisherHealth["checks"];
  connection: {
    state: PublisherStats["connectionState"];
    available: boolean;
    brokerUrl?: string;
    /** While blocked: the reason RabbitMQ gave. */
    blockedReason?: string;
    reconnectAttempts: number;
    msSinceLastConfirm?: number;
  };
  circuit: { state: PublisherStats["circuitState"] };
  buffer: PublisherStats["bufferStats"];
  counters: {
    published: number;
    failed: number;
    neverSent: number;
    unknownOutcome: number;
    retried: number;
    resent: number;
    deadLettered: number;
    deduplicated: number;
  };
  batches: { active: number; peak: number };
  lastError?: LastError;
  throughput: Throughput;
  deadLetters: DeadLettersView;
}

/**
 * Ready to accept events: the publisher is running (not closing or closed)
 * and its buffer is not full. A broker outage does not make it unready: the
 * publisher buffers through it, which is what it is for.
 */
export function readiness(stats: PublisherStats, health: PublisherHealth): Readiness {
  const { size, maxSize, bytes, maxBytes } = stats.bufferStats;
  const full = size >= maxSize || bytes >= maxBytes;
  const buffer: HealthCheck = full
    ? {
      ok: false,
      reason: `the buffer is full (${size}/${maxSize} events, ${bytes}/${maxBytes} bytes)`,
    }
    : { ok: true };
  const intake = maskCheck(health.checks.intake);
  return { ready: intake.ok && buffer.ok, checks: { intake, buffer } };
}

/** The snapshot, masked. */
export function buildView(
  stats: PublisherStats,
  health: PublisherHealth,
  throughput: Throughput,
  deadLetters: DeadLettersView,
  now: number,
): StatusView {
  const checks = Object.fromEntries(
    Object.entries(health.checks).map(([name, check]) => [name, maskCheck(check)]),
  ) as PublisherHealth["checks"];
  const view: StatusView = {
    generatedAt: now,
    healthy: health.healthy,
    readiness: readiness(stats, health),
    checks,
    connection: {
      state: stats.connectionState,
      available: stats.isRabbitMQAvailable,
      reconnectAttempts: stats.reconnectAttempts,
    },
    circuit: { state: stats.circuitState },
    buffer: { ...stats.bufferStats, byPriority: { ...stats.bufferStats.byPriority } },
    counters: {
      published: stats.publishedEvents,
      failed: stats.failedEvents,
      neverSent: stats.neverSentFailures,
      unknownOutcome: stats.unknownOutcomeFailures,
      retried: stats.retriedEvents,
      resent: stats.resentEvents,
      deadLettered: stats.deadLetteredEvents,
      deduplicated: stats.deduplicatedEvents,
    },
    batches: { active: stats.activeOperations, peak: stats.peakActiveOperations },
    throughput,
    deadLetters,
  };
  if (stats.brokerUrl !== undefined) view.connection.brokerUrl = maskUrl(stats.brokerUrl);
  if (stats.msSinceLastConfirm !== undefined) {
    view.connection.msSinceLastConfirm = stats.msSinceLastConfirm;
  }
  if (stats.blockedReason !== undefined) {
    view.connection.blockedReason = maskCredentials(stats.blockedReason);
  }
  if (stats.lastError !== undefined) {
    view.lastError = { ...stats.lastError, message: maskCredentials(stats.lastError.message) };
  }
  return view;
}

function maskCheck(check: HealthCheck): HealthCheck {
  return check.reason === undefined
    ? { ok: check.ok }
    : { ok: check.ok, reason: maskCredentials(check.reason) };
}
