/**
 * The pending-event store: every accepted, unconfirmed event lives here until
 * RabbitMQ confirms it or it becomes a dead letter. The same store is the
 * outage buffer. Implementations: {@linkcode MemoryStore} and `KvStore`.
 *
 * @module
 */

import type { OverflowPolicy } from "../config/types.ts";
import type { EncodedEvent, EventPriority } from "../event.ts";
/**
 * An event as it is about to be stored.
 *
 * @example
 * ```ts
 * import { encodeEvent, type NewRecord } from "@simplycaster/rabbitmq-publisher";
 *
 * const record: NewRecord = {
 *   ...encodeEvent({ id: "evt-1", type: "user.created", data: {} }),
 *   exchange: "domain-events",
 *   acceptedAt: Date.now(),
 * };
 * ```
 */
export interface NewRecord extends EncodedEvent {
  /** The exchange it is published to. */
  exchange: string;
  /** When the publisher accepted it (ms since the epoch). */
  acceptedAt: number;
  /** Delivery attempts already made; 0 for a new event, kept on replay. */
  attempts?: number;
}

/**
 * A pending event with its delivery bookkeeping.
 *
 * @example
 * ```ts
 * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
 *
 * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
 * const event = encodeEvent({ id: "evt-1", type: "user.created", data: {} });
 * const { records: [record] } = await store.add([{ ...event, exchange: "x", acceptedAt: 0 }]);
 * console.log(record.seq, record.attempts, record.nextAttemptAt); // 1 0 0
 * ```
 */
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

/**
 * Every {@linkcode DeadLetterReason}, in one list, so code that must handle
 * each reason (parsing a header, counting by reason) cannot miss one.
 *
 * - `max-retries`: its last retriable failure used up the attempts.
 * - `unroutable`: returned under `mandatory`, no queue bound for its routing key.
 * - `access-refused`: the user may not write to the exchange.
 * - `precondition-failed`: the exchange exists with other arguments than ours.
 * - `too-large`: bigger than the broker accepts.
 * - `rejected`: invalid.
 * - `expired`: older than `maxEventAge` before it was confirmed.
 * - `evicted`: dropped by the overflow policy to make room.
 *
 * @example
 * ```ts
 * import { DEAD_LETTER_REASONS, type DeadLetterReason } from "@simplycaster/rabbitmq-publisher";
 *
 * const isReason = (text: string): text is DeadLetterReason =>
 *   (DEAD_LETTER_REASONS as readonly string[]).includes(text);
 * console.log(isReason("expired"), isReason("lost")); // true false
 * ```
 */
export const DEAD_LETTER_REASONS = [
  "max-retries",
  "unroutable",
  "access-refused",
  "precondition-failed",
  "too-large",
  "rejected",
  "expired",
  "evicted",
] as const;

/**
 * Why an event became a dead letter: `max-retries` after its last retriable
 * failure, `expired` past `maxEventAge`, `evicted` by the overflow policy,
 * `rejected` when invalid, and the others from what the broker answered (see
 * {@linkcode classifyError}). One of {@linkcode DEAD_LETTER_REASONS}, where
 * each member is described.
 *
 * @example
 * ```ts
 * import { classifyError, type DeadLetterReason, TransportError } from "@simplycaster/rabbitmq-publisher";
 *
 * const verdict = classifyError(new TransportError("unroutable", "NO_ROUTE", { sent: true }));
 * const reason: DeadLetterReason | undefined = verdict.retriable ? undefined : verdict.reason;
 * console.log(reason); // "unroutable"
 * ```
 */
export type DeadLetterReason = typeof DEAD_LETTER_REASONS[number];

/**
 * A dead letter: the pending record and why it failed for good.
 *
 * @example
 * ```ts
 * import { type DeadLetterRecord, encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
 *
 * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
 * const event = encodeEvent({ id: "evt-1", type: "user.created", data: {} });
 * const { records: [record] } = await store.add([{ ...event, exchange: "x", acceptedAt: 0 }]);
 * const letter: DeadLetterRecord = {
 *   ...record,
 *   reason: "unroutable",
 *   deadLetteredAt: Date.now(),
 *   errorName: "TransportError",
 *   errorMessage: "unroutable: no queue bound",
 * };
 * await store.addDeadLetters([letter]);
 * ```
 */
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

