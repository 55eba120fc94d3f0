/**
 * The Deno KV pending-event store: every accepted event is on disk before
 * `add()` resolves, survives a crash, and is delivered after a restart. This
 * file holds the {@linkcode KvStore} class, which ties together the key
 * layout (`_codec.ts`), the group commit (`_group_commit.ts`), the in-memory
 * window of records (`_window.ts`), the dead letters (`_dead_letters.ts`) and
 * the lease (`_lease.ts`); its options (`options.ts`) are checked, and the
 * file opened and leased, by `_open.ts`.
 *
 * @module
 */

import { Exclusive } from "../../_async.ts";
import { StoreLockedError } from "../../errors.ts";
import { storeError } from "./_errors.ts";
import type {
  AddResult,
  DeadLetterRecord,
  NewRecord,
  PendingRecord,
  PendingStore,
  StoreLimits,
  StoreStats,
} from "../store.ts";
import {
  KEY_BYTES,
  pendingKey,
  recordSize,
  SEQ_KEY,
  STORED_FIELDS_BYTES,
  toStored,
  toStoredRetry,
} from "./_codec.ts";
import { DeadLetterShelf } from "./_dead_letters.ts";
import { GroupCommit, type Write, type WriteHooks } from "./_group_commit.ts";
import type { Lease } from "./_lease.ts";
import { checkOpenOptions, openStoreKv, takeLeaseAndLoad } from "./_open.ts";
import type { KvStoreOptions } from "./options.ts";
import { RecordWindow } from "./_window.ts";

export type { KvStoreOptions } from "./options.ts";

/**
 * A {@linkcode PendingStore} in a Deno KV file, with group commit, a bounded
 * in-memory window, and a lease so that one process at a time owns the file.
 *
 * Writes of concurrent calls are gathered and committed together, at most
 * 1000 mutations and about 800 KB per atomic operation, one commit at a
 * time; each call resolves once all its writes are committed. At most
 * `memoryLimit` records are held in memory; the rest wait on disk and are
 * loaded in the order they are sent.
 *
 * The examples use Deno KV's `":memory:"` database; give a file path for a
 * store that survives a restart.
 *
 * @example
 * ```ts
 * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
 *
 * const limits = { maxEvents: 10, maxBytes: 100_000, overflow: "reject" as const };
 * const store = await KvStore.open({ path: ":memory:", limits, memoryLimit: 10 });
 * const event = { ...encodeEvent({ id: "evt-1", type: "t", data: {} }), exchange: "x", acceptedAt: 0 };
 * console.log(store.nextReadyAt()); // undefined: nothing waits
 * const { records } = await store.add([event]); // on disk now
 * console.log(records[0].seq, store.seqOf("evt-1"), store.seqOf("evt-2")); // 1 1 undefined
 * console.log(store.nextReadyAt(), store.counts()); // 0 { size: 1, inFlight: 0 }
 * const [record] = await store.take(10, Date.now());
 * // The attempt failed: back to pending, its attempts saved.
 * await store.release([{ ...record, attempts: 1, lastError: "TransportError: nack" }]);
 * const batch = await store.take(10, Date.now());
 * await store.remove(batch); // confirmed by RabbitMQ
 * const { size, persistent, deadLetters } = store.stats();
 * console.log(batch[0].attempts, size, persistent, deadLetters); // 1 0 true 0
 * await store.close();
 * ```
 */
