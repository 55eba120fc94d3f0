// A read-only snapshot of a KV store file, for the operator (the `dlq`
// tool): its pending events (counts by priority, bytes, the oldest), its
// local dead letters and who holds its lease. It never takes the lease and
// never writes, so it can be read while a publisher owns the store. It reads
// the key layout of `_codec.ts`.

import { type KvDatabase, openKv } from "../../_runtime.ts";
import { type EventPriority, PRIORITIES } from "../../event.ts";
import { type DeadLetterRecord, emptyByPriority, type PendingRecord } from "../store.ts";
import { DEAD_PREFIX, fromDisk, LEASE_KEY, type OnDisk, PENDING_PREFIX } from "./_codec.ts";
import { storeError } from "./_errors.ts";

/** Who holds a store's lease, as its holder described itself. */
export interface LeaseHolder {
  owner: string;
  /** The lease runs out at this time unless renewed (ms since the epoch). */
  expiresAt: number;
  pid?: number;
  host?: string;
}

/** The pending events of a store, summed up. */
export interface PendingSummary {
  total: number;
  byPriority: Record<EventPriority, number>;
  /** The encoded bodies' bytes, as the store's `maxBytes` counts them. */
  bytes: number;
  /** The oldest pending event: its id and when it was accepted. */
  oldest?: { id: string; acceptedAt: number };
}

const LIST_BATCH = 500;

/**
 * The snapshot of one store file, read in one pass when opened; the KV handle
 * is closed before {@linkcode KvSnapshot.open} returns.
 */
export class KvSnapshot {
  readonly path: string;
  readonly holder: LeaseHolder | undefined;
  readonly pending: PendingSummary;
  /** The local dead letters, oldest first. */
  readonly deadLetters: readonly DeadLetterRecord[];

  private constructor(
    path: string,
    holder: LeaseHolder | undefined,
    pending: PendingSummary,
    deadLetters: DeadLetterRecord[],
  ) {
    this.path = path;
    this.holder = holder;
    this.pending = pending;
    this.deadLetters = deadLetters;
  }

  /**
   * Reads the store at `path` (which must exist: opening a missing file would
   * create it). Records are read in batches while the owner may be writing,
   * so the counts are those of a moment during the read.
   *
   * @throws {StoreError} Naming the path, when the file cannot be read as a Deno KV store.
   */
  static async open(path: string): Promise<KvSnapshot> {
    let kv: KvDatabase;
    try {
      kv = await openKv(path);
    } catch (error) {
      throw storeError(error, path, "open");
    }
    try {
      const lease = (await kv.get<LeaseHolder>(LEASE_KEY)).value ?? undefined;
      const pending: PendingSummary = { total: 0, byPriority: emptyByPriority(), bytes: 0 };
      // Only the counted fields are used: bodies stay undecoded.
      const list = kv.list<OnDisk<PendingRecord>>({ prefix: PENDING_PREFIX }, {
        batchSize: LIST_BATCH,
      });
      for await (const { value } of list) {
        pending.total++;
        if (PRIORITIES.includes(value.priority)) pending.byPriority[value.priority]++;
        pending.bytes += value.bytes;
        if (pending.oldest === undefined || value.acceptedAt < pending.oldest.acceptedAt) {
          pending.oldest = { id: value.id, acceptedAt: value.acceptedAt };
        }
      }
      const dead: DeadLetterRecord[] = [];
      const letters = kv.list<OnDisk<DeadLetterRecord>>({ prefix: DEAD_PREFIX }, {
        batchSize: LIST_BATCH,
      });
      for await (const { value } of letters) dead.push(fromDisk(value));
      const holder = lease === undefined ? undefined : {
        owner: lease.owner,
        expiresAt: lease.expiresAt,
        ...(lease.pid === undefined ? {} : { pid: lease.pid }),
        ...(lease.host === undefined ? {} : { host: lease.host }),
      };
      return new KvSnapshot(path, holder, pending, dead);
    } catch (error) {
      throw storeError(error, path, "io");
    } finally {
      kv.close();
    }
  }
}
