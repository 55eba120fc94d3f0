// The in-memory ordered index of pending events shared by the stores: one
// map per priority, each in arrival (seq) order, plus the set in flight.

import { type EventPriority, PRIORITIES } from "../event.ts";
import { BufferFullError } from "../errors.ts";
import { KeyedHeap } from "./_heap.ts";
import { emptyByPriority, type PendingRecord, type StoreLimits } from "./store.ts";

/** Priority rank: 0 for high, 2 for low. */
export function priorityRank(priority: EventPriority): number {
  return PRIORITIES.indexOf(priority);
}

export class PendingIndex {
  readonly #queues: Record<EventPriority, Map<number, PendingRecord>> = {
    high: new Map(),
    normal: new Map(),
    low: new Map(),
  };
  readonly #inFlight = new Set<number>();
  #bytes = 0;
  // Three heaps, so that no pass scans the records in flight or waiting out
  // a backoff (a window of 500 in flight would otherwise be walked on every
  // take). All are cleaned lazily: an entry counts while its record is still
  // held and not in flight (see #live), and #compact() bounds the rest.
  // - #ready: per priority, by seq, the records not in flight that were due
  //   when last seen; take() pops them in order.
  // - #parked: by nextAttemptAt, the records take() found not yet due; they
  //   go back to #ready when their time comes.
  // - #due: by nextAttemptAt, every record not in flight, for nextReadyAt().
  readonly #ready: Record<EventPriority, KeyedHeap<PendingRecord>> = {
    high: new KeyedHeap(),
    normal: new KeyedHeap(),
    low: new KeyedHeap(),
  };
  readonly #parked = new KeyedHeap<PendingRecord>();
  readonly #due = new KeyedHeap<PendingRecord>();

  get size(): number {
    return this.#queues.high.size + this.#queues.normal.size + this.#queues.low.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Inserts a record; callers insert in increasing `seq` within a priority. */
  insert(record: PendingRecord): void {
    this.#queues[record.priority].set(record.seq, record);
    this.#bytes += record.bytes;
    this.#pending(record);
  }

  /**
   * Puts back a record deleted by mistake (its delete was not committed),
   * in its place by `seq`.
   */
  reinsert(record: PendingRecord): void {
    const queue = this.#queues[record.priority];
    let last: number | undefined;
    for (const seq of queue.keys()) last = seq;
    if (last === undefined || last < record.seq) return this.insert(record);
    const entries = [...queue.entries(), [record.seq, record] as const]
      .sort(([a], [b]) => a - b);
    queue.clear();
    for (const [seq, held] of entries) queue.set(seq, held);
    this.#bytes += record.bytes;
    this.#pending(record);
  }

  has(record: PendingRecord): boolean {
    return this.#queues[record.priority].has(record.seq);
  }

  delete(record: PendingRecord): boolean {
    const queue = this.#queues[record.priority];
    const stored = queue.get(record.seq);
    if (stored === undefined) return false;
    queue.delete(record.seq);
    this.#inFlight.delete(record.seq);
    this.#bytes -= stored.bytes;
    return true;
  }

  /** Hands out up to `limit` ready records, most urgent first, marking them in flight. */
  take(limit: number, now: number): PendingRecord[] {
    const taken: PendingRecord[] = [];
    for (const priority of PRIORITIES) this.takeFrom(priority, limit, now, taken);
    return taken;
  }

  /** Like {@linkcode take} for one priority, appending to `taken` until it holds `limit`. */
  takeFrom(priority: EventPriority, limit: number, now: number, taken: PendingRecord[]): void {
    this.#unpark(now);
    const ready = this.#ready[priority];
    while (taken.length < limit && ready.length > 0) {
      const record = ready.peekValue();
      ready.pop();
      if (!this.#live(record)) continue;
      if (record.nextAttemptAt > now) {
        this.#parked.push(record.nextAttemptAt, record);
        continue;
      }
      this.#inFlight.add(record.seq);
      taken.push(record);
    }
  }

  /** Records held of one priority. */
  count(priority: EventPriority): number {
    return this.#queues[priority].size;
  }

  /**
   * Removes up to `max` records from the newest end of one priority, stopping
   * at the first in flight, so that what stays is still a prefix in seq order.
   *
   * @returns The removed records, oldest first.
   */
  dropNewest(priority: EventPriority, max: number): PendingRecord[] {
    const queue = this.#queues[priority];
    const records = [...queue.values()];
    let i = records.length;
    while (i > 0 && records.length - i < max && !this.#inFlight.has(records[i - 1].seq)) i--;
    const dropped = records.slice(i);
    for (const record of dropped) this.delete(record);
    return dropped;
  }

  /** Marks an in-flight record pending again, keeping its place in the order. */
  release(record: PendingRecord): void {
    const stored = this.#queues[record.priority].get(record.seq);
    if (stored === undefined) return;
    if (stored !== record) Object.assign(stored, record);
    // One not in flight is in #ready or #parked already; take() reads its time anew.
    if (!this.#inFlight.delete(record.seq)) {
      this.#due.push(stored.nextAttemptAt, stored);
      return;
    }
    this.#pending(stored);
  }

  /** The earliest `nextAttemptAt` among the records not in flight. */
  nextReadyAt(): number | undefined {
    const due = this.#due;
    while (due.length > 0) {
      const record = due.peekValue();
      if (this.#live(record) && record.nextAttemptAt === due.peekKey()) return due.peekKey();
      due.pop();
    }
    return undefined;
  }

  /** Whether a heap entry still stands for a record held and not in flight. */
  #live(record: PendingRecord): boolean {
    return this.#queues[record.priority].get(record.seq) === record &&
      !this.#inFlight.has(record.seq);
  }

  /** A record became pending (inserted, or back from flight): it can be taken. */
  #pending(record: PendingRecord): void {
    this.#compact();
    this.#ready[record.priority].push(record.seq, record);
    this.#due.push(record.nextAttemptAt, record);
  }

  /** Moves the parked records whose time has come back to #ready. */
  #unpark(now: number): void {
    const parked = this.#parked;
    while (parked.length > 0 && parked.peekKey() <= now) {
      const record = parked.peekValue();
      parked.pop();
      if (this.#live(record)) this.#ready[record.priority].push(record.seq, record);
    }
  }

  /**
   * Entries of records taken or deleted since are dropped only when they
   * reach the top of their heap; rebuilding the heaps now and then bounds them.
   */
  #compact(): void {
    const held = this.size;
    const ready = this.#ready.high.length + this.#ready.normal.length + this.#ready.low.length;
    if (ready + this.#parked.length + this.#due.length <= 4 * held + 2048) return;
    for (const priority of PRIORITIES) this.#ready[priority].clear();
    this.#parked.clear();
    this.#due.clear();
    for (const priority of PRIORITIES) {
      for (const record of this.#queues[priority].values()) {
        if (this.#inFlight.has(record.seq)) continue;
        this.#ready[priority].push(record.seq, record);
        this.#due.push(record.nextAttemptAt, record);
      }
    }
  }

  /** The pending records (not in flight) accepted before `cutoff`. */
  expired(cutoff: number): PendingRecord[] {
    const found: PendingRecord[] = [];
    for (const priority of PRIORITIES) {
      for (const record of this.#queues[priority].values()) {
        if (record.acceptedAt < cutoff && !this.#inFlight.has(record.seq)) found.push(record);
      }
    }
    return found;
  }

  /**
   * Chooses what to evict so that `count` more events and `bytes` more bytes
   * fit: the oldest of the lowest priority first, never one in flight and
   * never one more urgent than `rank`. Mutates nothing. `beyond` lists, per
   * priority, older-first candidates not held here (a persistent store's
   * records on disk), all newer than the ones held; they are considered after
   * the held ones of their priority.
   *
   * @returns The records to evict, or `undefined` when no choice makes room.
   */
  planEviction(
    limits: StoreLimits,
    count: number,
    bytes: number,
    rank: number,
    beyond?: Partial<Record<EventPriority, readonly PendingRecord[]>>,
  ): PendingRecord[] | undefined {
    let size = this.size + count;
    let total = this.#bytes + bytes;
    const victims: PendingRecord[] = [];
    for (let r = PRIORITIES.length - 1; r >= rank; r--) {
      const priority = PRIORITIES[r];
      for (const queue of [this.#queues[priority].values(), beyond?.[priority] ?? []]) {
        for (const record of queue) {
          if (size <= limits.maxEvents && total <= limits.maxBytes) return victims;
          if (this.#inFlight.has(record.seq)) continue;
          victims.push(record);
          size--;
          total -= record.bytes;
        }
      }
    }
    return size <= limits.maxEvents && total <= limits.maxBytes ? victims : undefined;
  }

  byPriority(): Record<EventPriority, number> {
    const counts = emptyByPriority();
    for (const priority of PRIORITIES) counts[priority] = this.#queues[priority].size;
    return counts;
  }

  oldestAcceptedAt(): number | undefined {
    let oldest: number | undefined;
    for (const priority of PRIORITIES) {
      const first = this.#queues[priority].values().next();
      // Within a priority, acceptance order is seq order, so the first is the oldest.
      if (!first.done && (oldest === undefined || first.value.acceptedAt < oldest)) {
        oldest = first.value.acceptedAt;
      }
    }
    return oldest;
  }
}

/**
 * Decides whether a group of new events fits, and what to evict if the policy
 * allows eviction. `size` and `bytes` are the store's totals, which may
 * exceed what `index` holds; `beyond` adds eviction candidates not in `index`
 * (see {@linkcode PendingIndex.planEviction}).
 *
 * @throws {BufferFullError} When the group does not fit and cannot be made to.
 */
export function admit(
  index: PendingIndex,
  limits: StoreLimits,
  size: number,
  bytes: number,
  incoming: readonly { priority: EventPriority; bytes: number }[],
  beyond?: Partial<Record<EventPriority, readonly PendingRecord[]>>,
): PendingRecord[] {
  let addBytes = 0;
  let rank = PRIORITIES.length - 1;
  for (const event of incoming) {
    addBytes += event.bytes;
    rank = Math.min(rank, priorityRank(event.priority));
  }
  if (size + incoming.length <= limits.maxEvents && bytes + addBytes <= limits.maxBytes) return [];
  const state = { size, maxSize: limits.maxEvents, bytes, maxBytes: limits.maxBytes };
  if (limits.overflow === "reject") throw new BufferFullError(state);
  const victims = incoming.length > limits.maxEvents || addBytes > limits.maxBytes
    ? undefined
    : index.planEviction(
      limits,
      incoming.length + size - index.size,
      addBytes + bytes - index.bytes,
      rank,
      beyond,
    );
  if (victims !== undefined) return victims;
  throw new BufferFullError(
    state,
    incoming.length > limits.maxEvents || addBytes > limits.maxBytes
      ? `the ${incoming.length} events arriving (${addBytes} bytes) exceed the whole buffer`
      : `${limits.overflow} evicts only events not in flight and no more urgent than the ` +
        `ones arriving (${PRIORITIES[rank]}), and those do not make room`,
  );
}
