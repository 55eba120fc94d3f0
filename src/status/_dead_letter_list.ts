// The latest dead letters for the status page: listed through the
// publisher's `deadLetters.list()`, cached for a while (listing reads the
// broker queue), bounded in time, and falling back to the local ones when
// the broker does not answer.

import { maskCredentials } from "../_mask.ts";
import { settleWithin } from "../_async.ts";
import type { DeadLetterSummary, DeadLettersView } from "./_view.ts";

/**
 * Where the dead letters come from: the publisher's `deadLetters`, whose
 * letters carry more fields than these (only these are read).
 */
export interface DeadLetterSource {
  list(options: { limit: number }): Promise<readonly DeadLetterSummary[]>;
  count(): Promise<{ local: number; broker: number; total: number }>;
}

/** Lists, caches and times out; one listing at a time. */
export class DeadLetterList {
  readonly #source: DeadLetterSource;
  readonly #limit: number;
  readonly #cacheMs: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #cached: { at: number; view: DeadLettersView } | undefined;
  #listing: Promise<DeadLettersView> | undefined;

  constructor(
    source: DeadLetterSource,
    options: { limit: number; cacheMs: number; timeoutMs: number; now: () => number },
  ) {
    this.#source = source;
    this.#limit = options.limit;
    this.#cacheMs = options.cacheMs;
    this.#timeoutMs = options.timeoutMs;
    this.#now = options.now;
  }

  /**
   * The latest dead letters: from the cache while fresh, else listed anew.
   * A listing that takes longer than the timeout goes on in the background;
   * meanwhile the last listing (or a note) is returned.
   *
   * @param localCount How many dead letters are held locally, for the fallback.
   */
  async get(localCount: number): Promise<DeadLettersView> {
    if (this.#limit === 0) return { status: "off", items: [] };
    const cached = this.#cached;
    if (cached !== undefined && this.#now() - cached.at < this.#cacheMs) return cached.view;
    this.#listing ??= this.#list(localCount).finally(() => this.#listing = undefined);
    const view = await settleWithin(this.#listing, this.#timeoutMs);
    if (view !== undefined) return view;
    const note = `the dead letters were not listed within ${this.#timeoutMs} ms`;
    return cached === undefined ? { status: "unavailable", note, items: [] } : {
      ...cached.view,
      note: `${note}; shown as listed at ${new Date(cached.at).toISOString()}`,
    };
  }

  async #list(localCount: number): Promise<DeadLettersView> {
    let view: DeadLettersView;
    try {
      const items = summarise(await this.#source.list({ limit: this.#limit }));
      view = { status: "listed", items, total: (await this.#source.count()).total };
    } catch (error) {
      const note = `the broker's dead-letter queue could not be read: ${message(error)}`;
      // Asking for no more than the local ones reads no broker queue.
      const local = Math.min(this.#limit, localCount);
      if (local === 0) {
        view = { status: "unavailable", note, items: [] };
      } else {
        try {
          const items = summarise(await this.#source.list({ limit: local }));
          view = { status: "local-only", note, items };
        } catch (again) {
          view = { status: "unavailable", note: `${note}; locally: ${message(again)}`, items: [] };
        }
      }
    }
    this.#cached = { at: this.#now(), view };
    return view;
  }
}

/** The summaries, newest first. */
function summarise(letters: readonly DeadLetterSummary[]): DeadLetterSummary[] {
  const summaries = letters.map((letter) => {
    const summary: DeadLetterSummary = {
      id: letter.id,
      type: letter.type,
      reason: letter.reason,
      attempts: letter.attempts,
      deadLetteredAt: letter.deadLetteredAt,
      location: letter.location,
    };
    if (letter.errorMessage) summary.errorMessage = maskCredentials(letter.errorMessage);
    return summary;
  });
  return summaries.sort((a, b) => b.deadLetteredAt - a.deadLetteredAt);
}

function message(error: unknown): string {
  return maskCredentials(error instanceof Error ? error.message : String(error));
}
