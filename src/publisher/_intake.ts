// The intake: what publish() and publishBatch() do once the publisher is
// open. Each event is validated and encoded, recognised as a duplicate of
// one still pending (it then gets that event's receipt, and nothing new is
// stored), stored, and answered: queued, buffered, or, for a high-priority
// publish(), its confirm.

import type { Context, Span } from "@opentelemetry/api";
import { EventValidationError } from "../errors.ts";
import { type DomainEvent, type EncodedEvent, encodeEvent, type EncodeOptions } from "../event.ts";
import type { AddResult, NewRecord, PendingStore } from "../store/store.ts";
import type { EvictionLog } from "./_dead_letter_log.ts";
import type { Dispatcher } from "./_dispatcher.ts";
import type { Telemetry } from "./_telemetry.ts";
import type { Waiters } from "./_waiters.ts";
import type { PublishReceipt } from "./types.ts";

/** What the intake works with. */
export interface IntakeParts {
  store: PendingStore;
  dispatcher: Dispatcher;
  waiters: Waiters;
  evictions: EvictionLog;
  /** Spans and metrics; none with `telemetry: false`. */
  telemetry?: Telemetry;
  /** The exchange every event is published to. */
  exchange: string;
  /** The size limit, routing key and clock of `encodeEvent()`. */
  encode: EncodeOptions;
  now: () => number;
}

/** Validates, deduplicates, stores and answers the events given to the publisher. */
export class Intake {
  readonly #parts: IntakeParts;
  // id -> receipt of each event whose store.add() is under way, for duplicates meanwhile.
  readonly #accepting = new Map<string, Promise<PublishReceipt>>();
  #deduplicated = 0;

  constructor(parts: IntakeParts) {
    this.#parts = parts;
  }

  /** Events that were duplicates of one still pending. */
  get deduplicated(): number {
    return this.#deduplicated;
  }

  /**
   * One event, for publish(): its receipt, or for a high-priority event its
   * confirm. Throws what encodeEvent() or the store throw.
   */
  one(event: DomainEvent, parent: Context | undefined): PublishReceipt | Promise<PublishReceipt> {
    const encoded = encodeEvent(event, this.#parts.encode) as NewRecord;
    const { id } = encoded;
    const { store } = this.#parts;
    // A duplicate (its id still pending or being stored) takes the general
    // path. A new event on a store in memory is kept before this returns; on
    // a store that adds asynchronously, it is known as being stored until it is.
    if (this.#accepting.has(id) || store.seqOf(id) !== undefined) {
      return this.#accept([encoded], true, parent).then(firstOf);
    }
    encoded.exchange = this.#parts.exchange;
    encoded.acceptedAt = this.#parts.now();
    if (store.addNow !== undefined) return this.#addNow([encoded], true, parent)[0];
    const receipt = this.#addLater([encoded], true, parent).then(firstOf);
    const stored = () => this.#accepting.delete(id);
    receipt.then(stored, stored);
    // A duplicate that comes while it is being stored gets this receipt; a
    // failure is the caller's to see.
    this.#accepting.set(id, receipt);
    return receipt;
  }

  /**
   * Several events, for publishBatch(): all are validated first, and one bad
   * event rejects the whole call (naming its index) with nothing stored.
   */
  async many(
    events: readonly DomainEvent[],
    parent: Context | undefined,
  ): Promise<PublishReceipt[]> {
    const encoded = events.map((event, index) => {
      try {
        return encodeEvent(event, this.#parts.encode);
      } catch (error) {
        if (!(error instanceof EventValidationError)) throw error;
        throw new EventValidationError(error.field, `events[${index}]: ${error.message}`, {
          index,
          cause: error,
        });
      }
    });
    if (encoded.length === 0) return [];
    return await this.#accept(encoded, false, parent);
  }

  /**
   * Stores the events and answers each. An event whose id is still pending,
   * being stored by another call, or earlier in this call is a duplicate:
   * nothing new is stored, and it gets that event's receipt.
   */
  async #accept(
    encoded: EncodedEvent[],
    awaitHigh: boolean,
    parent: Context | undefined,
  ): Promise<PublishReceipt[]> {
    const acceptedAt = this.#parts.now();
    const exchange = this.#parts.exchange;
    const fresh: NewRecord[] = [];
    // For each event: its place among the fresh ones, or the receipt of the one it duplicates.
    const answers: (number | (() => PublishReceipt | Promise<PublishReceipt>))[] = [];
    const firstInCall = new Map<string, number>();
    for (const event of encoded as NewRecord[]) {
      const { id } = event;
      const earlier = firstInCall.get(id);
      const accepting = this.#accepting.get(id);
      const seq = earlier === undefined && accepting === undefined
        ? this.#parts.store.seqOf(id)
        : undefined;
      if (earlier !== undefined) answers.push(() => receipts[earlier]);
      else if (accepting !== undefined) answers.push(() => accepting);
      else if (seq !== undefined) answers.push(() => this.#pendingReceipt(id, seq));
      else {
        // The encoded events are ours alone: completed in place, not copied.
        event.exchange = exchange;
        event.acceptedAt = acceptedAt;
        firstInCall.set(id, answers.length);
        answers.push(fresh.length);
        fresh.push(event);
      }
    }
    const stored = this.#add(fresh, awaitHigh, parent);
    fresh.forEach((event, i) => {
      const receipt = stored.then((r) => r[i]);
      // Awaited by duplicates, if any come; a failure is the caller's to see.
      receipt.catch(() => {});
      this.#accepting.set(event.id, receipt);
    });
    const receipts: Promise<PublishReceipt>[] = answers.map((answer) =>
      typeof answer === "number" ? stored.then((r) => r[answer]) : stored.then(answer, answer)
    );
    try {
      const all = await Promise.all(receipts);
      this.#deduplicated += encoded.length - fresh.length;
      this.#parts.telemetry?.metrics.recordDeduplicated(encoded.length - fresh.length);
      return all;
    } finally {
      for (const event of fresh) this.#accepting.delete(event.id);
    }
  }

  /** Stores new events; resolves with their receipts (high priority: once confirmed, with `awaitHigh`). */
  async #add(
    events: NewRecord[],
    awaitHigh: boolean,
    parent: Context | undefined,
  ): Promise<PublishReceipt[]> {
    if (events.length === 0) return [];
    const answers = this.#parts.store.addNow !== undefined
      ? this.#addNow(events, awaitHigh, parent)
      : await this.#addLater(events, awaitHigh, parent);
    return await allOf(answers);
  }

  /** {@linkcode #add} on a store that adds at once: the receipts, or their promises. */
  #addNow(
    events: NewRecord[],
    awaitHigh: boolean,
    parent: Context | undefined,
  ): (PublishReceipt | Promise<PublishReceipt>)[] {
    const spans = this.#startSpans(events, parent);
    let added;
    try {
      added = this.#parts.store.addNow!(events);
    } catch (error) {
      this.#abandonSpans(spans, error);
      throw error;
    }
    return this.#answer(added, awaitHigh, spans);
  }