/**
 * Result of {@linkcode PendingStore.add}.
 *
 * @example
 * ```ts
 * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
 *
 * const store = new MemoryStore({ maxEvents: 1, maxBytes: 10_000, overflow: "drop-oldest-lowest-priority" });
 * const record = (id: string) => ({ ...encodeEvent({ id, type: "t", data: {} }), exchange: "x", acceptedAt: 0 });
 * await store.add([record("old")]);
 * const { records, evicted } = await store.add([record("new")]);
 * console.log(records[0].id, evicted[0].id); // "new" "old"
 * ```
 */
export interface AddResult {
  /** The stored records, in the order given, with their `seq`. */
  records: PendingRecord[];
  /**
   * Events evicted to make room (policy `drop-oldest-lowest-priority`), now
   * dead letters with reason `evicted`, written in the same commit that
   * removed them from the pending events, so a crash cannot lose them.
   */
  evicted: DeadLetterRecord[];
}

/**
 * Limits of a store.
 *
 * @example
 * ```ts
 * import { MemoryStore, type StoreLimits } from "@simplycaster/rabbitmq-publisher";
 *
 * const limits: StoreLimits = { maxEvents: 10_000, maxBytes: 50 * 1024 * 1024, overflow: "reject" };
 * const store = new MemoryStore(limits);
 * ```
 */
export interface StoreLimits {
  /** Maximum pending events. */
  maxEvents: number;
  /** Maximum pending bytes (sum of encoded bodies). */
  maxBytes: number;
  /** What to do when full. */
  overflow: OverflowPolicy;
}

/**
 * A snapshot of a store.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "@simplycaster/rabbitmq-publisher";
 *
 * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
 * const { size, byPriority, persistent } = store.stats();
 * console.log(size, byPriority, persistent); // 0 { high: 0, normal: 0, low: 0 } false
 * ```
 */
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
  /**
   * Why the store's last write failed, while none has succeeded since (a
   * full disk, a read-only file); absent when writing works.
   */
  storageError?: string;
}

/**
 * Holds pending events in priority order (high, normal, low; by arrival
 * within a priority) and the local dead letters. Implementations:
 * {@linkcode MemoryStore} and {@linkcode KvStore}.
 *
 * @example
 * ```ts
 * import { encodeEvent, MemoryStore, type PendingStore } from "@simplycaster/rabbitmq-publisher";
 *
 * const store: PendingStore = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
 * const record = (id: string, priority: "high" | "low") => ({
 *   ...encodeEvent({ id, type: "t", data: {}, metadata: { priority } }),
 *   exchange: "x",
 *   acceptedAt: 0,
 * });
 * await store.add([record("later", "low"), record("urgent", "high")]);
 * const batch = await store.take(10, Date.now());
 * console.log(batch.map((r) => r.id)); // ["urgent", "later"]
 * await store.remove(batch); // confirmed
 * await store.close();
 * ```
 */
