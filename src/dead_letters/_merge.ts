// One list of local and broker dead letters in which a letter caught on its
// way from the store to the broker appears once.

import type { DeadLetter } from "./dead_letter.ts";

/**
 * The local letters, then the broker ones, each letter once. A letter being
 * moved is in the store until the broker has confirmed its copy, so it can be
 * read in both places: the two copies share the id and the dead-letter time
 * (the broker's `x-dead-lettered-at` keeps the millisecond), and the broker
 * copy, the one that stays, is kept.
 */
export function mergeLetters(
  local: readonly DeadLetter[],
  broker: readonly DeadLetter[],
): DeadLetter[] {
  const onBroker = new Set(broker.map(identity));
  return [...local.filter((letter) => !onBroker.has(identity(letter))), ...broker];
}

function identity(letter: DeadLetter): string {
  return `${letter.deadLetteredAt} ${letter.id}`;
}
