// How new dead letters are logged, so that a storm of them is a few lines,
// not one per event: the letters of one step (a settled batch, an expiry run)
// in one line per reason and error, and evictions by the overflow policy
// summed up once per burst.

import type { Logger } from "../logger.ts";
import type { DeadLetterRecord } from "../store/store.ts";
import { type EventPriority, PRIORITIES } from "../event.ts";

const IDS_SHOWN = 5;

/** Logs the letters made in one step: one line per reason and error message, with a few ids. */
export function logDeadLetters(logger: Logger, letters: readonly DeadLetterRecord[]): void {
  const groups = new Map<string, DeadLetterRecord[]>();
  for (const letter of letters) {
    const key = `${letter.reason}\u0000${letter.errorMessage ?? ""}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [letter]);
    else group.push(letter);
  }
  for (const group of groups.values()) {
    const [first] = group;
    const ids = group.slice(0, IDS_SHOWN).map((letter) => letter.id).join(", ");
    const more = group.length > IDS_SHOWN ? ` and ${group.length - IDS_SHOWN} more` : "";
    const what = group.length === 1
      ? `event ${first.id} (${first.type})`
      : `${group.length} events (${ids}${more})`;
    logger.warn(
      `${what} dead-lettered: ${first.reason}` +
        (first.errorMessage ? ` (${first.errorMessage})` : ""),
    );
  }
}

/**
 * Sums up evictions: the first one of a burst starts a window of `windowMs`;
 * when it ends, one line says how many were evicted in it, by priority.
 * `flush()` writes a pending line at once (at close).
 */
export class EvictionLog {
  readonly #logger: Logger;
  readonly #windowMs: number;
  readonly #policy: string;
  #count = 0;
  #byPriority: Record<EventPriority, number> = { high: 0, normal: 0, low: 0 };
  #startedAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #now: () => number;

  constructor(logger: Logger, policy: string, now: () => number, windowMs = 1_000) {
    this.#logger = logger;
    this.#policy = policy;
    this.#now = now;
    this.#windowMs = windowMs;
  }

  /** Counts evicted letters; the line comes at the end of the burst's window. */
  add(letters: readonly DeadLetterRecord[]): void {
    if (letters.length === 0) return;
    if (this.#count === 0) {
      this.#startedAt = this.#now();
      this.#timer = setTimeout(() => this.flush(), this.#windowMs);
    }
    this.#count += letters.length;
    for (const letter of letters) this.#byPriority[letter.priority]++;
  }

  /** Writes the line of the burst under way, if any, and stops its timer. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#count === 0) return;
    const byPriority = PRIORITIES.filter((p) => this.#byPriority[p] > 0)
      .map((p) => `${p} ${this.#byPriority[p]}`).join(", ");
    const seconds = ((this.#now() - this.#startedAt) / 1000).toFixed(1);
    this.#logger.warn(
      `buffer full: evicted ${this.#count} event${this.#count === 1 ? "" : "s"} to the dead ` +
        `letters in ${seconds} s ` +
        `(overflow policy ${this.#policy}; ${byPriority})`,
    );
    this.#count = 0;
    this.#byPriority = { high: 0, normal: 0, low: 0 };
  }
}