  /**
   * {@linkcode #addNow} on a store that adds asynchronously. Not an async
   * function: one event's publish() takes this path, and what it allocates
   * is held until the store's commit.
   */
  #addLater(
    events: NewRecord[],
    awaitHigh: boolean,
    parent: Context | undefined,
  ): Promise<(PublishReceipt | Promise<PublishReceipt>)[]> {
    const spans = this.#startSpans(events, parent);
    let adding;
    try {
      adding = this.#parts.store.add(events);
    } catch (error) {
      this.#abandonSpans(spans, error);
      return Promise.reject(error);
    }
    return adding.then(
      (added) => this.#answer(added, awaitHigh, spans),
      (error) => {
        this.#abandonSpans(spans, error);
        throw error;
      },
    );
  }

  /** Started before the store keeps the events, so their trace context is kept with them. */
  #startSpans(events: readonly NewRecord[], parent: Context | undefined): Span[] | undefined {
    return this.#parts.telemetry?.tracing.startEvents(parent, events);
  }

  #abandonSpans(spans: Span[] | undefined, error: unknown): void {
    if (spans) this.#parts.telemetry?.tracing.abandon(spans, error);
  }

  /** The receipts of events just stored; evictions told, the dispatcher woken. */
  #answer(
    { records, evicted }: AddResult,
    awaitHigh: boolean,
    spans: Span[] | undefined,
  ): (PublishReceipt | Promise<PublishReceipt>)[] {
    const tracing = this.#parts.telemetry?.tracing;
    if (tracing && spans) records.forEach((record, i) => tracing.track(record.seq, spans[i]));
    if (evicted.length > 0) {
      this.#parts.evictions.add(evicted);
      this.#parts.dispatcher.deadLettered(evicted, { log: false });
      this.#parts.telemetry?.metrics.recordEvicted(evicted.length);
    }
    const sendable = this.#parts.dispatcher.canSend();
    const receipts = records.map((record): PublishReceipt | Promise<PublishReceipt> => {
      if (record.priority !== "high" || !sendable) {
        return { id: record.id, status: sendable ? "queued" : "buffered" };
      }
      this.#parts.dispatcher.expedite(1);
      return awaitHigh ? this.#parts.waiters.wait(record) : { id: record.id, status: "queued" };
    });
    this.#parts.dispatcher.wake();
    return receipts;
  }

  /** The receipt of an event still pending: the one its high-priority caller awaits, if any. */
  #pendingReceipt(id: string, seq: number): PublishReceipt | Promise<PublishReceipt> {
    return this.#parts.waiters.joined(seq) ??
      { id, status: this.#parts.dispatcher.canSend() ? "queued" : "buffered" };
  }
}

function firstOf<T>(values: readonly T[]): T {
  return values[0];
}

/** Queued events are answered at once; only high-priority confirms are awaited. */
function allOf<T>(values: (T | Promise<T>)[]): T[] | Promise<T[]> {
  return values.some((value) => value instanceof Promise) ? Promise.all(values) : values as T[];
}
