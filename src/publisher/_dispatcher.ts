// The dispatcher: takes ready events from the store in batches, sends them
// with at most `maxInFlight` events awaiting their confirms (a window that
// slides: each outcome frees its place at once), and applies the settlement
// (`settle()`) of the outcomes as they come to the store, the breaker, the
// counters and the waiters. It is one state machine, `DispatcherMode`;
// `#enter()` makes every transition and logs it.

import { withResolvers } from "../_async.ts";
import type { Transport } from "../amqp/transport.ts";
import type { ResolvedAsyncPublishConfig } from "../config/types.ts";
import type { Logger } from "../logger.ts";
import type { CircuitBreaker } from "../policies/circuit_breaker.ts";
import { toDeadLetter } from "../store/_dead_letter.ts";
import type { DeadLetterRecord, PendingRecord, PendingStore } from "../store/store.ts";
import type { SendOutcome } from "../amqp/transport.ts";
import { TransportError } from "../errors.ts";
import {
  countsAgainstBreaker,
  type DeadLetterDecision,
  settle,
  type SettlePolicy,
} from "./_settle.ts";
import type { Waiters } from "./_waiters.ts";
import { logDeadLetters } from "./_dead_letter_log.ts";
import type { Telemetry } from "./_telemetry.ts";
import { serverOf } from "./_semconv.ts";

/**
 * How eagerly the dispatcher sends. Whether it *can* send is not a mode: that
 * is the transport's `ConnectionState` and the breaker's `CircuitState`, read
 * at every pass (a copy here would go stale). Batches in flight are a count,
 * in any mode.
 *
 * - `idle`: full batches go at once (with background processing on); a
 *   partial one waits for `flushInterval`.
 * - `flushing`: every ready event goes now, `batchSize` at a time, until a
 *   short batch or an empty store ends it (flush(), the flush timer, a retry
 *   falling due).
 * - `draining`: the backlog after a reconnect, `flushBatchSize` at a time,
 *   until a short batch or an empty store ends it.
 * - `closing`: `close()` began: every ready event goes now; after a short
 *   batch the next partial one waits for the flush timer (background
 *   processing or not), so a failing broker is not hammered until the deadline.
 * - `closed`: nothing more is sent; final.
 */
export type DispatcherMode = "idle" | "flushing" | "draining" | "closing" | "closed";

const TRANSITIONS: Readonly<Record<DispatcherMode, readonly DispatcherMode[]>> = {
  idle: ["flushing", "draining", "closing"],
  flushing: ["idle", "draining", "closing"],
  draining: ["idle", "closing"],
  closing: ["closed"],
  closed: [],
};

/** What the dispatcher works with. */
export interface DispatcherParts {
  config: ResolvedAsyncPublishConfig;
  transport: Transport;
  store: PendingStore;
  breaker: CircuitBreaker;
  waiters: Waiters;
  logger: Logger;
  now: () => number;
  random: () => number;
  /** Spans and metrics; none with `telemetry: false`. */
  telemetry?: Telemetry;
  /** Told of every failure worth showing in `lastError`. */
  onError: (error: unknown) => void;
  /** Told after new dead letters were stored and counted. */
  onDeadLetters: () => void;
}

/** The dispatcher's counters, for the stats. */
export interface DispatcherCounters {
  published: number;
  failed: number;
  neverSent: number;
  unknownOutcome: number;
  retried: number;
  resent: number;
  deadLettered: number;
}

