/**
 * The pending-event store: every accepted, unconfirmed event lives here until
 * RabbitMQ confirms it or it becomes a dead letter. The same store is the
 * outage buffer. Implementations: {@linkcode MemoryStore} and `KvStore`.
 *
 * @module
 */

import type { EncodedEvent, EventPriority } from "./event.ts";

/** What to do when an event arrives and the store is full. */
export type OverflowPolicy =
  /** Refuse the new event with `BufferFullError`. */
  | "reject"
  /**
   * Evict the oldest event of the lowest priority present (never one of a
   * higher priority than the newcomer); the evicted event is dead-lettered.
   */
  | "drop-oldest-lowest-priority";

/** An event as it is about to be stored. */
export interface NewRecord extends EncodedEvent {
  /** The exchange it is published to. */
  exchange: string;
  /** When the publisher accepted it (ms since the epoch). */
  acceptedAt: number;
  /** Delivery attempts already made; 0 for a new event, kept on replay. */
  attempts?: number;
}

/** A pending event with its delivery bookkeeping. */
export interface PendingRecord extends NewRecord {
  /** Arrival order, unique within the store and increasing across restarts. */
  seq: number;
  /** Delivery attempts made so far. */
  attempts: number;
  /** The earliest time of the next attempt (ms since the epoch). */
  nextAttemptAt: number;
  /** When the first failed attempt ended. */
  firstFailureAt?: number;
  /** When the last failed attempt ended. */
  lastFailureAt?: number;
  /** The last failure, as `Name: message` (credentials masked). */
  lastError?: string;
  /** Whether some attempt sent the message without learning its outcome. */
  outcomeUnknown?: boolean;
}

/** Why an event became a dead letter. */
export type DeadLetterReason =
  | "max-retries"
  | "unroutable"
  | "access-refused"
  | "precondition-failed"
  | "too-large"
  | "rejected"
  | "expired"
  | "evicted";

/** A dead letter: the pending record and why it failed for good. */
export interface DeadLetterRecord extends PendingRecord {
  /** Why it is a dead letter. */
  reason: DeadLetterReason;
  /** When it became one. */
  deadLetteredAt: number;
  /** The class of the last error, for example `TransportError`. */
  errorName?: string;
  /** The message of the last error. */
  errorMessage?: string;
}

/** Result of {@linkcode PendingStore.add}. */
export interface AddResult {
  /** The stored records, in the order given, with their `seq`. */
  records: PendingRecord[];
  /** Events evicted to make room (policy `drop-oldest-lowest-priority`). */
  evicted: PendingRecord[];
}

/** Limits of a store. */
export interface StoreLimits {
  /** Maximum pending events. */
  maxEvents: number;
  /** Maximum pending bytes (sum of encoded bodies). */
  maxBytes: number;
  /** What to do when full. */
  overflow: OverflowPolicy;
}

/** A snapshot of a store. */
export interface StoreStats {
  /** Pending events, in flight included. */
  size: number;
  /** The event limit. */
  maxSize: number;
  /** Pending bytes. */
  bytes: number;
  /** The byte limit. */
  maxBytes: number;
  /** Pending events by priority. */
  byPriority: Record<EventPriority, number>;
  /** Events handed out by `take()` and not yet removed or released. */
  inFlight: number;
  /** When the oldest pending event was accepted, if any. */
  oldestAcceptedAt?: number;
  /** Events evicted by the overflow policy since the store opened. */
  droppedEvents: number;
  /** Events removed by `expire()` since the store opened. */
  expiredEvents: number;
  /** Dead letters held locally. */
  deadLetters: number;
  /** Whether the store is on disk. */
  persistent: boolean;
}

/**
 * Holds pending events in priority order (high, normal, low; by arrival
 * within a priority) and the local dead letters.
 */
export interface PendingStore {
  /** Whether the store survives a restart. */
  readonly persistent: boolean;
  /**
   * Stores new events. Resolves only when they are durable (on disk for a
   * persistent store). All or nothing: when the group does not fit and the
   * policy is `reject`, nothing is stored.
   *
   * @throws {BufferFullError} When full and the policy is `reject`.
   */
  add(events: readonly NewRecord[]): Promise<AddResult>;
  /**
   * Hands out up to `limit` ready events (`nextAttemptAt <= now`, not in
   * flight), highest priority first, and marks them in flight.
   */
  take(limit: number, now: number): Promise<PendingRecord[]>;
  /** Deletes in-flight events: confirmed, or moved to the dead letters. */
  remove(records: readonly PendingRecord[]): Promise<void>;
  /**
   * Returns in-flight events to pending, saving their updated attempt fields
   * (`attempts`, `nextAttemptAt`, failure times, `lastError`).
   */
  release(records: readonly PendingRecord[]): Promise<void>;
  /** Removes and returns the pending events (not in flight) accepted before `cutoff`. */
  expire(cutoff: number): Promise<PendingRecord[]>;
  /** The earliest `nextAttemptAt` among events not in flight; `undefined` when there are none. */
  nextReadyAt(): number | undefined;
  /** A snapshot of sizes and counters. */
  stats(): StoreStats;
  /** Adds dead letters to the local dead-letter list. */
  addDeadLetters(records: readonly DeadLetterRecord[]): Promise<void>;
  /** Lists local dead letters, oldest first. */
  listDeadLetters(limit?: number): Promise<DeadLetterRecord[]>;
  /** Deletes local dead letters by `seq`. */
  removeDeadLetters(seqs: readonly number[]): Promise<void>;
  /** Releases the store (and its lease). Pending events stay on disk. */
  close(): Promise<void>;
}

/**
 * Counts events by priority: a fresh `{ high: 0, normal: 0, low: 0 }`.
 *
 * @returns Zero counts.
 */
export function emptyByPriority(): Record<EventPriority, number> {
  return { high: 0, normal: 0, low: 0 };
}
