// The KV store's in-memory window and its counts of every pending record.
//
// The window holds at most `memoryLimit` records in a `PendingIndex`. For
// each priority it holds a *prefix* of that priority's records (every one
// with `seq` up to a cursor); the rest wait on disk and are loaded, from the
// cursor on, as `take()` gets to them. Records of a lower priority are
// unloaded from the window's newest end to make room for more urgent ones,
// so the order never depends on what happens to be in memory. This file owns
// what is loaded, the disk-only counts and bounds, and every read past the
// cursors (opening, loading, eviction candidates, expiry on disk).

import { admit, PendingIndex, priorityRank } from "../_pending_index.ts";
import { type EventPriority, PRIORITIES } from "../../event.ts";
import { emptyByPriority, type NewRecord, type PendingRecord, type StoreLimits } from "../store.ts";
import { fromDisk, type OnDisk, PENDING_PREFIX, pendingAfter } from "./_codec.ts";

// A kv.list() returns at most this many entries per round trip.
const LIST_BATCH = 1000;
// The fewest records worth one read from disk: a take() short of records
// reads at least this many, and a prefetch waits for room for as many (or a
// quarter of the window, if smaller).
const READ_MIN = 256;

export class RecordWindow {
  readonly #kv: Deno.Kv;
  readonly #memoryLimit: number;
  readonly #barrier: () => Promise<void>;
  readonly #index = new PendingIndex();
  #size = 0;
  #bytes = 0;
  readonly #byPriority = emptyByPriority();
  /** Per priority, the highest `seq` loaded into the window (or deleted past). */
  readonly #cursor = emptyByPriority();
  /** Per priority, counted records past the cursor: on disk, or being committed. */
  readonly #unloaded = emptyByPriority();
  /** Per priority, new records whose commit has not finished. */
  readonly #uncommitted = emptyByPriority();
  /** Per priority, a lower bound of `acceptedAt` of the records past the cursor. */
  readonly #diskOldest: Partial<Record<EventPriority, number>> = {};
  /** A lower bound of `nextAttemptAt` of the records on disk only. */
  #diskReadyAt: number | undefined;
  /** Per priority, the highest `seq` of a new record whose commit has been seen through. */
  readonly #committedUpTo = emptyByPriority();
  /**
   * Set when a cursor moved back (records unloaded): the writes queued until
   * then may touch records now past the cursor, so reads past it wait for them.
   */
  #rewound: Promise<void> | undefined;
  /** Whether the last `take()` wanted records from disk but had no room for them. */
  #stalled = false;
  /** id -> seq of every pending record, loaded or not, for the duplicate check. */
  readonly #ids = new Map<string, number>();

  /**
   * @param kv Where the records are.
   * @param memoryLimit The most records held at once.
   * @param barrier Resolves once the writes queued so far are committed.
   */
  constructor(kv: Deno.Kv, memoryLimit: number, barrier: () => Promise<void>) {
    this.#kv = kv;
    this.#memoryLimit = memoryLimit;
    this.#barrier = barrier;
  }

  /** Pending records, on disk or not, in flight included. */
  get size(): number {
    return this.#size;
  }

