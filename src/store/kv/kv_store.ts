/**
 * The Deno KV pending-event store: every accepted event is on disk before
 * `add()` resolves, survives a crash, and is delivered after a restart.
 *
 * Key layout, in one KV file:
 *
 * | key                       | value                                            |
 * |---------------------------|--------------------------------------------------|
 * | `["pending", rank, seq]`  | the {@linkcode PendingRecord} (rank 0 high, 2 low) |
 * | `["dead", seq]`           | a {@linkcode DeadLetterRecord}                   |
 * | `["meta", "seq"]`         | the highest `seq` handed out, written with every commit |
 * | `["lease"]`               | `{ owner, expiresAt, token }` of the one owner   |
 *
 * Listing `["pending"]` yields the records in the order they are sent: by
 * priority, then by arrival.
 *
 * In memory, a window of at most `memoryLimit` records is held in a
 * `PendingIndex`. For each priority the window holds a *prefix* of that
 * priority's records (every one with `seq` up to a cursor); the rest wait on
 * disk and are loaded, from the cursor on, as `take()` gets to them. Records
 * of a lower priority are unloaded from the window's newest end to make room
 * for more urgent ones, so the order never depends on what happens to be in
 * memory.
 *
 * @module
 */

import { toDeadLetter } from "../_dead_letter.ts";
import { admit, PendingIndex, priorityRank } from "../_pending_index.ts";
import { StoreLockedError } from "../../errors.ts";
import { type EventPriority, PRIORITIES } from "../../event.ts";
import {
  type AddResult,
  type DeadLetterReason,
  type DeadLetterRecord,
  emptyByPriority,
  type NewRecord,
  type PendingRecord,
  type PendingStore,
  type StoreLimits,
  type StoreStats,
} from "../store.ts";

/**
 * Options of {@linkcode KvStore.open}.
 *
 * @example
 * ```ts
 * import type { KvStoreOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * const options: KvStoreOptions = {
 *   path: "./data/events.kv",
 *   limits: { maxEvents: 100_000, maxBytes: 100_000_000, overflow: "reject" },
 *   memoryLimit: 1_000,
 *   leaseTtlMs: 15_000,
 *   owner: "order-service on host-a",
 * };
 * ```
 */
export interface KvStoreOptions {
  /**
   * The KV file. Its directory is created when missing. A path ending in
   * `.json` (from older configurations) is used as the KV file as it is.
   */
  path: string;
  /** The store's count and byte limits and overflow policy (all pending events, on disk or not). */
  limits: StoreLimits;
  /** The most pending records held in memory at once; the rest wait on disk. */
  memoryLimit: number;
  /**
   * How long the lease on the store lasts without renewal, in ms. It is
   * renewed every third of this.
   * @default {15000}
   */
  leaseTtlMs?: number;
  /** The clock used for the lease. @default {Date.now} */
  now?: () => number;
  /**
   * How this process describes itself in the lease.
   * @default {"pid <Deno.pid> on <Deno.hostname()>"}
   */
  owner?: string;
  /**
   * An open KV to use instead of opening `path` (for tests). The store does
   * not close a KV it did not open; `path` still names the store in errors.
   */
  kv?: Deno.Kv;
}

interface Lease {
  owner: string;
  expiresAt: number;
  token: string;
  /** The holder's process and host, so that a crashed holder on this host is recognised. */
  pid?: number;
  host?: string;
}

// Stores open in this process, by path: a second open here is refused even
// though the lease's pid is our own.
const openHere = new Set<string>();

/**
 * Whether a lease holder is certainly gone: it ran on this host and its
 * process no longer exists (or it had our pid, from a previous life of a
 * container, and this process does not hold the store). Anything uncertain
 * counts as alive, and the lease then has to expire.
 */
function holderIsDead(held: Lease, path: string): boolean {
  if (held.pid === undefined || held.host !== hostname()) return false;
  if (held.pid === Deno.pid) return !openHere.has(path);
  return processGone(held.pid);
}

/**
 * Asks the system whether `pid` is gone, with whatever the permissions allow:
 * /proc (which Deno opens only with --allow-all), else a harmless signal
 * (SIGCHLD, ignored by default; needs --allow-run). Without either, `false`.
 */
function processGone(pid: number): boolean {
  if (Deno.build.os === "linux") {
    try {
      // The third field of /proc/<pid>/stat is the state: Z (zombie) or X (dead) is gone.
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const state = stat.charAt(stat.lastIndexOf(")") + 2);
      return state === "Z" || state === "X";
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return true;
    }
  }
  try {
    Deno.kill(pid, "SIGCHLD");
    return false;
  } catch (error) {
    return error instanceof Deno.errors.NotFound;
  }
}

