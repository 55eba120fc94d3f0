/**
 * The in-memory pending-event store: fast, and lost with the process. Use the
 * Deno KV store (`enablePersistence`) for events that must survive a restart.
 *
 * @module
 */

import { admit, PendingIndex } from "./_pending_index.ts";
import { toDeadLetter } from "./_dead_letter.ts";
import type {
  AddResult,
  DeadLetterReason,
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
  // id -> seq of every pending event, for the duplicate check.
  readonly #ids = new Map<string, number>();
  readonly #deadLetters = new Map<number, DeadLetterRecord>();
  #seq = 0;
  #dropped = 0;
  #expired = 0;
  readonly #now: () => number;

  /**
   * Creates an empty store.
   *
   * @param limits The store's count and byte limits and overflow policy.
   * @param now The clock that dates dead letters of evicted and expired events.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 1_000, maxBytes: 1_000_000, overflow: "reject" });
   * console.log(store.persistent); // false
   * ```
   */
  constructor(limits: StoreLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /**
   * Stores new events; all or nothing.
   *
   * @param events The events to store.
   * @returns The stored records, and any evicted to make room (now dead
   * letters, reason `evicted`).
   * @throws {BufferFullError} When full and the policy does not allow room to be made.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * const { records } = await store.add([event("evt-1"), event("evt-2")]);
   * console.log(records.map((r) => r.seq)); // [1, 2]
   * ```
   */
  add(events: readonly NewRecord[]): Promise<AddResult> {
    try {
      return Promise.resolve(this.addNow(events));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Stores new events before it returns: what {@linkcode MemoryStore.add} does.
   *
   * @param events The events to store.
   * @returns The stored records with their `seq`, and any evicted to make room.
   * @throws {BufferFullError} When full and the policy is `reject`.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = { ...encodeEvent({ id: "evt-1", type: "t", data: {} }), exchange: "x", acceptedAt: 0 };
   * console.log(store.addNow([event]).records[0].seq); // 1
   * ```
   */
  addNow(events: readonly NewRecord[]): AddResult {
    const evicted = admit(
      this.#index,
      this.#limits,
      this.#index.size,
      this.#index.bytes,
      events,
    );
    const letters = this.#moveToDeadLetters(evicted, "evicted");
    this.#dropped += letters.length;
    const records = events.map((event) => {
      const record: PendingRecord = {
        ...event,
        seq: ++this.#seq,
        attempts: event.attempts ?? 0,
        nextAttemptAt: event.acceptedAt,
      };
      this.#index.insert(record);
      this.#ids.set(record.id, record.seq);
      return record;
    });
    return { records, evicted: letters };
  }

  /**
   * Hands out up to `limit` ready events, most urgent first.
   *
   * @param limit The most events to hand out.
   * @param now The current time.
   * @returns The events, now in flight.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("evt-1"), event("evt-2")]);
   * const batch = await store.take(1, Date.now());
   * console.log(batch.map((r) => r.id), store.stats().inFlight); // ["evt-1"] 1
   * ```
   */
  take(limit: number, now: number): Promise<PendingRecord[]> {
    return Promise.resolve(this.#index.take(limit, now));
  }

  /**
   * Deletes events, typically once RabbitMQ confirmed them.
   *
   * @param records The events to delete.
   * @returns Resolves at once.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("evt-1")]);
   * await store.remove(await store.take(10, Date.now()));
   * console.log(store.stats().size); // 0
   * ```
   */
  remove(records: readonly PendingRecord[]): Promise<void> {
    for (const record of records) this.#forget(record);
    return Promise.resolve();
  }

  /**
   * Returns in-flight events to pending with their updated fields.
   *
   * @param records The events to return.
   * @returns Resolves at once.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("evt-1")]);
   * const [record] = await store.take(10, Date.now());
   * await store.release([{ ...record, attempts: 1, nextAttemptAt: Date.now() + 60_000 }]);
   * console.log(store.stats().inFlight, (await store.take(10, Date.now())).length); // 0 0
   * ```
   */
  release(records: readonly PendingRecord[]): Promise<void> {
    for (const record of records) this.#index.release(record);
    return Promise.resolve();
  }

  /**
   * Moves the pending events accepted before `cutoff` (not in flight) to the
   * dead letters, reason `expired`.
   *
   * @param cutoff Events accepted before this time are removed.
   * @returns The new dead letters.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("evt-1")]);
   * const expired = await store.expire(1);
   * console.log(expired.map((r) => r.id), store.stats().expiredEvents); // ["evt-1"] 1
   * ```
   */
  expire(cutoff: number): Promise<DeadLetterRecord[]> {
    const letters = this.#moveToDeadLetters(this.#index.expired(cutoff), "expired");
    this.#expired += letters.length;
    return Promise.resolve(letters);
  }

  #moveToDeadLetters(records: PendingRecord[], reason: DeadLetterReason): DeadLetterRecord[] {
    const at = this.#now();
    return records.map((record) => {
      this.#forget(record);
      const letter = toDeadLetter(record, reason, at);
      this.#deadLetters.set(letter.seq, letter);
      return letter;
    });
  }

  #forget(record: PendingRecord): void {
    if (!this.#index.delete(record)) return;
    if (this.#ids.get(record.id) === record.seq) this.#ids.delete(record.id);
  }

  /**
   * The `seq` of the pending event with this id, if one is pending.
   *
   * @param id The event id.
   * @returns Its `seq`, or `undefined`.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = { ...encodeEvent({ id: "evt-1", type: "t", data: {} }), exchange: "x", acceptedAt: 0 };
   * await store.add([event]);
   * console.log(store.seqOf("evt-1"), store.seqOf("evt-2")); // 1 undefined
   * ```
   */
  seqOf(id: string): number | undefined {
    return this.#ids.get(id);
  }

  /**
   * The earliest time an event not in flight becomes ready.
   *
   * @returns A time in ms, or `undefined` when nothing waits.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * console.log(store.nextReadyAt()); // undefined
   * await store.add([event("evt-1")]);
   * console.log(store.nextReadyAt()); // 0: ready since it was accepted
   * ```
   */
  nextReadyAt(): number | undefined {
    return this.#index.nextReadyAt();
  }

  /**
   * Pending and in-flight counts, for the dispatcher's hot path.
   *
   * @returns Pending events (in flight included) and those in flight.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * console.log(store.counts()); // { size: 0, inFlight: 0 }
   * ```
   */
  counts(): { size: number; inFlight: number } {
    return { size: this.#index.size, inFlight: this.#index.inFlight };
  }

  /**
   * A snapshot of the store.
   *
   * @returns Sizes, limits and counters.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("evt-1")]);
   * const { size, maxSize, byPriority } = store.stats();
   * console.log(size, maxSize, byPriority.normal); // 1 10 1
   * ```
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
   * Keeps dead letters locally, by `seq`.
   *
   * @param records The dead letters.
   * @returns Resolves at once.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * const { records: [record] } = await store.add([event("evt-1")]);
   * await store.addDeadLetters([{ ...record, reason: "unroutable", deadLetteredAt: Date.now() }]);
   * await store.remove([record]);
   * console.log(store.stats().deadLetters); // 1
   * ```
   */
  addDeadLetters(records: readonly DeadLetterRecord[]): Promise<void> {
    for (const record of records) this.#deadLetters.set(record.seq, record);
    return Promise.resolve();
  }

  /**
   * Lists local dead letters, oldest first.
   *
   * @param limit The most to list; all when omitted.
   * @returns The dead letters.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * const { records } = await store.add([event("evt-1"), event("evt-2")]);
   * await store.addDeadLetters(records.map((r) => ({ ...r, reason: "expired" as const, deadLetteredAt: 0 })));
   * console.log((await store.listDeadLetters(1)).map((r) => r.id)); // ["evt-1"]
   * ```
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
   * @returns Resolves at once.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * const { records: [record] } = await store.add([event("evt-1")]);
   * await store.addDeadLetters([{ ...record, reason: "rejected", deadLetteredAt: 0 }]);
   * await store.removeDeadLetters([record.seq]);
   * console.log(store.stats().deadLetters); // 0
   * ```
   */
  removeDeadLetters(seqs: readonly number[]): Promise<void> {
    for (const seq of seqs) this.#deadLetters.delete(seq);
    return Promise.resolve();
  }

  /**
   * Does nothing: there is nothing to release in memory. Pending events are
   * lost with the store.
   *
   * @returns Resolves at once.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 10_000, overflow: "reject" });
   * await store.close();
   * ```
   */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
