// Which dead letters a command works on: the filters `--reason`, `--type`
// and `--older-than`.

import type { DeadLetter } from "../dead_letters/dead_letter.ts";

/** The filters of `list`, `replay` and `purge`; a letter must match every one given. */
export interface LetterFilter {
  /** Any of these reasons. */
  reasons?: string[];
  /** Any of these event types; `*` matches any text. */
  types?: string[];
  /** Dead-lettered more than this many ms ago. */
  olderThanMs?: number;
}

/** Whether any filter is set. */
export function isFiltered(filter: LetterFilter): boolean {
  return filter.reasons !== undefined || filter.types !== undefined ||
    filter.olderThanMs !== undefined;
}

/** The predicate of `filter`, with ages measured at `now`. */
export function matcher(filter: LetterFilter, now: number): (letter: DeadLetter) => boolean {
  const types = filter.types?.map(glob);
  const cutoff = filter.olderThanMs === undefined ? undefined : now - filter.olderThanMs;
  return (letter) =>
    (filter.reasons === undefined || filter.reasons.includes(letter.reason)) &&
    (types === undefined || types.some((type) => type.test(letter.type))) &&
    (cutoff === undefined || letter.deadLetteredAt < cutoff);
}

function glob(pattern: string): RegExp {
  const escaped = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${escaped.join(".*")}$`, "s");
}