/** The real path of `path`'s directory, joined with its file name. */
async function canonicalPath(path: string): Promise<string> {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  try {
    return `${await Deno.realPath(dir)}/${path.slice(slash + 1)}`;
  } catch {
    return path;
  }
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}

/** One write waiting for a group commit. */
interface Write {
  /** The key; `undefined` for a barrier that only waits for the writes before it. */
  key?: Deno.KvKey;
  /** The value to set; `undefined` deletes. */
  value?: unknown;
  /** An estimate of its size in an atomic operation. */
  size: number;
  job: Job;
  committed?: () => void;
  failed?: () => void;
}

/** The writes of one call: it settles when the last of them is committed or failed. */
interface Job {
  pending: number;
  error?: unknown;
  resolve: () => void;
  reject: (error: unknown) => void;
}

type State = "open" | "lost" | "closed";

const LEASE_KEY: Deno.KvKey = ["lease"];
const SEQ_KEY: Deno.KvKey = ["meta", "seq"];
// Deno KV refuses atomics of more than 1000 mutations or 819200 bytes, and values over 64 KiB.
const MAX_MUTATIONS = 1000;
const MAX_ATOMIC_BYTES = 800_000;
const MAX_VALUE_BYTES = 65_536;
const KEY_BYTES = 40;
// A kv.list() returns at most this many entries per round trip.
const LIST_BATCH = 1000;
const NOT_ONE_BYTE = /[\u0100-\uffff]/;

/**
 * A {@linkcode PendingStore} in a Deno KV file, with group commit, a bounded
 * in-memory window, and a lease so that one process at a time owns the file.
 *
 * Writes of concurrent calls are gathered and committed together, at most
 * 1000 mutations and about 800 KB per atomic operation, one commit at a
 * time; each call resolves once all its writes are committed.
 *
 * @example
 * ```ts ignore
 * import { KvStore } from "@simplycaster/rabbitmq-publisher";
 *
 * const store = await KvStore.open({
 *   path: "./data/events.kv",
 *   limits: { maxEvents: 100_000, maxBytes: 100_000_000, overflow: "reject" },
 *   memoryLimit: 10_000,
 * });
 * console.log(store.stats().size);
 * await store.close();
 * ```
 */
export class KvStore implements PendingStore {
  /** Always `true`: pending events survive a restart. */
  readonly persistent = true;
  readonly #kv: Deno.Kv;
  readonly #ownsKv: boolean;
  readonly #path: string;
  // The path as the file system resolves it: two spellings of one file are one store.
  #identity = "";
  readonly #limits: StoreLimits;
  readonly #memoryLimit: number;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #owner: string;
  readonly #token = crypto.randomUUID();
  #state: State = "open";
  #holder = "";
  #leaseStamp: string | null = null;
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  #renewing: Promise<void> | undefined;

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
  /** Whether the last `take()` wanted records from disk but had no room for them. */
  #stalled = false;
  #seq = 0;
  #dropped = 0;
  #expired = 0;
  readonly #deadSeqs = new Set<number>();

  #queue: Write[] = [];
  #flushing: Promise<void> | undefined;
  #commits = 0;
  /** Serialises what reads past the cursors: loading, eviction, expiry. */
  #exclusive: Promise<unknown> = Promise.resolve();
  #admissionsWaiting = 0;

