// The latest dead letters for the status page: listed through the
// publisher's `deadLetters.list()`, cached for a while (listing reads the
// broker queue) and bounded in time. When the broker does not answer, the
// listing holds the local ones only, and says so.

import { maskCredentials } from "../_mask.ts";
import { settleWithin } from "../_async.ts";
import type { DeadLetterSummary, DeadLettersView } from "./_view.ts";

/**
 * Where the dead letters come from: the publisher's `deadLetters`, whose
 * letters carry more fields than these (only these are read).
 */
export interface DeadLetterSource {
  list(options: { limit: number }): Promise<{
    letters: readonly DeadLetterSummary[];
    brokerAvailable: boolean;
    brokerError?: string;
  }>;
  count(): Promise<{ total: number | null }>;
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
   */
  async get(): Promise<DeadLettersView> {
    if (this.#limit === 0) return { status: "off", items: [] };
    const cached = this.#cached;
    if (cached !== undefined && this.#now() - cached.at < this.#cacheMs) return cached.view;
    this.#listing ??= this.#list().finally(() => this.#listing = undefined);
    const view = await settleWithin(this.#listing, this.#timeoutMs);
    if (view !== undefined) return view;
    const note = `the dead letters were not listed within ${this.#timeoutMs} ms`;
    return cached === undefined ? { status: "unavailable", note, items: [] } : {
      ...cached.view,
      note: `${note}; shown as listed at ${new Date(cached.at).toISOString()}`,
    };
  }

  async #list(): Promise<DeadLettersView> {
    let view: DeadLettersView;
    try {
      const listed = await this.#source.list({ limit: this.#limit });
      const items = summarise(listed.letters);
      if (listed.brokerAvailable) {
        const { total } = await this.#source.count();
        view = total === null ? { status: "listed", items } : { status: "listed", items, total };
      } else {
        const note = `the broker's dead-letter queue could not be read: ${listed.brokerError}`;
        view = items.length > 0
          ? { status: "local-only", note, items }
          : { status: "unavailable", note, items };
      }
    } catch (error) {
      const note = `the dead letters could not be listed: ${message(error)}`;
      view = { status: "unavailable", note, items: [] };
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
