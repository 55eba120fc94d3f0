// High-priority waiters: a high-priority `publish()` awaits the first outcome
// of its event (confirmed, dead-lettered, or buffered), bounded by
// `publishTimeout`; a duplicate publish() of it awaits the same answer. This
// file owns that map from store seq to the awaited receipt.

import { withResolvers } from "../_async.ts";
import type { DeadLetterReason, PendingRecord } from "../store/store.ts";
import type { PublishReceipt, PublishStatus } from "./types.ts";

type Settle = (status: PublishStatus, reason?: DeadLetterReason) => void;

/** The high-priority `publish()` calls waiting for their event's first outcome. */
export class Waiters {
  readonly #timeoutMs: number;
  readonly #bySeq = new Map<number, { settle: Settle; receipt: Promise<PublishReceipt> }>();

  /** @param timeoutMs How long a caller waits before it is answered `buffered`. */
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /**
   * The receipt of `record` once its first attempt settles: `confirmed`,
   * `dead-lettered`, or `buffered` (failed and kept for a retry, or not
   * settled within the timeout).
   */
  wait(record: PendingRecord): Promise<PublishReceipt> {
    const { promise, resolve } = withResolvers<PublishReceipt>();
    const timer = setTimeout(() => settle("buffered"), this.#timeoutMs);
    const settle: Settle = (status, reason) => {
      clearTimeout(timer);
      this.#bySeq.delete(record.seq);
      resolve(reason === undefined ? { id: record.id, status } : { id: record.id, status, reason });
    };
    this.#bySeq.set(record.seq, { settle, receipt: promise });
    return promise;
  }

  /** The receipt a caller already awaits for the event `seq`, if one does. */
  joined(seq: number): Promise<PublishReceipt> | undefined {
    return this.#bySeq.get(seq)?.receipt;
  }

  /** Answers the caller waiting for the event `seq`, if any. */
  settle(seq: number, status: PublishStatus, reason?: DeadLetterReason): void {
    this.#bySeq.get(seq)?.settle(status, reason);
  }

  /**
   * Answers every waiting caller with `buffered`: its event is safe in the
   * store, and the broker will not confirm it any time soon.
   */
  releaseAll(): void {
    for (const { settle } of [...this.#bySeq.values()]) settle("buffered");
  }
}