  /** Pending bytes, on disk or not. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Pending records by priority (a copy). */
  byPriority(): Record<EventPriority, number> {
    return { ...this.#byPriority };
  }

  /** The `seq` of the pending record with this id, loaded or not. */
  seqOf(id: string): number | undefined {
    return this.#ids.get(id);
  }

  /** Records held in memory. */
  get loaded(): number {
    return this.#index.size;
  }

  get inFlight(): number {
    return this.#index.inFlight;
  }

  /** Committed records of a priority (or all) that are on disk and not in the window. */
  onDiskOnly(priority?: EventPriority): number {
    if (priority !== undefined) return this.#unloaded[priority] - this.#uncommitted[priority];
    let count = 0;
    for (const p of PRIORITIES) count += this.#unloaded[p] - this.#uncommitted[p];
    return count;
  }

  /** Counts every pending record and loads the first `memoryLimit`; returns the highest seq. */
  async scan(): Promise<number> {
    let seq = 0;
    const list = this.#kv.list<OnDisk<PendingRecord>>(
      { prefix: PENDING_PREFIX },
      { batchSize: LIST_BATCH },
    );
    for await (const { value: stored } of list) {
      // Records past the window are only counted: their bodies stay undecoded.
      const record = stored;
      const priority = record.priority;
      seq = Math.max(seq, record.seq);
      this.#committedUpTo[priority] = record.seq;
      this.#ids.set(record.id, record.seq);
      this.#size++;
      this.#bytes += record.bytes;
      this.#byPriority[priority]++;
      if (this.#unloaded[priority] === 0 && this.#index.size < this.#memoryLimit) {
        this.#index.insert(fromDisk(record));
        this.#cursor[priority] = record.seq;
      } else {
        if (this.#unloaded[priority]++ === 0) this.#diskOldest[priority] = record.acceptedAt;
        this.#diskReadyAt = Math.min(this.#diskReadyAt ?? Infinity, record.nextAttemptAt);
      }
    }
    return seq;
  }

  fits(events: readonly NewRecord[], limits: StoreLimits): boolean {
    let bytes = this.#bytes;
    for (const event of events) bytes += event.bytes;
    return this.#size + events.length <= limits.maxEvents && bytes <= limits.maxBytes;
  }

  /**
   * Checks that `events` fit, choosing what to evict among the window's
   * records and `beyond` (see `admit()`).
   *
   * @throws {BufferFullError} When they cannot fit.
   */
  admit(
    limits: StoreLimits,
    events: readonly NewRecord[],
    beyond?: Partial<Record<EventPriority, PendingRecord[]>>,
  ): PendingRecord[] {
    return admit(this.#index, limits, this.#size, this.#bytes, events, beyond);
  }

  /** Forgets evicted records, in the window or the first on disk past its cursor. */
  evict(victims: readonly PendingRecord[]): void {
    for (const victim of victims) {
      if (!this.#index.delete(victim)) this.#passOnDisk(victim);
      this.#forget(victim);
    }
    if (victims.length > 0) this.#stalled = false;
  }

  /** Counts a new record whose commit has begun; it waits past the cursor until committed. */
  adding(record: PendingRecord): void {
    const priority = record.priority;
    this.#ids.set(record.id, record.seq);
    this.#size++;
    this.#bytes += record.bytes;
    this.#byPriority[priority]++;
    if (this.#unloaded[priority]++ === 0) this.#diskOldest[priority] = record.acceptedAt;
    this.#uncommitted[priority]++;
  }

  /** A new record is on disk: it joins the window if every older one of its priority is there. */
  committed(record: PendingRecord): void {
    const priority = record.priority;
    this.#uncommitted[priority]--;
    this.#committedUpTo[priority] = record.seq;
    if (record.seq <= this.#cursor[priority]) return; // already read from disk
    if (
      this.#unloaded[priority] === this.#uncommitted[priority] + 1 &&
      this.#index.size < this.#memoryLimit
    ) {
      this.#index.insert(record);
      this.#passOnDisk(record);
    } else {
      this.#diskReadyAt = Math.min(this.#diskReadyAt ?? Infinity, record.nextAttemptAt);
    }
  }

  /** A new record's commit failed: it is not counted any more. */
  rolledBack(record: PendingRecord): void {
    const priority = record.priority;
    this.#uncommitted[priority]--;
    this.#unloaded[priority]--;
    if (this.#unloaded[priority] === 0) delete this.#diskOldest[priority];
    this.#forget(record);
  }

  /**
   * Counts again a record evicted or expired whose delete did not commit:
   * it is still on disk, so it is pending still. It goes back into the
   * window (which may hold a few more than `memoryLimit` until records leave).
   */
  restore(record: PendingRecord): void {
    this.#index.reinsert(record);
    this.#size++;
    this.#bytes += record.bytes;
    this.#byPriority[record.priority]++;
    this.#cursor[record.priority] = Math.max(this.#cursor[record.priority], record.seq);
  }

  /** Deletes in-flight records; returns those the window held. */
  remove(records: readonly PendingRecord[]): PendingRecord[] {
    const removed = records.filter((record) => this.#index.delete(record));
    for (const record of removed) this.#forget(record);
    if (removed.length > 0) this.#stalled = false;
    return removed;
  }

  /** Returns in-flight records to pending; returns those the window held. */
  release(records: readonly PendingRecord[]): PendingRecord[] {
    // A released record frees a place in the window: take() may load again.
    if (records.length > 0) this.#stalled = false;
    const released = records.filter((record) => this.#index.has(record));
    for (const record of released) this.#index.release(record);
    return released;
  }

  /**
   * Hands out ready records from memory, most urgent first, up to the first
   * priority whose next records wait on disk: those come before anything
   * less urgent, so {@linkcode take} goes on from there.
   */
  takeLoaded(limit: number, now: number): PendingRecord[] {
    const taken: PendingRecord[] = [];
    for (const priority of PRIORITIES) {
      this.#index.takeFrom(priority, limit, now, taken);
      if (taken.length >= limit || this.onDiskOnly(priority) > 0) break;
    }
    return taken;
  }

  /**
   * Whether {@linkcode prefetch} would load anything: records wait on disk
   * only, and the window has room for a read's worth of them.
   */
  wantsPrefetch(): boolean {
    const least = Math.min(READ_MIN, Math.ceil(this.#memoryLimit / 4));
    return this.onDiskOnly() > 0 && this.#memoryLimit - this.#index.size >= least;
  }

  /**
   * Loads, into the room the window has, the next records on disk, most
   * urgent priority first, so that a take() finds them in memory rather
   * than waiting for the read.
   */
  async prefetch(): Promise<void> {
    while (this.wantsPrefetch()) {
      const priority = PRIORITIES.find((p) => this.onDiskOnly(p) > 0)!;
      const room = this.#memoryLimit - this.#index.size;
      // None loaded: the rest is still being committed, and committed() counts it.
      if (await this.#load(priority, Math.min(room, LIST_BATCH)) === 0) return;
    }
  }

  /** Hands out ready records, most urgent first, loading from disk as the window runs short. */
  async take(limit: number, now: number): Promise<PendingRecord[]> {
    const taken: PendingRecord[] = [];
    this.#stalled = false;
    for (const priority of PRIORITIES) {
      this.#index.takeFrom(priority, limit, now, taken);
      while (taken.length < limit && this.onDiskOnly(priority) > 0) {
        const want = limit - taken.length;
        let room = this.#memoryLimit - this.#index.size;
        if (room < want) room += this.#unloadBelow(priority, want - room);
        if (room <= 0) {
          // Handing out less urgent records now would overtake this priority's
          // records on disk: wait until records in flight leave the window.
          this.#stalled = true;
          return taken;
        }
        const loaded = await this.#load(
          priority,
          Math.min(room, Math.max(want, READ_MIN), LIST_BATCH),
        );
        if (loaded === 0) break;
        this.#index.takeFrom(priority, limit, now, taken);
      }
    }
    return taken;
  }

  /**
   * Removes the records not in flight accepted before `cutoff`, in memory and
   * on disk, and returns them. On disk, each priority is read from its oldest
   * record up to the first one accepted at or after `cutoff` (acceptance
   * follows arrival).
   */
  async expire(cutoff: number): Promise<PendingRecord[]> {
    const expired = this.#index.expired(cutoff);
    for (const record of expired) this.#index.delete(record);
    for (const priority of PRIORITIES) {
      let done = false;
      while (!done && this.onDiskOnly(priority) > 0) {
        const entries = await this.#listPast(priority, undefined, LIST_BATCH);
        const cursor = this.#cursor[priority];
        done = entries.length < LIST_BATCH;
        for (const record of entries) {
          if (record.seq <= this.#cursor[priority]) continue;
          if (record.acceptedAt >= cutoff) {
            this.#diskOldest[priority] = record.acceptedAt;
            done = true;
            break;
          }
          expired.push(record);
          this.#passOnDisk(record);
        }
        if (this.#cursor[priority] === cursor) done = true;
      }
    }
    for (const record of expired) this.#forget(record);
    if (expired.length > 0) this.#stalled = false;
    return expired;
  }

  /**
   * The earliest time a record not in flight becomes ready; records on disk
   * count with a lower bound of their time.
   */
  nextReadyAt(): number | undefined {
    const inMemory = this.#index.nextReadyAt();
    // While stalled, more urgent records wait on disk behind a window full of
    // records in flight; take() re-checks the stall itself, so the dispatcher
    // only needs the in-memory time (a remove or release unblocks it).
    if (this.#stalled) return inMemory;
    if (this.onDiskOnly() === 0 || this.#diskReadyAt === undefined) return inMemory;
    return inMemory === undefined ? this.#diskReadyAt : Math.min(inMemory, this.#diskReadyAt);
  }

  /** A lower bound of when the oldest pending record was accepted, on disk or not. */
  oldestAcceptedAt(): number | undefined {
    let oldest = this.#index.oldestAcceptedAt();
    for (const at of Object.values(this.#diskOldest)) {
      if (oldest === undefined || at < oldest) oldest = at;
    }
    return oldest;
  }

  /**
   * Reads, least urgent priority first, enough records on disk past the
   * cursors to make room for `events` by eviction alone; the window's own
   * records come first in `admit()`, so this may read more than is evicted.
   */
  async evictionCandidates(
    events: readonly NewRecord[],
    limits: StoreLimits,
  ): Promise<Partial<Record<EventPriority, PendingRecord[]>>> {
    let rank = PRIORITIES.length - 1;
    let addBytes = 0;
    for (const event of events) {
      rank = Math.min(rank, priorityRank(event.priority));
      addBytes += event.bytes;
    }
    let count = this.#size + events.length - limits.maxEvents;
    let bytes = this.#bytes + addBytes - limits.maxBytes;
    const beyond: Partial<Record<EventPriority, PendingRecord[]>> = {};
    for (let r = PRIORITIES.length - 1; r >= rank && (count > 0 || bytes > 0); r--) {
      const priority = PRIORITIES[r];
      const found: PendingRecord[] = [];
      let after = this.#cursor[priority];
      while ((count > 0 || bytes > 0) && this.onDiskOnly(priority) > found.length) {
        const chunk = Math.min(LIST_BATCH, Math.max(count, 64));
        const entries = await this.#listPast(priority, after, chunk);
        for (const record of entries) {
          found.push(record);
          count--;
          bytes -= record.bytes;
          after = record.seq;
        }
        if (entries.length < chunk) break;
      }
      if (found.length > 0) beyond[priority] = found;
    }
    return beyond;
  }

  /**
   * Frees up to `count` places in the window by unloading the newest records
   * of priorities less urgent than `priority`, least urgent first.
   */
  #unloadBelow(priority: EventPriority, count: number): number {
    let freed = 0;
    for (let r = PRIORITIES.length - 1; r > priorityRank(priority) && freed < count; r--) {
      const lower = PRIORITIES[r];
      const dropped = this.#index.dropNewest(lower, count - freed);
      if (dropped.length === 0) continue;
      freed += dropped.length;
      // Any seq between the last kept record and the first dropped one is deleted.
      this.#cursor[lower] = dropped[0].seq - 1;
      this.#rewind();
      this.#unloaded[lower] += dropped.length;
      this.#diskOldest[lower] = dropped[0].acceptedAt;
      for (const record of dropped) {
        this.#diskReadyAt = Math.min(this.#diskReadyAt ?? Infinity, record.nextAttemptAt);
      }
    }
    return freed;
  }

  /** Loads up to `count` records of a priority past its cursor into the window. */
  async #load(priority: EventPriority, count: number): Promise<number> {
    const entries = await this.#listPast(priority, undefined, count + 1);
    let loaded = 0;
    for (const record of entries) {
      if (record.seq <= this.#cursor[priority]) continue;
      if (loaded >= count || this.#index.size >= this.#memoryLimit) {
        this.#diskOldest[priority] = record.acceptedAt;
        break;
      }
      this.#index.insert(record);
      this.#passOnDisk(record);
      loaded++;
    }
    return loaded;
  }

  /**
   * Reads, in order, up to `limit` committed records of a priority with `seq`
   * above `after`. A record whose commit has not been seen through yet (its
   * atomic landed, the callback is still to run) ends the read: `committed()`
   * counts it.
   */
  async #listPast(
    priority: EventPriority,
    after: number = this.#cursor[priority],
    limit: number,
  ): Promise<PendingRecord[]> {
    // Past the cursor, only records that were unloaded can have deletes or
    // saved retries still queued; those must land first, or they would be read back.
    if (this.#rewound !== undefined) await this.#rewound;
    const found: PendingRecord[] = [];
    const through = this.#committedUpTo[priority];
    if (after >= through) return found;
    const list = this.#kv.list<OnDisk<PendingRecord>>(
      pendingAfter(priority, after),
      { limit, batchSize: Math.min(limit, LIST_BATCH) },
    );
    for await (const entry of list) {
      if (entry.value.seq > through) break;
      found.push(fromDisk(entry.value));
    }
    return found;
  }

  /** Makes the reads past the cursors wait for the writes queued so far. */
  #rewind(): void {
    const rewound = this.#barrier().then(() => {
      if (this.#rewound === rewound) this.#rewound = undefined;
    });
    this.#rewound = rewound;
  }

  /** Moves a priority's cursor past a record that left the disk-only part (loaded or deleted). */
  #passOnDisk(record: PendingRecord): void {
    const priority = record.priority;
    this.#cursor[priority] = record.seq;
    if (--this.#unloaded[priority] === 0) delete this.#diskOldest[priority];
  }

  #forget(record: PendingRecord): void {
    if (this.#ids.get(record.id) === record.seq) this.#ids.delete(record.id);
    this.#size--;
    this.#bytes -= record.bytes;
    this.#byPriority[record.priority]--;
  }
}