export class KvStore implements PendingStore {
  /** Always `true`: pending events survive a restart. */
  readonly persistent = true;
  readonly #kv: Deno.Kv;
  readonly #ownsKv: boolean;
  readonly #path: string;
  readonly #limits: StoreLimits;
  readonly #now: () => number;
  #state: "open" | "lost" | "closed" = "open";
  #holder = "";
  #lease: Lease | undefined;
  readonly #writes: GroupCommit;
  readonly #window: RecordWindow;
  #seq = 0;
  readonly #dead: DeadLetterShelf;
  /** Serialises what reads past the window's cursors: loading, eviction, expiry. */
  readonly #exclusive = new Exclusive();
  #admissionsWaiting = 0;
  #prefetching = false;
  /** The window hears of each new record's commit, or its rollback. */
  readonly #newRecord: WriteHooks = {
    committed: (write) => this.#window.committed(write.value as PendingRecord),
    failed: (write) => this.#window.rolledBack(write.value as PendingRecord),
  };

  private constructor(kv: Deno.Kv, ownsKv: boolean, options: KvStoreOptions) {
    this.#kv = kv;
    this.#ownsKv = ownsKv;
    this.#path = options.path;
    this.#limits = options.limits;
    this.#now = options.now ?? Date.now;
    this.#writes = new GroupCommit(kv, () => this.#seq, (e) => storeError(e, this.#path, "io"));
    this.#window = new RecordWindow(kv, options.memoryLimit, () => this.#writes.barrier());
    this.#dead = new DeadLetterShelf(kv, (record) => this.#window.restore(record));
  }

  /**
   * Opens the store: takes the lease, then reads the pending records once to
   * count them and to load the first `memoryLimit` of them, most urgent first.
   *
   * @param options The path, limits, memory limit and lease settings.
   * @returns The open store.
   * @throws {TypeError} When `path` is not a non-empty string or `limits` is missing.
   * @throws {RangeError} When `memoryLimit` or `leaseTtlMs` is not positive.
   * @throws {StoreLockedError} When another live owner holds the lease.
   * @throws {StoreError} When the file cannot be opened or read (`kind`
   * `open`, `corrupt`, `read-only`, `disk-full`, `io`), naming the path.
   *
   * @example
   * ```ts ignore
   * import { KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   limits: { maxEvents: 1000, maxBytes: 10_000_000, overflow: "reject" },
   *   memoryLimit: 100,
   * });
   * await store.close();
   * ```
   */
  static async open(options: KvStoreOptions): Promise<KvStore> {
    const leaseTtlMs = checkOpenOptions(options);
    const { kv, ownsKv } = await openStoreKv(options);
    const store = new KvStore(kv, ownsKv, options);
    store.#lease = await takeLeaseAndLoad(kv, ownsKv, {
      path: options.path,
      resolvePath: ownsKv,
      owner: options.owner,
      ttlMs: leaseTtlMs,
      now: store.#now,
      onLost: (holder) => [store.#state, store.#holder] = ["lost", holder],
    }, () => store.#scan());
    store.#lease.renewEvery();
    return store;
  }

  /**
   * Atomic commits made so far (a group commit counts once per atomic operation).
   *
   * @returns The count since the store was opened.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const limits = { maxEvents: 10, maxBytes: 100_000, overflow: "reject" as const };
   * const store = await KvStore.open({ path: ":memory:", limits, memoryLimit: 10 });
   * const event = (id: string) =>
   *   ({ ...encodeEvent({ id, type: "t", data: {} }), exchange: "x", acceptedAt: 0 });
   * // Three add() calls in the same tick share one commit.
   * await Promise.all([store.add([event("a")]), store.add([event("b")]), store.add([event("c")])]);
   * console.log(store.commits); // 1
   * await store.close();
   * ```
   */
  get commits(): number {
    return this.#writes.commits;
  }

  /**
   * Pending records currently held in memory; never more than `memoryLimit`.
   *
   * @returns The count.
   *
   * @see The example of {@linkcode KvStore.take}.
   */
  get loadedCount(): number {
    return this.#window.loaded;
  }

  /**
   * Stores new events, all or nothing, together with the `add()` calls made
   * meanwhile. The limit check counts records still being committed.
   *
   * @param events The events to store.
   * @returns The stored records, and any evicted to make room (now dead
   * letters, reason `evicted`, committed with the newcomers), once on disk.
   * @throws {BufferFullError} When full and the policy does not allow room to be made.
   * @throws {RangeError} When an event would exceed Deno KV's 64 KiB value limit.
   * @throws {StoreLockedError} When another owner has taken over the store's lease.
   * @throws {StoreError} When the commit fails (disk full, read-only, ...):
   * nothing of this call is stored, and what was stored before stays.
   * @throws {Error} When the store is closed.
   *
   * @see The class's example.
   */
  add(events: readonly NewRecord[]): Promise<AddResult> {
    const window = this.#window;
    let sizes: number[];
    try {
      this.#assertWritable();
      sizes = events.map(recordSize);
      if (events.length === 0) return Promise.resolve({ records: [], evicted: [] });
      if (this.#admissionsWaiting === 0 && window.fits(events, this.#limits)) {
        window.admit(this.#limits, events);
        return this.#store(events, sizes, []);
      }
      if (this.#admissionsWaiting === 0 && this.#limits.overflow === "reject") {
        window.admit(this.#limits, events); // throws
      }
    } catch (error) {
      return Promise.reject(error);
    }
    // Eviction may choose records on disk, which takes a read; later add()s
    // wait behind it so that no two of them count the same free room.
    this.#admissionsWaiting++;
    return this.#exclusive.run(async () => {
      try {
        this.#assertWritable();
        const beyond = window.fits(events, this.#limits)
          ? undefined
          : await window.evictionCandidates(events, this.#limits);
        const victims = window.admit(this.#limits, events, beyond);
        return { committed: this.#store(events, sizes, victims) };
      } finally {
        this.#admissionsWaiting--;
      }
    }).then(({ committed }) => committed);
  }

  /**
   * Hands out up to `limit` ready events, most urgent first, loading records
   * from disk as the window runs short, then reads ahead into the window's
   * room so that the next call finds them in memory. Hands out nothing once
   * the lease is lost.
   *
   * @param limit The most events to hand out.
   * @param now The current time.
   * @returns The events, now in flight.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const limits = { maxEvents: 10, maxBytes: 100_000, overflow: "reject" as const };
   * const store = await KvStore.open({ path: ":memory:", limits, memoryLimit: 2 });
   * const event = (id: string) =>
   *   ({ ...encodeEvent({ id, type: "t", data: {} }), exchange: "x", acceptedAt: 0 });
   * await store.add([event("a"), event("b"), event("c")]);
   * console.log(store.loadedCount, store.stats().size); // 2 3: one waits on disk
   * const first = await store.take(10, Date.now());
   * console.log(first.map((r) => r.id)); // ["a", "b"]: the window is full
   * await store.remove(first);
   * const second = await store.take(10, Date.now()); // "c" is loaded from disk
   * console.log(second.map((r) => r.id)); // ["c"]
   * await store.close();
   * ```
   */
  take(limit: number, now: number): Promise<PendingRecord[]> {
    if (this.#state !== "open") return Promise.resolve([]);
    const window = this.#window;
    const taken = window.takeLoaded(limit, now);
    if (taken.length === limit || window.onDiskOnly() === 0) {
      this.#prefetch();
      return Promise.resolve(taken);
    }
    return this.#exclusive.run(() => window.take(limit - taken.length, now)).then(
      (more) => {
        this.#prefetch();
        return taken.length === 0 ? more : taken.concat(more);
      },
      (error) => {
        window.release(taken);
        throw storeError(error, this.#path, "io");
      },
    );
  }

  /**
   * Deletes in-flight events, and reads ahead records waiting on disk into
   * the room they leave. They leave the store at once; their deletes
   * on disk ride with the next group commit, and nothing waits for them: a
   * delete lost in a crash means the event is sent again after the restart
   * (a duplicate, which `message_id` lets consumers drop), never a loss. A
   * delete whose commit fails is retried with the next commit.
   *
   * @param records The events to delete.
   * @returns Resolves once the events are no longer pending.
   *
   * @see The class's example.
   */
  remove(records: readonly PendingRecord[]): Promise<void> {
    this.#writes.defer(
      this.#window.remove(records).map((record) => ({ key: pendingKey(record), size: KEY_BYTES })),
    );
    this.#prefetch();
    return Promise.resolve();
  }

  /**
   * Returns in-flight events to pending and saves their updated fields;
   * resolves once saved.
   *
   * @param records The events to return.
   * @returns Resolves once committed.
   * @throws {Error} When the commit fails.
   *
   * @see The class's example.
   */
  release(records: readonly PendingRecord[]): Promise<void> {
    return this.#writes.enqueue(
      this.#window.release(records).map((record) => {
        const value = toStoredRetry(record);
        return { key: pendingKey(record), value, size: recordSize(value) };
      }),
    );
  }

  /**
   * Moves the pending events accepted before `cutoff`, on disk or in memory,
   * except those in flight, to the dead letters (reason `expired`); each dead
   * letter is written before its pending entry is deleted, and the call
   * resolves once both are committed. On disk, each priority is read from its
   * oldest record up to the first one accepted at or after `cutoff`
   * (acceptance follows arrival).
   *
   * @param cutoff Events accepted before this time are removed.
   * @returns The new dead letters.
   * @throws {Error} When the commit fails.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const limits = { maxEvents: 10, maxBytes: 100_000, overflow: "reject" as const };
   * const store = await KvStore.open({ path: ":memory:", limits, memoryLimit: 2 });
   * const event = (id: string) =>
   *   ({ ...encodeEvent({ id, type: "t", data: {} }), exchange: "x", acceptedAt: 0 });
   * await store.add([event("a"), event("b"), event("c")]);
   * const expired = await store.expire(1); // "c" is read from disk to be expired
   * console.log(expired.map((r) => r.id).sort(), store.stats().size); // ["a", "b", "c"] 0
   * await store.close();
   * ```
   */
  expire(cutoff: number): Promise<DeadLetterRecord[]> {
    return this.#exclusive.run(async () => {
      const expired = await this.#window.expire(cutoff).catch((error) => {
        throw storeError(error, this.#path, "io");
      });
      const writes: Write[] = [];
      const letters = this.#dead.moveFrom(expired, "expired", this.#now(), writes);
      return { letters, committed: this.#writes.enqueue(writes) };
    }).then(async ({ letters, committed }) => {
      await committed;
      return letters;
    });
  }

  /**
   * The `seq` of the pending event with this id, on disk or in memory.
   *
   * @param id The event id.
   * @returns Its `seq`, or `undefined` when none is pending.
   *
   * @see The class's example.
   */
  seqOf(id: string): number | undefined {
    return this.#window.seqOf(id);
  }

  /**
   * The earliest time an event not in flight becomes ready. Records on disk
   * count with a lower bound of their time. When the window is full of records
   * in flight and more urgent records wait on disk, nothing is ready until one
   * in flight is removed or released.
   *
   * @returns A time in ms, or `undefined` when nothing waits.
   *
   * @see The class's example.
   */
  nextReadyAt(): number | undefined {
    return this.#window.nextReadyAt();
  }

  /**
   * Pending and in-flight counts (disk included), for the dispatcher's hot path.
   *
   * @returns Pending events (in flight included) and those in flight.
   *
   * @see The class's example.
   */
  counts(): { size: number; inFlight: number } {
    return { size: this.#window.size, inFlight: this.#window.inFlight };
  }

  /**
   * A snapshot of the store; the counts cover the records on disk too.
   *
   * @returns Sizes, limits and counters.
   *
   * @see The class's example.
   */
  stats(): StoreStats {
    return {
      size: this.#window.size,
      maxSize: this.#limits.maxEvents,
      bytes: this.#window.bytes,
      maxBytes: this.#limits.maxBytes,
      byPriority: this.#window.byPriority(),
      inFlight: this.#window.inFlight,
      oldestAcceptedAt: this.#window.oldestAcceptedAt(),
      droppedEvents: this.#dead.evicted,
      expiredEvents: this.#dead.expired,
      deadLetters: this.#dead.count,
      persistent: true,
      ...(this.#writes.failure === undefined ? {} : { storageError: this.#writes.failure.message }),
    };
  }

  /**
   * Stores dead letters under `["dead", seq]`; resolves once committed.
   *
   * @param records The dead letters.
   * @returns Resolves once committed.
   * @throws {RangeError} When a dead letter would exceed Deno KV's value limit.
   * @throws {Error} When the commit fails.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const limits = { maxEvents: 10, maxBytes: 100_000, overflow: "reject" as const };
   * const store = await KvStore.open({ path: ":memory:", limits, memoryLimit: 10 });
   * const event = { ...encodeEvent({ id: "evt-1", type: "t", data: {} }), exchange: "x", acceptedAt: 0 };
   * const { records: [record] } = await store.add([event]);
   * await store.addDeadLetters([{ ...record, reason: "unroutable", deadLetteredAt: Date.now() }]);
   * await store.remove([record]);
   * console.log(store.stats().deadLetters); // 1
   * console.log((await store.listDeadLetters()).map((r) => r.id)); // ["evt-1"]
   * await store.removeDeadLetters([record.seq, 99]); // an unknown seq deletes nothing
   * console.log(store.stats().deadLetters, await store.listDeadLetters(10)); // 0 []
   * await store.close();
   * ```
   */
  addDeadLetters(records: readonly DeadLetterRecord[]): Promise<void> {
    try {
      return this.#writes.enqueue(records.map((record) => this.#dead.write(record)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Lists local dead letters, oldest first (see {@linkcode KvStore.addDeadLetters}).
   *
   * @param limit The most to list; all when omitted.
   * @returns The dead letters.
   * @throws {Error} When the KV cannot be read, for example once the store is closed.
   *
   * @see The example of {@linkcode KvStore.addDeadLetters}.
   */
  listDeadLetters(limit: number = Infinity): Promise<DeadLetterRecord[]> {
    return this.#dead.list(limit).catch((error) => {
      throw storeError(error, this.#path, "io");
    });
  }

  /**
   * Deletes local dead letters; resolves once committed (see
   * {@linkcode KvStore.addDeadLetters}).
   *
   * @param seqs The `seq` of each dead letter to delete.
   * @returns Resolves once committed.
   * @throws {Error} When the commit fails.
   *
   * @see The example of {@linkcode KvStore.addDeadLetters}.
   */
  removeDeadLetters(seqs: readonly number[]): Promise<void> {
    return this.#writes.enqueue(this.#dead.removals(seqs));
  }

  /**
   * Commits what is waiting, stops renewing the lease and releases it, and
   * closes the KV if the store opened it. Pending events stay on disk.
   * Calling it again does nothing.
   *
   * @returns Resolves once the lease is released.
   * @throws {Error} When releasing the lease fails; the KV is closed all the same.
   *
   * @example
   * ```ts
   * import { KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const limits = { maxEvents: 10, maxBytes: 100_000, overflow: "reject" as const };
   * const dir = await Deno.makeTempDir();
   * await (await KvStore.open({ path: `${dir}/events.kv`, limits, memoryLimit: 10 })).close();
   * // The lease is released: another process (or this one) may open the store now.
   * await (await KvStore.open({ path: `${dir}/events.kv`, limits, memoryLimit: 10 })).close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    const lease = this.#lease!;
    await lease.stop();
    await this.#exclusive.settled();
    await this.#writes.idle();
    try {
      await lease.release();
    } finally {
      if (this.#ownsKv) this.#kv.close();
    }
  }

  /** Reads the highest seq and the dead letters' seqs, then counts and loads the pending records. */
  async #scan(): Promise<void> {
    const seq = (await this.#kv.get<number>(SEQ_KEY)).value ?? 0;
    const dead = await this.#dead.scan();
    this.#seq = Math.max(seq, dead, await this.#window.scan());
  }

  /**
   * Reads ahead the records waiting on disk into the window's room, one read
   * at a time, so that the next take() does not wait for the disk. A failed
   * read is left to that take(), which reads again and reports it.
   */
  #prefetch(): void {
    if (this.#prefetching || this.#state !== "open" || !this.#window.wantsPrefetch()) return;
    this.#prefetching = true;
    this.#exclusive.run(() => this.#window.prefetch())
      .catch(() => {})
      .finally(() => this.#prefetching = false);
  }

  #assertWritable(): void {
    if (this.#state === "lost") throw new StoreLockedError(this.#path, this.#holder);
    if (this.#state === "closed") throw new Error(`the event store at ${this.#path} is closed`);
  }

  /**
   * Applies an admitted add: evicts, counts, and queues the writes. `sizes`
   * are the events' {@linkcode recordSize}, taken when they were checked.
   */
  #store(
    events: readonly NewRecord[],
    sizes: readonly number[],
    victims: PendingRecord[],
  ): Promise<AddResult> {
    const writes: Write[] = [];
    this.#window.evict(victims);
    const evicted = this.#dead.moveFrom(victims, "evicted", this.#now(), writes);
    const records = events.map((event, i) => {
      const record = toStored(event, ++this.#seq, event.attempts ?? 0, event.acceptedAt);
      this.#window.adding(record);
      writes.push({
        key: pendingKey(record),
        value: record,
        size: sizes[i] + STORED_FIELDS_BYTES,
        hooks: this.#newRecord,
      });
      return record;
    });
    return this.#writes.enqueue(writes).then(() => ({ records, evicted }));
  }
}
