// What close() reports and logs about what is left: kept on disk with
// persistence, lost without, and a loss is said at `warn` with its counts.

import type { Logger } from "../logger.ts";
import type { CloseReport } from "./types.ts";

/** The report of a close that left `left` behind, logged once. */
export function closeReport(
  left: { events: number; deadLetters: number },
  how: { persistent: boolean; timedOut: boolean; ms: number },
  logger: Logger,
): CloseReport {
  const { persistent, timedOut, ms } = how;
  const what = `${left.events} pending events and ${left.deadLetters} local dead letters`;
  if (left.events + left.deadLetters === 0) {
    logger.info(`publisher closed in ${ms} ms; nothing left pending`);
  } else if (persistent) {
    logger.info(`publisher closed in ${ms} ms; ${what} kept on disk for the next start`);
  } else {
    logger.warn(
      `publisher closed in ${ms} ms; lost ${what}: persistence is off, so they were held in ` +
        `memory only`,
    );
  }
  return {
    remaining: left.events,
    localDeadLetters: left.deadLetters,
    timedOut,
    persistent,
    lost: persistent ? { events: 0, deadLetters: 0 } : { ...left },
  };
}
