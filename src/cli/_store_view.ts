// A read-only snapshot of a publisher's Deno KV store file, for the operator:
// its pending events (counts by priority, bytes, the oldest), its local dead
// letters and who holds its lease. It never takes the lease and never writes,
// so it can be read while a publisher owns the store. It reads the key layout
// the `KvStore` writes (see its module doc): `["pending", rank, seq]`,
// `["dead", seq]` and `["lease"]`, bodies stored as UTF-8 bytes.

import { openKv } from "../_runtime.ts";
import { type EventPriority, PRIORITIES } from "../event.ts";
import { type DeadLetterRecord, emptyByPriority, type PendingRecord } from "../store/store.ts";

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

type Stored<T extends { body: string }> = Omit<T, "body"> & { body: Uint8Array | string };

const LIST_BATCH = 500;
const utf8 = new TextDecoder();

/**
 * The snapshot of one store file, read in one pass when opened; the KV handle
 * is closed before {@linkcode StoreView.open} returns.
 */
export class StoreView {
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
   * @throws {Error} Naming the path, when the file cannot be read as a Deno KV store.
   */
  static async open(path: string): Promise<StoreView> {
    let kv: Deno.Kv;
    try {
      kv = await openKv(path);
    } catch (error) {
      throw new Error(`cannot read the event store at ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      const lease = (await kv.get<LeaseHolder>(["lease"])).value ?? undefined;
      const pending: PendingSummary = { total: 0, byPriority: emptyByPriority(), bytes: 0 };
      const list = kv.list<Stored<PendingRecord>>({ prefix: ["pending"] }, {
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
      const letters = kv.list<Stored<DeadLetterRecord>>({ prefix: ["dead"] }, {
        batchSize: LIST_BATCH,
      });
      for await (const { value } of letters) dead.push(decoded(value));
      const holder = lease === undefined ? undefined : {
        owner: lease.owner,
        expiresAt: lease.expiresAt,
        ...(lease.pid === undefined ? {} : { pid: lease.pid }),
        ...(lease.host === undefined ? {} : { host: lease.host }),
      };
      return new StoreView(path, holder, pending, dead);
    } catch (error) {
      throw new Error(`cannot read the event store at ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      kv.close();
    }
  }
}

function decoded(value: Stored<DeadLetterRecord>): DeadLetterRecord {
  const body = typeof value.body === "string" ? value.body : utf8.decode(value.body);
  return { ...value, body };
}