export interface PendingStore {
  /** Whether the store survives a restart. */
  readonly persistent: boolean;
  /**
   * Stores new events. Resolves only when they are durable (on disk for a
   * persistent store). All or nothing: when the group does not fit and the
   * policy is `reject`, nothing is stored.
   *
   * @param events The events to store.
   * @returns The stored records with their `seq`, and any evicted to make room.
   * @throws {BufferFullError} When full and the policy is `reject`.
   */
  add(events: readonly NewRecord[]): Promise<AddResult>;
  /**
   * Like {@linkcode PendingStore.add}, done before it returns, for a store
   * that keeps its events in memory alone (absent on a persistent store): the
   * publisher then answers a queued `publish()` without waiting for a
   * promise of the store's.
   *
   * @param events The events to store.
   * @returns The stored records with their `seq`, and any evicted to make room.
   * @throws {BufferFullError} When full and the policy is `reject`.
   */
  addNow?(events: readonly NewRecord[]): AddResult;
  /**
   * Hands out up to `limit` ready events (`nextAttemptAt <= now`, not in
   * flight), highest priority first, and marks them in flight.
   *
   * @param limit The most events to hand out.
   * @param now The current time, in ms since the epoch.
   * @returns The events, now in flight.
   */
  take(limit: number, now: number): Promise<PendingRecord[]>;
  /**
   * Deletes in-flight events: confirmed, or moved to the dead letters.
   * A persistent store may make the deletion durable later (with its next
   * commit): a deletion lost in a crash means the event is sent again, a
   * duplicate, never a loss.
   *
   * @param records The events to delete.
   * @returns Resolves once the events are no longer pending.
   */
  remove(records: readonly PendingRecord[]): Promise<void>;
  /**
   * Returns in-flight events to pending, saving their updated attempt fields
   * (`attempts`, `nextAttemptAt`, failure times, `lastError`).
   *
   * @param records The events to return, with their updated fields.
   * @returns Resolves once the update is durable.
   */
  release(records: readonly PendingRecord[]): Promise<void>;
  /**
   * Moves the pending events (not in flight) accepted before `cutoff` to the
   * dead letters, reason `expired`, in the same commit that removes them, so
   * a crash cannot lose them.
   *
   * @param cutoff A time in ms since the epoch.
   * @returns The new dead letters.
   */
  expire(cutoff: number): Promise<DeadLetterRecord[]>;
  /**
   * The `seq` of the pending event with this id, in flight or not, on disk
   * or in memory: how the publisher recognises a duplicate. Kept in memory
   * for every pending event (its id and seq), not only the loaded ones.
   *
   * @param id The event id.
   * @returns The pending event's `seq`, or `undefined` when none is pending.
   */
  seqOf(id: string): number | undefined;
  /**
   * The earliest `nextAttemptAt` among events not in flight.
   *
   * @returns A time in ms since the epoch, or `undefined` when there are none.
   */
  nextReadyAt(): number | undefined;
  /**
   * The two numbers the dispatcher reads on every pass, without building a
   * full snapshot.
   *
   * @returns Pending events (in flight included) and those in flight.
   */
  counts(): { size: number; inFlight: number };
  /**
   * A snapshot of sizes and counters.
   *
   * @returns The snapshot.
   */
  stats(): StoreStats;
  /**
   * Adds dead letters to the local dead-letter list.
   *
   * @param records The dead letters.
   * @returns Resolves once they are durable.
   */
  addDeadLetters(records: readonly DeadLetterRecord[]): Promise<void>;
  /**
   * Lists local dead letters, oldest first.
   *
   * @param limit The most to list; all when omitted.
   * @returns The dead letters.
   */
  listDeadLetters(limit?: number): Promise<DeadLetterRecord[]>;
  /**
   * Deletes local dead letters by `seq`.
   *
   * @param seqs The `seq` of each dead letter to delete.
   * @returns Resolves once the deletion is durable.
   */
  removeDeadLetters(seqs: readonly number[]): Promise<void>;
  /**
   * Releases the store (and its lease). Pending events stay on disk.
   *
   * @returns Resolves once released.
   */
  close(): Promise<void>;
}

/**
 * Counts events by priority: a fresh `{ high: 0, normal: 0, low: 0 }`.
 *
 * @returns Zero counts, a new object on every call.
 *
 * @example
 * ```ts
 * import { emptyByPriority } from "./store.ts";
 *
 * const counts = emptyByPriority();
 * counts.high++;
 * console.log(counts, emptyByPriority().high); // { high: 1, normal: 0, low: 0 } 0
 * ```
 */
export function emptyByPriority(): Record<EventPriority, number> {
  return { high: 0, normal: 0, low: 0 };
}
