/**
 * The in-memory pending-event store: fast, and lost with the process. Use the
 * Deno KV store (`enablePersistence`) for events that must survive a restart.
 *
 * @module
 */

import { admit, PendingIndex } from "./_pending_index.ts";
import type {
  AddResult,
  DeadLetterRecord,
  NewRecord,
  PendingRecord,
  PendingStore,
  StoreLimits,
  StoreStats,
} from "./store.ts";

/**
 * A {@linkcode PendingStore} held in memory.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "@simplycaster/rabbitmq-publisher";
 *
 * const store = new MemoryStore({ maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" });
 * console.log(store.stats().size); // 0
 * await store.close();
 * ```
 */
export class MemoryStore implements PendingStore {
  /** Always `false`: nothing survives the process. */
  readonly persistent = false;
  readonly #limits: StoreLimits;
  readonly #index = new PendingIndex();
  readonly #deadLetters = new Map<number, DeadLetterRecord>();
  #seq = 0;
  #dropped = 0;
  #expired = 0;

  /**
   * Creates an empty store.
   *
   * @param limits The store's count and byte limits and overflow policy.
   */
  constructor(limits: StoreLimits) {
    this.#limits = limits;
  }

  /**
   * Stores new events; all or nothing.
   *
   * @param events The events to store.
   * @returns The stored records and any evicted to make room.
   * @throws {BufferFullError} When full and the policy does not allow room to be made.
   */
  add(events: readonly NewRecord[]): Promise<AddResult> {
    try {
      const evicted = admit(
        this.#index,
        this.#limits,
        this.#index.size,
        this.#index.bytes,
        events,
      );
      for (const record of evicted) this.#index.delete(record);
      this.#dropped += evicted.length;
      const records = events.map((event) => {
        const record: PendingRecord = {
          ...event,
          seq: ++this.#seq,
          attempts: event.attempts ?? 0,
          nextAttemptAt: event.acceptedAt,
        };
        this.#index.insert(record);
        return record;
      });
      return Promise.resolve({ records, evicted });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Hands out up to `limit` ready events, most urgent first.
   *
   * @param limit The most events to hand out.
   * @param now The current time.
   * @returns The events, now in flight.
   */
  take(limit: number, now: number): Promise<PendingRecord[]> {
    return Promise.resolve(this.#index.take(limit, now));
  }

  /**
   * Deletes events.
   *
   * @param records The events to delete.
   */
  remove(records: readonly PendingRecord[]): Promise<void> {
    for (const record of records) this.#index.delete(record);
    return Promise.resolve();
  }

  /**
   * Returns in-flight events to pending with their updated fields.
   *
   * @param records The events to return.
   */
  release(records: readonly PendingRecord[]): Promise<void> {
    for (const record of records) this.#index.release(record);
    return Promise.resolve();
  }

  /**
   * Removes and returns the pending events accepted before `cutoff`.
   *
   * @param cutoff Events accepted before this time are removed.
   * @returns The removed events.
   */
  expire(cutoff: number): Promise<PendingRecord[]> {
    const expired = this.#index.expired(cutoff);
    for (const record of expired) this.#index.delete(record);
    this.#expired += expired.length;
    return Promise.resolve(expired);
  }

  /**
   * The earliest time an event not in flight becomes ready.
   *
   * @returns A time in ms, or `undefined` when nothing waits.
   */
  nextReadyAt(): number | undefined {
    return this.#index.nextReadyAt();
  }

  /**
   * A snapshot of the store.
   *
   * @returns Sizes, limits and counters.
   */
  stats(): StoreStats {
    return {
      size: this.#index.size,
      maxSize: this.#limits.maxEvents,
      bytes: this.#index.bytes,
      maxBytes: this.#limits.maxBytes,
      byPriority: this.#index.byPriority(),
      inFlight: this.#index.inFlight,
      oldestAcceptedAt: this.#index.oldestAcceptedAt(),
      droppedEvents: this.#dropped,
      expiredEvents: this.#expired,
      deadLetters: this.#deadLetters.size,
      persistent: false,
    };
  }

  /**
   * Keeps dead letters locally.
   *
   * @param records The dead letters.
   */
  addDeadLetters(records: readonly DeadLetterRecord[]): Promise<void> {
    for (const record of records) this.#deadLetters.set(record.seq, record);
    return Promise.resolve();
  }

  /**
   * Lists local dead letters, oldest first.
   *
   * @param limit The most to list.
   * @returns The dead letters.
   */
  listDeadLetters(limit = Infinity): Promise<DeadLetterRecord[]> {
    const found: DeadLetterRecord[] = [];
    for (const record of this.#deadLetters.values()) {
      if (found.length >= limit) break;
      found.push(record);
    }
    return Promise.resolve(found);
  }

  /**
   * Deletes local dead letters.
   *
   * @param seqs The `seq` of each dead letter to delete.
   */
  removeDeadLetters(seqs: readonly number[]): Promise<void> {
    for (const seq of seqs) this.#deadLetters.delete(seq);
    return Promise.resolve();
  }

  /** Nothing to release in memory. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
