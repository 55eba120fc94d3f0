// The KV store's dead letters, under `["dead", seq]`: which ones are there,
// the writes that add and delete them, and the list for the operator. A
// pending record becomes a dead letter in the same group commit that deletes
// its pending entry, the letter first: a crash between the two leaves a
// duplicate, never a loss. The shelf also counts the records it moved as
// evicted or expired, for the store's stats.

import { toDeadLetter } from "../_dead_letter.ts";
import type { DeadLetterRecord, PendingRecord } from "../store.ts";
import {
  DEAD_PREFIX,
  deadKey,
  deadSeq,
  fitDeadLetter,
  fromDisk,
  KEY_BYTES,
  type OnDisk,
  pendingKey,
  recordSize,
} from "./_codec.ts";
import type { Write, WriteHooks } from "./_group_commit.ts";

export class DeadLetterShelf {
  readonly #kv: Deno.Kv;
  readonly #notDeleted: (record: PendingRecord) => void;
  /** The `seq` of every dead letter on disk (committed). */
  readonly #seqs = new Set<number>();
  /** Pending records moved here by eviction and by expiry, less those whose delete failed. */
  readonly #moved = { evicted: 0, expired: 0 };
  /** A dead letter's write, and the delete of one, keep `#seqs` in step with the disk. */
  readonly #written: WriteHooks = { committed: (write) => this.#seqs.add(deadSeq(write.key!)) };
  readonly #removed: WriteHooks = { committed: (write) => this.#seqs.delete(deadSeq(write.key!)) };

  /**
   * @param kv Where the dead letters are.
   * @param notDeleted Runs for a pending record moved here whose delete did
   * not commit: it is still on disk, so still pending.
   */
  constructor(kv: Deno.Kv, notDeleted: (record: PendingRecord) => void) {
    this.#kv = kv;
    this.#notDeleted = notDeleted;
  }

  /** Dead letters on disk. */
  get count(): number {
    return this.#seqs.size;
  }

  /** Pending records dead-lettered as `evicted` (made room for others). */
  get evicted(): number {
    return this.#moved.evicted;
  }

  /** Pending records dead-lettered as `expired` (older than the age limit). */
  get expired(): number {
    return this.#moved.expired;
  }

  /** Reads which dead letters are on disk; returns the highest `seq` among them (0 if none). */
  async scan(): Promise<number> {
    let highest = 0;
    for await (const entry of this.#kv.list({ prefix: DEAD_PREFIX })) {
      const seq = deadSeq(entry.key);
      this.#seqs.add(seq);
      highest = Math.max(highest, seq);
    }
    return highest;
  }

  /**
   * Queues, for each pending record evicted or expired, its dead letter and
   * then the delete of its pending entry, in that order (a group split over
   * several atomics keeps it), and counts it. A record whose delete does not
   * commit is no longer counted, and goes to the `notDeleted` given to the
   * constructor.
   *
   * @returns The dead letters.
   */
  moveFrom(
    records: readonly PendingRecord[],
    reason: "evicted" | "expired",
    at: number,
    writes: Write[],
  ): DeadLetterRecord[] {
    const letters = records.map((record) => {
      const letter = toDeadLetter(record, reason, at);
      writes.push(this.write(letter));
      const hooks: WriteHooks = {
        failed: () => {
          this.#moved[reason]--;
          this.#notDeleted(record);
        },
      };
      writes.push({ key: pendingKey(record), size: KEY_BYTES, hooks });
      return letter;
    });
    this.#moved[reason] += letters.length;
    return letters;
  }

  /**
   * The write of one dead letter, cut to fit one KV value.
   *
   * @throws {RangeError} When it would exceed Deno KV's value limit all the same.
   */
  write(letter: DeadLetterRecord): Write {
    const value = fitDeadLetter(letter);
    return {
      key: deadKey(letter.seq),
      value,
      size: recordSize(value),
      hooks: this.#written,
    };
  }

  /** The deletes of dead letters by `seq` (unknown ones delete nothing). */
  removals(seqs: readonly number[]): Write[] {
    return seqs.map((seq) => ({ key: deadKey(seq), size: KEY_BYTES, hooks: this.#removed }));
  }

  /** Up to `limit` dead letters, oldest first. */
  async list(limit: number): Promise<DeadLetterRecord[]> {
    const found: DeadLetterRecord[] = [];
    if (limit <= 0) return found;
    const options = Number.isFinite(limit) ? { limit } : {};
    const list = this.#kv.list<OnDisk<DeadLetterRecord>>({ prefix: DEAD_PREFIX }, options);
    for await (const entry of list) found.push(fromDisk(entry.value));
    return found;
  }
}
