// The publisher's housekeeping: the cleanup timer, the expiry of events older
// than `maxEventAge`, and when to move local dead letters to the broker (the
// move itself is `shipDeadLetters`). One run at a time; a run asked for while
// one is going runs once more after it (a dead letter made after the running
// one looked would otherwise wait for the timer).

import type { Transport } from "../amqp/transport.ts";
import type { ResolvedAsyncPublishConfig } from "../config/types.ts";
import { shipDeadLetters, type ShipReport } from "../dead_letters/shipper.ts";
import type { Logger } from "../logger.ts";
import type { DeadLetterRecord, PendingStore } from "../store/store.ts";

const SHIP_PAUSE_MAX_MS = 60_000;

/** What housekeeping works on. */
export interface HousekeepingParts {
  /** `bufferConfig.cleanupInterval` and `maxEventAge`; `batchSize` and `publishTimeout` for the move. */
  config: ResolvedAsyncPublishConfig;
  store: PendingStore;
  transport: Transport;
  logger: Logger;
  now: () => number;
  deadLetterExchange: string;
  /** Told of the events that expired (already dead letters in the store). */
  onExpired: (letters: DeadLetterRecord[]) => void;
  /** Told of a failed run. */
  onError: (error: unknown) => void;
}

/** The cleanup timer and what it runs. */
export class Housekeeping {
  readonly #parts: HousekeepingParts;
  #timer: ReturnType<typeof setInterval> | undefined;
  // The next try to move dead letters after a pause: sooner than the cleanup timer.
  #retry: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #shipPausedUntil = 0;

  /** Starts the cleanup timer. */
  constructor(parts: HousekeepingParts) {
    this.#parts = parts;
    this.#timer = setInterval(() => this.run(), parts.config.bufferConfig.cleanupInterval);
  }

  /**
   * Starts a run, or, while one is going, one more after it. Never rejects:
   * failures go to `onError`.
   */
  run(): void {
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#housekeep()
      .catch((error) => {
        this.#parts.onError(error);
        this.#parts.logger.error("buffer cleanup failed", error);
      })
      .finally(() => {
        this.#running = undefined;
        if (!this.#again || this.#timer === undefined) return;
        this.#again = false;
        this.run();
      });
  }

  /** Stops the timer; a run in progress goes on (see `settled()`). */
  stopTimer(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#retry);
    this.#timer = undefined;
    this.#retry = undefined;
  }

  /** Resolves when the run in progress, if any, is over. */
  async settled(): Promise<void> {
    await this.#running;
  }

  /**
   * The last move of dead letters, for `close()`, before the transport
   * closes: waits for a run in progress, then moves what is left until
   * `deadline`. The pause after a refusal does not apply: nothing else is
   * sent any more, so no healthy batch can be failed by it.
   *
   * @returns What the move did; nothing moved when the transport is not connected.
   */
  async finalMove(deadline: number): Promise<ShipReport> {
    this.stopTimer();
    await this.settled();
    if (this.#parts.store.stats().deadLetters === 0) return { moved: 0, kept: 0 };
    return await this.#ship(deadline);
  }

  async #housekeep(): Promise<void> {
    const { store, now, config } = this.#parts;
    const expired = await store.expire(now() - config.bufferConfig.maxEventAge);
    if (expired.length > 0) this.#parts.onExpired(expired);
    await this.#ship();
  }

  async #ship(deadline?: number): Promise<ShipReport> {
    const { now, config, deadLetterExchange, logger } = this.#parts;
    // A broker that refused dead letters is not asked again at every reconnect:
    // a refusal that closes the channel would fail healthy batches each time.
    if (deadline === undefined && now() < this.#shipPausedUntil) return { moved: 0, kept: 0 };
    const report = await shipDeadLetters({
      store: this.#parts.store,
      transport: this.#parts.transport,
      exchange: deadLetterExchange,
      batchSize: config.batchSize,
      publishTimeout: config.publishTimeout,
      deadline,
      now,
    });
    const { kept, error } = report;
    // Letters left by the deadline were not refused: close() reports them.
    if (kept === 0 || report.timedOut) return report;
    const pause = Math.min(config.bufferConfig.cleanupInterval, SHIP_PAUSE_MAX_MS);
    this.#shipPausedUntil = now() + pause;
    if (this.#timer !== undefined) {
      clearTimeout(this.#retry);
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.run();
      }, pause);
    }
    logger.warn(
      `${kept} dead letters could not be moved to ${deadLetterExchange}; kept locally` +
        (deadline === undefined ? `, next try in ${Math.round(pause / 1000)} s` : "") +
        (error ? ` (${error.message})` : ""),
    );
    return report;
  }
}
