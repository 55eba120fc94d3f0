// The settle step of the dispatcher, as a pure function: what becomes of each
// event of a sent batch given the transport's outcomes, the retry policy and
// the time. No I/O, no clock, no randomness but the `random` passed in; the
// dispatcher applies the result (store, breaker, counters, waiters).

import { maskCredentials } from "../_mask.ts";
import type { ResolvedRetryConfig } from "../config/types.ts";
import type { TransportError } from "../errors.ts";
import { classifyError } from "../policies/error_classification.ts";
import { backoffDelay } from "../policies/retry.ts";
import type { SendOutcome } from "../amqp/transport.ts";
import type { DeadLetterReason, PendingRecord } from "../store/store.ts";

/** How long an event waits after the broker refused it for a blocked connection. */
export const BLOCKED_RETRY_MS = 1_000;

/**
 * Whether a failure says the broker is in trouble (a lost connection, a
 * timeout, a nack, a block), which counts against the circuit breaker. A
 * refusal of the event itself (permanent, or a channel closed over it) and a
 * channel lost over another event do not.
 */
export function countsAgainstBreaker(error: TransportError): boolean {
  if (error.kind === "closed-by-broker" || error.kind === "channel-closed") return false;
  return classifyError(error).retriable;
}

/** What `settle()` decides with. */
export interface SettlePolicy {
  /** The retry schedule: `maxRetries` attempts in all, backoff between them. */
  retry: Pick<ResolvedRetryConfig, "maxRetries" | "baseDelay" | "maxDelay" | "multiplier">;
  /** Numbers in `[0, 1)` for the backoff's jitter. */
  random: () => number;
}

/** An event that failed for good. */
export interface DeadLetterDecision {
  /** The event, its failure recorded. */
  record: PendingRecord;
  /** Why it failed for good. */
  reason: DeadLetterReason;
  /** The failure. */
  error: TransportError;
  /**
   * When to try the event again should storing the dead letter fail: it is
   * then retried later, not at once in a tight loop.
   */
  retryAt: number;
}

/** What becomes of a sent batch. */
export interface Settlement {
  /** Confirmed by RabbitMQ: to be removed from the store. */
  confirmed: PendingRecord[];
  /** Failed and retriable: to be released, each with its `nextAttemptAt`. */
  retry: PendingRecord[];
  /** Failed for good. */
  deadLetters: DeadLetterDecision[];
  /** Failed attempts where the message never left this process. */
  neverSent: number;
  /** Failed attempts where the message was sent but not confirmed. */
  unknownOutcome: number;
  /** Retries that spent an attempt (a never-sent event simply goes again). */
  retried: number;
  /**
   * Events sent again with no attempt charged: the broker closed their
   * channel over another event (`channel-closed`).
   */
  resent: number;
  /**
   * The first failure that says the broker is in trouble (a lost connection,
   * a timeout, a nack), which counts against the circuit breaker. A refusal
   * of one event (`closed-by-broker`) or of its channel does not.
   */
  breakerFailure?: TransportError;
  /** The last failure of the batch. */
  lastError?: TransportError;
  /** When the earliest retry is due, if every retry is due later than `now`. */
  wakeAt?: number;
}

/**
 * Settles a sent batch: `outcomes[i]` is the transport's answer for `batch[i]`.
 *
 * A message that never left this process was not a delivery attempt: its
 * `attempts` stay, and it goes again at once (after `BLOCKED_RETRY_MS` when
 * the connection was blocked). Neither was one lost with a channel the broker
 * closed over another message (`channel-closed`): it goes again at once, with
 * no attempt charged (it may arrive twice when the broker had it already).
 * A sent but unconfirmed one spends an attempt
 * and waits out a backoff; after `maxRetries` attempts it is dead-lettered
 * with reason `max-retries`. A permanent error dead-letters it at once with
 * its classified reason.
 */
export function settle(
  batch: readonly PendingRecord[],
  outcomes: readonly SendOutcome[],
  policy: SettlePolicy,
  now: number,
): Settlement {
  const result: Settlement = {
    confirmed: [],
    retry: [],
    deadLetters: [],
    neverSent: 0,
    unknownOutcome: 0,
    retried: 0,
    resent: 0,
  };
  const dead: Omit<DeadLetterDecision, "retryAt">[] = [];
  for (let i = 0; i < batch.length; i++) {
    const record = batch[i];
    const outcome = outcomes[i];
    if (outcome.ok) {
      result.confirmed.push(record);
      continue;
    }
    const error = outcome.error;
    if (error.kind === "channel-closed") {
      // Not refused: no attempt, no backoff, nothing against the breaker.
      result.resent++;
      const again: PendingRecord = { ...record, nextAttemptAt: now };
      if (error.sent) again.outcomeUnknown = true;
      result.retry.push(again);
      continue;
    }
    if (error.sent) result.unknownOutcome++;
    else result.neverSent++;
    result.lastError = error;
    const classification = classifyError(error);
    if (countsAgainstBreaker(error)) result.breakerFailure ??= error;
    const attempts = error.sent ? record.attempts + 1 : record.attempts;
    const updated: PendingRecord = {
      ...record,
      attempts,
      firstFailureAt: record.firstFailureAt ?? now,
      lastFailureAt: now,
      lastError: `${error.name}: ${maskCredentials(error.message)}`,
      outcomeUnknown: record.outcomeUnknown || error.sent,
    };
    if (!classification.retriable) {
      dead.push({ record: updated, reason: classification.reason, error });
    } else if (attempts >= policy.retry.maxRetries) {
      dead.push({ record: updated, reason: "max-retries", error });
    } else {
      if (error.sent) result.retried++;
      updated.nextAttemptAt = error.sent
        ? now + backoffDelay(Math.max(1, attempts), policy.retry, policy.random)
        : error.kind === "blocked"
        ? now + BLOCKED_RETRY_MS
        : now;
      result.retry.push(updated);
    }
  }
  // Jitter is drawn for the retries first, then for these, in batch order: a
  // seeded random source always replays the same schedule.
  result.deadLetters = dead.map((decision) => ({
    ...decision,
    retryAt: now +
      backoffDelay(Math.max(1, decision.record.attempts), policy.retry, policy.random),
  }));
  // An event due now is taken by the next pass, which schedules the rest itself.
  const next = Math.min(...result.retry.map((record) => record.nextAttemptAt));
  if (next > now && next !== Infinity) result.wakeAt = next;
  return result;
}