/** Sends pending events in batches; see {@linkcode DispatcherMode}. */
export class Dispatcher {
  readonly #parts: DispatcherParts;
  readonly #policy: SettlePolicy;
  #mode: DispatcherMode = "idle";
  // High-priority events accepted but not yet taken: they make a pass send at once.
  #urgent = 0;
  // Passes never overlap; a request during one makes it run once more.
  #pass: Promise<void> | undefined;
  #passRequests = 0;
  readonly #batches = new Set<Promise<void>>();
  #peakBatches = 0;
  // Events sent whose outcome has not come: the window, at most `maxInFlight`.
  #inFlight = 0;
  // Outcomes come one by one; they are settled together, a microtask later.
  #arrivals: { record: PendingRecord; outcome: SendOutcome }[] = [];
  #settling: Promise<void> = Promise.resolve();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeAt = Infinity;
  #idle: PromiseWithResolvers<void> | undefined;
  #lastConfirmAt: number | undefined;
  readonly #counters: DispatcherCounters = {
    published: 0,
    failed: 0,
    neverSent: 0,
    unknownOutcome: 0,
    retried: 0,
    resent: 0,
    deadLettered: 0,
  };

  constructor(parts: DispatcherParts) {
    this.#parts = parts;
    this.#policy = { retry: parts.config.retry, random: parts.random };
  }

  /** The current mode. */
  get mode(): DispatcherMode {
    return this.#mode;
  }

  /** Batches awaiting confirms (some of their events may be settled already). */
  get activeBatches(): number {
    return this.#batches.size;
  }

  /** Events sent and awaiting their outcome: never more than `maxInFlight`. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** The most batches ever awaiting confirms at once. */
  get peakBatches(): number {
    return this.#peakBatches;
  }

  /** When the last confirm arrived (ms since the epoch), if any did. */
  get lastConfirmAt(): number | undefined {
    return this.#lastConfirmAt;
  }

  /** A copy of the counters. */
  get counters(): DispatcherCounters {
    return { ...this.#counters };
  }

  /** Whether the broker can be sent to: connected, circuit not open, not closed. */
  canSend(): boolean {
    return this.#parts.transport.state === "connected" && this.#parts.breaker.state !== "open" &&
      this.#mode !== "closed";
  }

  /** `count` high-priority events were accepted: the next pass sends at once. */
  expedite(count: number): void {
    this.#urgent += count;
  }

  /** Sends every ready event now, whatever the batch fill. */
  flush(why: string): void {
    if (this.#mode === "idle") this.#enter("flushing", why);
    // In `closing`, a flush is due whenever the flush timer is not running.
    if (this.#mode === "closing") this.#stopFlushTimer();
    this.wake();
  }

  /** The connection came back (not merely unblocked): drain the backlog. */
  reconnected(): void {
    const { enableBackgroundProcessing } = this.#parts.config;
    // Draining is background work: with it off, only flush() or close() send the backlog.
    const drain = enableBackgroundProcessing && this.#parts.store.counts().size > 0;
    if (drain && (this.#mode === "idle" || this.#mode === "flushing")) {
      this.#enter("draining", "reconnected with a backlog");
    } else if (!drain && this.#mode === "draining") {
      this.#enter("idle", "reconnected with nothing to drain");
    }
  }

  /** `close()` began: send everything ready now, and keep sending until `stop()`. */
  beginClose(): void {
    this.#enter("closing", "close() began");
    this.#stopFlushTimer();
    this.wake();
  }

  /** Sends nothing more and clears every timer. */
  stop(): void {
    this.#enter("closed", "closed");
    this.#stopFlushTimer();
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
  }

  /** Resolves once every batch in flight is settled. */
  async settled(): Promise<void> {
    await Promise.all(this.#batches);
  }

  /**
   * Resolves when no pass runs, no batch is in flight, and nothing is left
   * that can be sent (the store is empty, or the broker cannot be sent to).
   */
  whenIdle(): Promise<void> {
    this.#idle ??= withResolvers<void>();
    const idle = this.#idle.promise;
    this.#checkIdle();
    return idle;
  }

  /**
   * What follows every new dead letter, however it was made (failed send,
   * eviction, expiry): a log line per reason (unless `log` is false: the
   * caller sums them up itself), the counter, the waiting high-priority
   * caller's answer, then `onDeadLetters`.
   */
  deadLettered(letters: readonly DeadLetterRecord[], options: { log?: boolean } = {}): void {
    if (options.log ?? true) logDeadLetters(this.#parts.logger, letters);
    for (const letter of letters) {
      this.#parts.waiters.settle(letter.seq, "dead-lettered", letter.reason);
      this.#parts.telemetry?.tracing.endEvent(letter.seq, {
        ok: false,
        reason: letter.reason,
        error: letter.errorName === undefined
          ? undefined
          : { name: letter.errorName, message: letter.errorMessage ?? "" },
      });
      this.#parts.telemetry?.metrics.recordDeadLettered(letter.reason, 1);
    }
    this.#counters.deadLettered += letters.length;
    this.#parts.onDeadLetters();
  }

  // ---- the state machine ----

  #enter(to: DispatcherMode, why: string): void {
    const from = this.#mode;
    if (from === to) return;
    if (!TRANSITIONS[from].includes(to)) {
      throw new Error(`dispatcher cannot go from ${from} to ${to} (${why})`);
    }
    this.#parts.logger.debug(`dispatcher ${from} -> ${to}: ${why}`);
    this.#mode = to;
  }

  /** Whether a pass sends `waiting` events now rather than waiting for more. */
  #sendsNow(waiting: number, limit: number): boolean {
    if (this.#urgent > 0) return true;
    switch (this.#mode) {
      case "flushing":
      case "draining":
        return true;
      case "closing":
        return waiting >= limit || this.#flushTimer === undefined;
      case "idle":
        return this.#parts.config.enableBackgroundProcessing && waiting >= limit;
      case "closed":
        return false;
    }
  }

  /** The ready events ran out: a flush or a drain is over. */
  #roundOver(why: string, shortBatch: boolean): void {
    this.#urgent = 0;
    if (this.#mode === "flushing" || this.#mode === "draining") this.#enter("idle", why);
    else if (this.#mode === "closing" && shortBatch) this.#startFlushTimer();
  }

  // ---- passes ----

  /**
   * Asks for a pass, because something changed (events added, connection,
   * circuit, a batch settled). Passes never overlap: one asked for during a
   * pass runs right after it.
   */
  wake(): void {
    this.#passRequests++;
    if (this.#pass !== undefined) return;
    const { promise, resolve } = withResolvers<void>();
    this.#pass = promise;
    queueMicrotask(async () => {
      try {
        let seen;
        do {
          seen = this.#passRequests;
          await this.#passOnce();
        } while (seen !== this.#passRequests);
      } catch (error) {
        this.#parts.onError(error);
        this.#parts.logger.error("dispatcher pass failed", error);
      } finally {
        this.#pass = undefined;
        resolve();
        this.#checkIdle();
      }
    });
  }

  async #passOnce(): Promise<void> {
    const { config, store, transport, breaker } = this.#parts;
    while (this.#inFlight < config.maxInFlight && this.#mode !== "closed") {
      const counts = store.counts();
      const waiting = counts.size - counts.inFlight;
      if (waiting === 0) return this.#roundOver("nothing left to send", false);
      if (transport.state !== "connected") return;
      const batchLimit = this.#mode === "draining"
        ? config.bufferConfig.flushBatchSize
        : config.batchSize;
      // Whether a batch is due depends on its size; how much goes, on the room in the window.
      const limit = Math.min(batchLimit, config.maxInFlight - this.#inFlight);
      if (!this.#sendsNow(waiting, batchLimit)) {
        const background = config.enableBackgroundProcessing || this.#mode === "closing";
        if (background && this.#flushTimer === undefined) this.#startFlushTimer();
        return;
      }
      const now = this.#parts.now();
      const readyAt = store.nextReadyAt();
      if (readyAt === undefined || readyAt > now) {
        if (readyAt !== undefined) this.#wakeUpAt(readyAt);
        this.#urgent = 0;
        return;
      }
      if (!breaker.allowsSend()) {
        const reopensAt = breaker.reopensAt();
        if (reopensAt !== undefined) this.#wakeUpAt(reopensAt);
        return;
      }
      let batch: PendingRecord[];
      try {
        batch = await store.take(limit, now);
      } catch (error) {
        breaker.releaseProbe();
        throw error;
      }
      if (batch.length === 0) {
        breaker.releaseProbe();
        return;
      }
      for (const record of batch) {
        if (this.#urgent > 0 && record.priority === "high") this.#urgent--;
      }
      // Every ready high-priority event was in this batch.
      if (batch.length < limit) this.#roundOver("the last ready events went", true);
      this.#startBatch(batch);
    }
  }

  #startBatch(batch: PendingRecord[]): void {
    this.#inFlight += batch.length;
    const dispatch: Promise<void> = this.#sendBatch(batch)
      .catch((error) => {
        this.#parts.onError(error);
        this.#parts.logger.error("a batch could not be settled", error);
      })
      .finally(() => {
        this.#batches.delete(dispatch);
        this.wake();
      });
    this.#batches.add(dispatch);
    this.#peakBatches = Math.max(this.#peakBatches, this.#batches.size);
  }

  /**
   * Sends a batch; resolves once the outcome of each of its events is
   * settled. The batch as a whole counts once for the breaker: a failure if
   * any of its events failed for a reason that says the broker is in trouble.
   */
  async #sendBatch(batch: PendingRecord[]): Promise<void> {
    const arrived = new Array<boolean>(batch.length).fill(false);
    let failure: TransportError | undefined;
    const telemetry = this.#parts.telemetry;
    const sent = telemetry?.recording() ? this.#traceSend(telemetry, batch) : undefined;
    const arrive = (i: number, outcome: SendOutcome) => {
      if (arrived[i]) return;
      arrived[i] = true;
      this.#inFlight--;
      if (!outcome.ok && countsAgainstBreaker(outcome.error)) failure ??= outcome.error;
      sent?.arrived(batch[i], outcome);
      this.#arrivals.push({ record: batch[i], outcome });
      if (this.#arrivals.length === 1) queueMicrotask(() => this.#settleArrivals());
    };
    let outcomes: SendOutcome[];
    try {
      outcomes = await this.#parts.transport.send(batch, this.#parts.config.publishTimeout, {
        onOutcome: arrive,
      });
    } finally {
      // A transport that does not tell outcomes one by one, or failed to, tells them now.
      batch.forEach((_, i) => {
        if (!arrived[i]) arrive(i, outcomes?.[i] ?? lostInTransport());
      });
      sent?.done();
    }
    this.#settleArrivals();
    await this.#settling;
    if (failure !== undefined) this.#parts.breaker.recordFailure(failure.message);
    else this.#parts.breaker.recordSuccess();
  }

  /**
   * The telemetry of one batch send: its span (linked to its events' spans,
   * continuing the trace of events stored by an earlier run), a note on the
   * span of each event that failed, and the send's metrics when it is done.
   */
  #traceSend({ tracing, metrics }: Telemetry, batch: readonly PendingRecord[]) {
    for (const record of batch) tracing.resume(record.seq, record);
    const exchange = batch[0].exchange;
    const server = serverOf(this.#parts.transport.url);
    const span = tracing.startSend(exchange, batch, server);
    const started = performance.now();
    const failed = new Map<string, number>();
    let failures = 0;
    return {
      arrived(record: PendingRecord, outcome: SendOutcome): void {
        if (outcome.ok) return;
        const { kind, message } = outcome.error;
        failed.set(kind, (failed.get(kind) ?? 0) + 1);
        failures++;
        tracing.attemptFailed(record.seq, { kind, message });
      },
      done(): void {
        const durationMs = performance.now() - started;
        const confirmed = batch.length - failures;
        metrics.recordSend(exchange, { confirmed, failed, durationMs, server });
        tracing.endSend(span, failures, failed.keys().next().value);
      },
    };
  }

  /** Settles the outcomes that came since the last time, together, after those before. */
  #settleArrivals(): void {
    if (this.#arrivals.length === 0) return;
    const arrivals = this.#arrivals;
    this.#arrivals = [];
    const records = arrivals.map((a) => a.record);
    const outcomes = arrivals.map((a) => a.outcome);
    this.#settling = this.#settling
      .then(() => this.#settle(records, outcomes))
      .catch((error) => {
        this.#parts.onError(error);
        this.#parts.logger.error("outcomes could not be settled", error);
      })
      .finally(() => this.wake());
  }

  // ---- settling: applies `settle()` ----

  async #settle(batch: PendingRecord[], outcomes: SendOutcome[]): Promise<void> {
    const { store, waiters } = this.#parts;
    const now = this.#parts.now();
    const s = settle(batch, outcomes, this.#policy, now);
    const counters = this.#counters;
    counters.failed += s.neverSent + s.unknownOutcome;
    counters.neverSent += s.neverSent;
    counters.unknownOutcome += s.unknownOutcome;
    counters.retried += s.retried;
    counters.resent += s.resent;
    this.#parts.telemetry?.metrics.recordRetried(s.retried);
    if (s.lastError !== undefined) this.#parts.onError(s.lastError);
    for (const { seq } of s.confirmed) waiters.settle(seq, "confirmed");
    const telemetry = this.#parts.telemetry;
    if (telemetry !== undefined) {
      for (const { seq, priority, acceptedAt } of s.confirmed) {
        telemetry.tracing.endEvent(seq, { ok: true });
        telemetry.metrics.recordConfirmed(priority, now - acceptedAt);
      }
    }
    if (s.confirmed.length > 0) {
      // Counted first: RabbitMQ has them, whatever the store is still doing.
      counters.published += s.confirmed.length;
      this.#lastConfirmAt = now;
    }
    // Each step runs even when one before it failed, so that no event stays
    // in flight for good: a confirmed event the store failed to delete is
    // released and sent again (a duplicate, never a loss).
    const failures: unknown[] = [];
    const step = async (work: () => Promise<void>, orRelease: PendingRecord[]) => {
      try {
        await work();
      } catch (error) {
        failures.push(error);
        await store.release(orRelease).catch((e) => failures.push(e));
      }
    };
    if (s.confirmed.length > 0) await step(() => store.remove(s.confirmed), s.confirmed);
    if (s.deadLetters.length > 0) {
      const later = s.deadLetters.map(({ record, retryAt }) => ({
        ...record,
        nextAttemptAt: retryAt,
      }));
      await step(() => this.#deadLetter(s.deadLetters), later);
    }
    if (s.retry.length > 0) {
      await step(() => store.release(s.retry), s.retry);
      if (s.wakeAt !== undefined) this.#wakeUpAt(s.wakeAt);
    }
    for (const { seq } of s.retry) waiters.settle(seq, "buffered");
    if (failures.length > 0) throw failures[0];
  }

  async #deadLetter(decisions: readonly DeadLetterDecision[]): Promise<void> {
    const at = this.#parts.now();
    const letters = decisions.map(({ record, reason, error }) =>
      toDeadLetter(record, reason, at, error)
    );
    // Kept locally first, then removed from pending, so a crash between the
    // two steps leaves a duplicate, never a loss.
    await this.#parts.store.addDeadLetters(letters);
    await this.#parts.store.remove(letters);
    this.deadLettered(letters);
  }

  // ---- timers and idleness ----

  #startFlushTimer(): void {
    if (this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.flush("the flush interval passed");
    }, this.#parts.config.flushInterval);
  }

  #stopFlushTimer(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }

  #wakeUpAt(at: number): void {
    if (at >= this.#wakeAt || this.#mode === "closed") return;
    clearTimeout(this.#wakeTimer);
    this.#wakeAt = at;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      this.#wakeAt = Infinity;
      this.flush("a retry fell due");
    }, Math.max(0, at - this.#parts.now()));
  }

  #checkIdle(): void {
    if (this.#idle === undefined || this.#pass !== undefined || this.#batches.size > 0) return;
    const nothingToSend = this.#parts.store.counts().size === 0 || !this.canSend();
    if (!nothingToSend) return;
    this.#idle.resolve();
    this.#idle = undefined;
  }
}

function lostInTransport(): SendOutcome {
  return {
    ok: false,
    error: new TransportError("connection-lost", "the transport failed before the confirm", {
      sent: true,
    }),
  };
}