  private constructor(kv: Deno.Kv, ownsKv: boolean, options: KvStoreOptions) {
    this.#kv = kv;
    this.#ownsKv = ownsKv;
    this.#path = options.path;
    this.#limits = options.limits;
    this.#memoryLimit = options.memoryLimit;
    this.#ttl = options.leaseTtlMs ?? 15_000;
    this.#now = options.now ?? Date.now;
    this.#owner = options.owner ?? `pid ${Deno.pid} on ${hostname()}`;
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
    const { path, limits, memoryLimit, leaseTtlMs = 15_000 } = options;
    if (typeof path !== "string" || path === "") {
      throw new TypeError(`'path' must be a non-empty string: got ${String(path)}`);
    }
    if (typeof limits !== "object" || limits === null) {
      throw new TypeError(`'limits' must be an object: got ${String(limits)}`);
    }
    if (!Number.isInteger(memoryLimit) || memoryLimit <= 0) {
      throw new RangeError(`'memoryLimit' must be a positive integer: got ${memoryLimit}`);
    }
    if (!Number.isFinite(leaseTtlMs) || leaseTtlMs <= 0) {
      throw new RangeError(`'leaseTtlMs' must be a positive number: got ${leaseTtlMs}`);
    }
    let kv = options.kv;
    const ownsKv = kv === undefined;
    if (kv === undefined) {
      const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
      if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
      kv = await Deno.openKv(path);
    }
    const store = new KvStore(kv, ownsKv, { ...options, leaseTtlMs });
    store.#identity = ownsKv ? await canonicalPath(path) : path;
    try {
      await store.#acquireLease();
      await store.#scan();
    } catch (error) {
      if (ownsKv) kv.close();
      throw error;
    }
    store.#renewTimer = setInterval(() => store.#renewSoon(), Math.max(1, leaseTtlMs / 3));
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
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 10,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * // Three add() calls in the same tick share one commit.
   * await Promise.all([store.add([event("a")]), store.add([event("b")]), store.add([event("c")])]);
   * console.log(store.commits); // 1
   * await store.close();
   * kv.close();
   * ```
   */
  get commits(): number {
    return this.#commits;
  }

  /**
   * Pending records currently held in memory; never more than `memoryLimit`.
   *
   * @returns The count.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 2,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("a"), event("b"), event("c")]);
   * console.log(store.loadedCount, store.stats().size); // 2 3
   * await store.close();
   * kv.close();
   * ```
   */
  get loadedCount(): number {
    return this.#index.size;
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
   * @throws {Error} When the store is closed, or the commit fails.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 10,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * const { records } = await store.add([event("evt-1")]); // on disk now
   * console.log(records[0].seq); // 1
   * await store.close();
   * kv.close();
   * ```
   */
  add(events: readonly NewRecord[]): Promise<AddResult> {
    try {
      this.#assertWritable();
      for (const event of events) recordSize(event);
      if (events.length === 0) return Promise.resolve({ records: [], evicted: [] });
      if (this.#admissionsWaiting === 0 && this.#fits(events)) {
        admit(this.#index, this.#limits, this.#size, this.#bytes, events);
        return this.#store(events, []);
      }
      if (this.#admissionsWaiting === 0 && this.#limits.overflow === "reject") {
        admit(this.#index, this.#limits, this.#size, this.#bytes, events); // throws
      }
    } catch (error) {
      return Promise.reject(error);
    }
    // Eviction may choose records on disk, which takes a read; later add()s
    // wait behind it so that no two of them count the same free room.
    this.#admissionsWaiting++;
    return this.#exclusively(async () => {
      try {
        this.#assertWritable();
        const beyond = this.#fits(events) ? undefined : await this.#evictionCandidates(events);
        const evicted = admit(this.#index, this.#limits, this.#size, this.#bytes, events, beyond);
        return { committed: this.#store(events, evicted) };
      } finally {
        this.#admissionsWaiting--;
      }
    }).then(({ committed }) => committed);
  }

  /**
   * Hands out up to `limit` ready events, most urgent first, loading records
   * from disk as the window runs short. Hands out nothing once the lease is lost.
   *
   * @param limit The most events to hand out.
   * @param now The current time.
   * @returns The events, now in flight.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 2,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("a"), event("b"), event("c")]);
   * const first = await store.take(10, Date.now());
   * console.log(first.map((r) => r.id)); // ["a", "b"]: the window is full
   * await store.remove(first);
   * const second = await store.take(10, Date.now()); // "c" is loaded from disk
   * console.log(second.map((r) => r.id)); // ["c"]
   * await store.close();
   * kv.close();
   * ```
   */
  take(limit: number, now: number): Promise<PendingRecord[]> {
    if (this.#state !== "open") return Promise.resolve([]);
    if (this.#onDiskOnly() === 0) return Promise.resolve(this.#index.take(limit, now));
    return this.#exclusively(() => this.#takeLoading(limit, now));
  }

  /**
   * Deletes in-flight events; resolves once the deletes are committed.
   *
   * @param records The events to delete.
   * @returns Resolves once committed.
   * @throws {Error} When the commit fails.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 10,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("evt-1")]);
   * await store.remove(await store.take(10, Date.now()));
   * console.log(store.stats().size); // 0
   * await store.close();
   * kv.close();
   * ```
   */
  remove(records: readonly PendingRecord[]): Promise<void> {
    const writes: Omit<Write, "job">[] = [];
    for (const record of records) {
      if (!this.#index.delete(record)) continue;
      this.#forget(record);
      writes.push({ key: pendingKey(record), size: KEY_BYTES });
    }
    if (writes.length > 0) this.#stalled = false;
    return this.#enqueue(writes);
  }

  /**
   * Returns in-flight events to pending and saves their updated fields;
   * resolves once saved.
   *
   * @param records The events to return.
   * @returns Resolves once committed.
   * @throws {Error} When the commit fails.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 10,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("evt-1")]);
   * const [record] = await store.take(10, Date.now());
   * await store.release([{ ...record, attempts: 1, lastError: "TransportError: nack" }]);
   * console.log(store.stats().inFlight); // 0
   * await store.close();
   * kv.close();
   * ```
   */
  release(records: readonly PendingRecord[]): Promise<void> {
    const writes: Omit<Write, "job">[] = [];
    // A released record frees a place in the window: take() may load again.
    if (records.length > 0) this.#stalled = false;
    for (const record of records) {
      if (!this.#index.has(record)) continue;
      this.#index.release(record);
      const value = toStored(record);
      // Added records passed the size check; a longer lastError must not fail the save.
      if (value.lastError !== undefined && value.lastError.length > 1024) {
        value.lastError = value.lastError.slice(0, 1024);
      }
      writes.push({ key: pendingKey(record), value, size: recordSize(value) });
    }
    return this.#enqueue(writes);
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
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 2,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("a"), event("b"), event("c")]);
   * const expired = await store.expire(1); // "c" is read from disk to be expired
   * console.log(expired.map((r) => r.id).sort(), store.stats().size); // ["a", "b", "c"] 0
   * await store.close();
   * kv.close();
   * ```
   */
  expire(cutoff: number): Promise<DeadLetterRecord[]> {
    return this.#exclusively(async () => {
      const expired = this.#index.expired(cutoff);
      for (const record of expired) this.#index.delete(record);
      for (const priority of PRIORITIES) {
        let done = false;
        while (!done && this.#onDiskOnly(priority) > 0) {
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
      this.#expired += expired.length;
      if (expired.length > 0) this.#stalled = false;
      const writes: Omit<Write, "job">[] = [];
      const letters = this.#deadLetterWrites(expired, "expired", writes);
      return { letters, committed: this.#enqueue(writes) };
    }).then(async ({ letters, committed }) => {
      await committed;
      return letters;
    });
  }

  /**
   * Queues, for each record, its dead letter and then the delete of its
   * pending entry. A group split over several atomics keeps this order, so a
   * crash between them leaves a duplicate, never a loss.
   */
  #deadLetterWrites(
    records: readonly PendingRecord[],
    reason: DeadLetterReason,
    writes: Omit<Write, "job">[],
  ): DeadLetterRecord[] {
    const at = this.#now();
    return records.map((record) => {
      const letter = toDeadLetter(record, reason, at);
      writes.push(this.#deadLetterWrite(letter));
      writes.push({ key: pendingKey(record), size: KEY_BYTES });
      return letter;
    });
  }

  #deadLetterWrite(letter: DeadLetterRecord): Omit<Write, "job"> {
    const value = fitDeadLetter(letter);
    return {
      key: ["dead", letter.seq],
      value,
      size: recordSize(value),
      committed: () => this.#deadSeqs.add(letter.seq),
    };
  }

  /**
   * The earliest time an event not in flight becomes ready. Records on disk
   * count with a lower bound of their time. When the window is full of records
   * in flight and more urgent records wait on disk, nothing is ready until one
   * in flight is removed or released.
   *
   * @returns A time in ms, or `undefined` when nothing waits.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 10,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * console.log(store.nextReadyAt()); // undefined
   * await store.add([event("evt-1")]);
   * console.log(store.nextReadyAt()); // 0
   * await store.close();
   * kv.close();
   * ```
   */
  nextReadyAt(): number | undefined {
    const inMemory = this.#index.nextReadyAt();
    // While stalled, more urgent records wait on disk behind a window full of
    // records in flight; take() re-checks the stall itself, so the dispatcher
    // only needs the in-memory time (a remove or release unblocks it).
    if (this.#stalled) return inMemory;
    if (this.#onDiskOnly() === 0 || this.#diskReadyAt === undefined) return inMemory;
    return inMemory === undefined ? this.#diskReadyAt : Math.min(inMemory, this.#diskReadyAt);
  }

  /**
   * Pending and in-flight counts (disk included), for the dispatcher's hot path.
   *
   * @returns Pending events (in flight included) and those in flight.
   *
   * @example
   * ```ts
   * import { KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const kv = await Deno.openKv(":memory:");
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 10,
   * });
   * console.log(store.counts()); // { size: 0, inFlight: 0 }
   * await store.close();
   * kv.close();
   * ```
   */
  counts(): { size: number; inFlight: number } {
    return { size: this.#size, inFlight: this.#index.inFlight };
  }

  /**
   * A snapshot of the store; the counts cover the records on disk too.
   *
   * @returns Sizes, limits and counters.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 2,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * await store.add([event("a"), event("b"), event("c")]);
   * const { size, persistent } = store.stats();
   * console.log(size, persistent, store.loadedCount); // 3 true 2
   * await store.close();
   * kv.close();
   * ```
   */
  stats(): StoreStats {
    let oldest = this.#index.oldestAcceptedAt();
    for (const at of Object.values(this.#diskOldest)) {
      if (oldest === undefined || at < oldest) oldest = at;
    }
    return {
      size: this.#size,
      maxSize: this.#limits.maxEvents,
      bytes: this.#bytes,
      maxBytes: this.#limits.maxBytes,
      byPriority: { ...this.#byPriority },
      inFlight: this.#index.inFlight,
      oldestAcceptedAt: oldest,
      droppedEvents: this.#dropped,
      expiredEvents: this.#expired,
      deadLetters: this.#deadSeqs.size,
      persistent: true,
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
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 10,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * const { records: [record] } = await store.add([event("evt-1")]);
   * await store.addDeadLetters([{ ...record, reason: "unroutable", deadLetteredAt: Date.now() }]);
   * await store.remove([record]);
   * console.log(store.stats().deadLetters); // 1
   * await store.close();
   * kv.close();
   * ```
   */
  addDeadLetters(records: readonly DeadLetterRecord[]): Promise<void> {
    try {
      return this.#enqueue(records.map((record) => this.#deadLetterWrite(record)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Lists local dead letters, oldest first.
   *
   * @param limit The most to list; all when omitted.
   * @returns The dead letters.
   * @throws {Error} When the KV cannot be read, for example once the store is closed.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 10,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * const { records } = await store.add([event("evt-1"), event("evt-2")]);
   * await store.addDeadLetters(records.map((r) => ({ ...r, reason: "expired" as const, deadLetteredAt: 0 })));
   * console.log((await store.listDeadLetters(1)).map((r) => r.id)); // ["evt-1"]
   * await store.close();
   * kv.close();
   * ```
   */
  async listDeadLetters(limit: number = Infinity): Promise<DeadLetterRecord[]> {
    const found: DeadLetterRecord[] = [];
    if (limit <= 0) return found;
    const options = Number.isFinite(limit) ? { limit } : {};
    const list = this.#kv.list<OnDisk<DeadLetterRecord>>({ prefix: ["dead"] }, options);
    for await (const entry of list) found.push(fromDisk(entry.value));
    return found;
  }

  /**
   * Deletes local dead letters; resolves once committed.
   *
   * @param seqs The `seq` of each dead letter to delete.
   * @returns Resolves once committed.
   * @throws {Error} When the commit fails.
   *
   * @example
   * ```ts
   * import { encodeEvent, KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const kv = await Deno.openKv(":memory:"); // or leave out `kv` to open `path`
   * const store = await KvStore.open({
   *   path: "./data/events.kv",
   *   kv,
   *   limits: { maxEvents: 10, maxBytes: 100_000, overflow: "reject" },
   *   memoryLimit: 10,
   * });
   * const event = (id: string) => ({
   *   ...encodeEvent({ id, type: "user.created", data: {} }),
   *   exchange: "domain-events",
   *   acceptedAt: 0,
   * });
   * const { records: [record] } = await store.add([event("evt-1")]);
   * await store.addDeadLetters([{ ...record, reason: "rejected", deadLetteredAt: 0 }]);
   * await store.removeDeadLetters([record.seq]);
   * console.log(store.stats().deadLetters); // 0
   * await store.close();
   * kv.close();
   * ```
   */
  removeDeadLetters(seqs: readonly number[]): Promise<void> {
    return this.#enqueue(seqs.map((seq) => ({
      key: ["dead", seq],
      size: KEY_BYTES,
      committed: () => this.#deadSeqs.delete(seq),
    })));
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
   * ```ts ignore
   * import { KvStore } from "@simplycaster/rabbitmq-publisher";
   *
   * const options = {
   *   path: "./data/events.kv",
   *   limits: { maxEvents: 1_000, maxBytes: 10_000_000, overflow: "reject" as const },
   *   memoryLimit: 100,
   * };
   * const store = await KvStore.open(options);
   * await store.close();
   * // The lease is released: another process (or this one) may open the store now.
   * await (await KvStore.open(options)).close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    const lost = this.#state === "lost";
    this.#state = "closed";
    clearInterval(this.#renewTimer);
    await this.#renewing;
    await this.#exclusive;
    while (this.#flushing !== undefined) await this.#flushing;
    try {
      if (!lost) {
        const entry = await this.#kv.get<Lease>(LEASE_KEY);
        if (entry.value?.token === this.#token) {
          await this.#kv.atomic().check(entry).delete(LEASE_KEY).commit();
        }
      }
    } finally {
      if (this.#leaseStamp !== null) openHere.delete(this.#identity);
      if (this.#ownsKv) this.#kv.close();
    }
  }

  // ---- admission and writes ----

  #assertWritable(): void {
    if (this.#state === "lost") throw new StoreLockedError(this.#path, this.#holder);
    if (this.#state === "closed") throw new Error(`the event store at ${this.#path} is closed`);
  }

  #fits(events: readonly NewRecord[]): boolean {
    let bytes = this.#bytes;
    for (const event of events) bytes += event.bytes;
    return this.#size + events.length <= this.#limits.maxEvents && bytes <= this.#limits.maxBytes;
  }

  /** Applies an admitted add: evicts, counts, and queues the writes. */
  #store(events: readonly NewRecord[], victims: PendingRecord[]): Promise<AddResult> {
    const writes: Omit<Write, "job">[] = [];
    for (const victim of victims) {
      if (!this.#index.delete(victim)) this.#passOnDisk(victim);
      this.#forget(victim);
    }
    const evicted = this.#deadLetterWrites(victims, "evicted", writes);
    if (evicted.length > 0) this.#stalled = false;
    this.#dropped += evicted.length;
    const records = events.map((event) => {
      const record = toStored({
        ...event,
        seq: ++this.#seq,
        attempts: event.attempts ?? 0,
        nextAttemptAt: event.acceptedAt,
      });
      const priority = record.priority;
      this.#size++;
      this.#bytes += record.bytes;
      this.#byPriority[priority]++;
      if (this.#unloaded[priority]++ === 0) this.#diskOldest[priority] = record.acceptedAt;
      this.#uncommitted[priority]++;
      writes.push({
        key: pendingKey(record),
        value: record,
        size: recordSize(record),
        committed: () => this.#committed(record),
        failed: () => this.#rolledBack(record),
      });
      return record;
    });
    return this.#enqueue(writes).then(() => ({ records, evicted }));
  }

  /** A new record is on disk: it joins the window if every older one of its priority is there. */
  #committed(record: PendingRecord): void {
    const priority = record.priority;
    this.#uncommitted[priority]--;
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

  #rolledBack(record: PendingRecord): void {
    const priority = record.priority;
    this.#uncommitted[priority]--;
    this.#unloaded[priority]--;
    if (this.#unloaded[priority] === 0) delete this.#diskOldest[priority];
    this.#forget(record);
  }

  /** Moves a priority's cursor past a record that left the disk-only part (loaded or deleted). */
  #passOnDisk(record: PendingRecord): void {
    const priority = record.priority;
    this.#cursor[priority] = record.seq;
    if (--this.#unloaded[priority] === 0) delete this.#diskOldest[priority];
  }

  #forget(record: PendingRecord): void {
    this.#size--;
    this.#bytes -= record.bytes;
    this.#byPriority[record.priority]--;
  }

  /** Queues writes for the next group commit; resolves when all of them are committed. */
  #enqueue(writes: Omit<Write, "job">[]): Promise<void> {
    if (writes.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const job: Job = { pending: writes.length, resolve, reject };
      for (const write of writes) this.#queue.push({ ...write, job });
      this.#flushing ??= this.#flush();
    });
  }

  async #flush(): Promise<void> {
    // Let the add() calls of this tick join the group.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue;
        this.#queue = [];
        await this.#commitGroup(group);
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Commits a group in as few atomics as the KV limits allow, in order. */
  async #commitGroup(group: Write[]): Promise<void> {
    let i = 0;
    while (i < group.length) {
      const start = i;
      const atomic = this.#kv.atomic();
      let mutations = 1;
      let size = KEY_BYTES;
      while (i < group.length && mutations < MAX_MUTATIONS) {
        const write = group[i];
        if (mutations > 1 && size + write.size > MAX_ATOMIC_BYTES) break;
        i++;
        if (write.key === undefined) continue;
        if (write.value === undefined) atomic.delete(write.key);
        else atomic.set(write.key, toDisk(write.value));
        mutations++;
        size += write.size;
      }
      atomic.set(SEQ_KEY, this.#seq);
      try {
        await atomic.commit();
        this.#commits++;
      } catch (error) {
        for (let j = start; j < group.length; j++) {
          group[j].failed?.();
          settle(group[j].job, error);
        }
        return;
      }
      for (let j = start; j < i; j++) {
        group[j].committed?.();
        settle(group[j].job);
      }
    }
  }

  /** Resolves once every write queued before it is committed (or failed). */
  #barrier(): Promise<void> {
    if (this.#flushing === undefined && this.#queue.length === 0) return Promise.resolve();
    return this.#enqueue([{ size: 0 }]).catch(() => {});
  }

  #exclusively<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#exclusive.then(fn);
    this.#exclusive = result.catch(() => {});
    return result;
  }

  // ---- the window ----

  /** Committed records of a priority (or all) that are on disk and not in the window. */
  #onDiskOnly(priority?: EventPriority): number {
    if (priority !== undefined) return this.#unloaded[priority] - this.#uncommitted[priority];
    let count = 0;
    for (const p of PRIORITIES) count += this.#unloaded[p] - this.#uncommitted[p];
    return count;
  }

  async #takeLoading(limit: number, now: number): Promise<PendingRecord[]> {
    const taken: PendingRecord[] = [];
    this.#stalled = false;
    for (const priority of PRIORITIES) {
      this.#index.takeFrom(priority, limit, now, taken);
      while (taken.length < limit && this.#onDiskOnly(priority) > 0) {
        const want = limit - taken.length;
        let room = this.#memoryLimit - this.#index.size;
        if (room < want) room += this.#unloadBelow(priority, want - room);
        if (room <= 0) {
          // Handing out less urgent records now would overtake this priority's
          // records on disk: wait until records in flight leave the window.
          this.#stalled = true;
          return taken;
        }
        const loaded = await this.#load(priority, Math.min(room, Math.max(want, 256), LIST_BATCH));
        if (loaded === 0) break;
        this.#index.takeFrom(priority, limit, now, taken);
      }
    }
    return taken;
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

  /** Reads, in order, up to `limit` committed records of a priority with `seq` above `after`. */
  async #listPast(
    priority: EventPriority,
    after: number = this.#cursor[priority],
    limit: number,
  ): Promise<PendingRecord[]> {
    // Deletes and saved retries still queued must land first, or they would be read back.
    await this.#barrier();
    const rank = priorityRank(priority);
    const found: PendingRecord[] = [];
    const list = this.#kv.list<OnDisk<PendingRecord>>(
      { prefix: ["pending", rank], start: ["pending", rank, after + 1] },
      { limit, batchSize: Math.min(limit, LIST_BATCH) },
    );
    for await (const entry of list) found.push(fromDisk(entry.value));
    return found;
  }

  /**
   * Reads, least urgent priority first, enough records on disk past the
   * cursors to make room for `events` by eviction alone; the window's own
   * records come first in `admit()`, so this may read more than is evicted.
   */
  async #evictionCandidates(
    events: readonly NewRecord[],
  ): Promise<Partial<Record<EventPriority, PendingRecord[]>>> {
    let rank = PRIORITIES.length - 1;
    let addBytes = 0;
    for (const event of events) {
      rank = Math.min(rank, priorityRank(event.priority));
      addBytes += event.bytes;
    }
    let count = this.#size + events.length - this.#limits.maxEvents;
    let bytes = this.#bytes + addBytes - this.#limits.maxBytes;
    const beyond: Partial<Record<EventPriority, PendingRecord[]>> = {};
    for (let r = PRIORITIES.length - 1; r >= rank && (count > 0 || bytes > 0); r--) {
      const priority = PRIORITIES[r];
      const found: PendingRecord[] = [];
      let after = this.#cursor[priority];
      while ((count > 0 || bytes > 0) && this.#onDiskOnly(priority) > found.length) {
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

  // ---- opening and the lease ----

  /** Counts every pending record, loads the first `memoryLimit`, and finds the highest seq. */
  async #scan(): Promise<void> {
    let seq = (await this.#kv.get<number>(SEQ_KEY)).value ?? 0;
    for await (const entry of this.#kv.list({ prefix: ["dead"] })) {
      const deadSeq = entry.key[1] as number;
      this.#deadSeqs.add(deadSeq);
      seq = Math.max(seq, deadSeq);
    }
    const list = this.#kv.list<OnDisk<PendingRecord>>(
      { prefix: ["pending"] },
      { batchSize: LIST_BATCH },
    );
    for await (const { value: stored } of list) {
      // Records past the window are only counted: their bodies stay undecoded.
      const record = stored;
      const priority = record.priority;
      seq = Math.max(seq, record.seq);
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
    this.#seq = seq;
  }

  #lease(): Lease {
    return {
      owner: this.#owner,
      expiresAt: this.#now() + this.#ttl,
      token: this.#token,
      pid: Deno.pid,
      host: hostname(),
    };
  }

  async #acquireLease(): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.#kv.get<Lease>(LEASE_KEY);
      const held = entry.value;
      if (
        held !== null && held.token !== this.#token && held.expiresAt > this.#now() &&
        !holderIsDead(held, this.#identity)
      ) {
        throw new StoreLockedError(this.#path, held.owner);
      }
      const result = await this.#kv.atomic().check(entry).set(LEASE_KEY, this.#lease()).commit();
      if (result.ok) {
        this.#leaseStamp = result.versionstamp;
        openHere.add(this.#identity);
        return;
      }
    }
    const held = (await this.#kv.get<Lease>(LEASE_KEY)).value;
    throw new StoreLockedError(this.#path, held?.owner ?? "another publisher");
  }

  #renewSoon(): void {
    if (this.#renewing !== undefined || this.#state !== "open") return;
    this.#renewing = this.#renewLease()
      .catch(() => {}) // a failed renewal is retried on the next tick; the lease outlives it
      .finally(() => this.#renewing = undefined);
  }

  async #renewLease(): Promise<void> {
    const entry = await this.#kv.get<Lease>(LEASE_KEY);
    if (this.#state !== "open") return;
    if (entry.versionstamp !== this.#leaseStamp || entry.value?.token !== this.#token) {
      this.#loseLease(entry.value?.owner ?? "unknown");
      return;
    }
    const result = await this.#kv.atomic().check(entry).set(LEASE_KEY, this.#lease()).commit();
    if (result.ok) this.#leaseStamp = result.versionstamp;
    else if (this.#state === "open") {
      const now = (await this.#kv.get<Lease>(LEASE_KEY)).value;
      this.#loseLease(now?.owner ?? "unknown");
    }
  }

  #loseLease(holder: string): void {
    this.#state = "lost";
    this.#holder = holder;
    clearInterval(this.#renewTimer);
  }
}

function pendingKey(record: PendingRecord): Deno.KvKey {
  return ["pending", priorityRank(record.priority), record.seq];
}

/** The fields of a pending record that are stored, and nothing else. */
function toStored(record: PendingRecord): PendingRecord {
  const stored: PendingRecord = {
    id: record.id,
    type: record.type,
    priority: record.priority,
    routingKey: record.routingKey,
    body: record.body,
    bytes: record.bytes,
    properties: record.properties,
    exchange: record.exchange,
    acceptedAt: record.acceptedAt,
    seq: record.seq,
    attempts: record.attempts,
    nextAttemptAt: record.nextAttemptAt,
  };
  if (record.firstFailureAt !== undefined) stored.firstFailureAt = record.firstFailureAt;
  if (record.lastFailureAt !== undefined) stored.lastFailureAt = record.lastFailureAt;
  if (record.lastError !== undefined) stored.lastError = record.lastError;
  if (record.outcomeUnknown !== undefined) stored.outcomeUnknown = record.outcomeUnknown;
  return stored;
}

/** A record as stored: the body as its UTF-8 bytes. */
type OnDisk<T extends { body: string }> = Omit<T, "body"> & { body: Uint8Array };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

// The body is stored as UTF-8 bytes, not as a string: V8 serialises a string
// that holds one character beyond Latin-1 at two bytes per character, which
// would double a large ASCII body with a single euro sign in it.
function toDisk(value: unknown): unknown {
  if (typeof value !== "object" || value === null || !("body" in value)) return value;
  const { body } = value as { body: unknown };
  return typeof body === "string" ? { ...value, body: utf8.encode(body) } : value;
}

function fromDisk<T extends { body: string }>(value: OnDisk<T>): T {
  return { ...value, body: fromUtf8.decode(value.body) } as unknown as T;
}

// V8's serialisation adds a few bytes per field and number; a margin covers them.
const SERIALISATION_MARGIN = 512;

/**
 * An upper estimate of a record's size as a KV value: the body's UTF-8 bytes,
 * and the other fields as V8 stores their text (one byte per character when
 * it can, two otherwise).
 *
 * @throws {RangeError} When it exceeds Deno KV's value limit.
 */
function recordSize(record: NewRecord): number {
  const text = JSON.stringify({ ...record, body: "" });
  const rest = NOT_ONE_BYTE.test(text) ? text.length * 2 : text.length;
  const size = KEY_BYTES + record.bytes + rest + SERIALISATION_MARGIN;
  if (size > MAX_VALUE_BYTES) {
    throw new RangeError(
      `event ${JSON.stringify(record.id)} takes about ${size} bytes as a Deno KV value, more ` +
        `than its limit of ${MAX_VALUE_BYTES}: lower maxMessageBytes`,
    );
  }
  return size;
}

/**
 * A dead letter that fits in one KV value: its pending record fitted, and
 * what the dead letter adds is mostly error text, which gives way first.
 */
function fitDeadLetter(letter: DeadLetterRecord): DeadLetterRecord {
  const value = { ...letter };
  try {
    recordSize(value);
  } catch {
    delete value.lastError;
    if (value.errorMessage !== undefined) value.errorMessage = value.errorMessage.slice(0, 200);
  }
  return value;
}

function settle(job: Job, error?: unknown): void {
  if (error !== undefined && job.error === undefined) job.error = error;
  if (--job.pending > 0) return;
  if (job.error === undefined) job.resolve();
  else job.reject(job.error);
}
