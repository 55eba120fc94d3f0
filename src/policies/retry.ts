/**
 * The retry schedule of failed sends: exponential backoff with full jitter.
 *
 * `maxRetries` is the total number of delivery attempts; after the
 * `maxRetries`-th failed attempt the event becomes a dead letter with reason
 * `max-retries` (the publisher's settle step applies that rule).
 *
 * @module
 */

import type { RetryConfig } from "../config/types.ts";

/**
 * The longest delay before the next attempt, before jitter: `baseDelay *
 * multiplier ** (attempt - 1)`, capped at `maxDelay`, in whole milliseconds.
 * Huge attempt numbers do not overflow: the growth saturates at `maxDelay`.
 *
 * @param attempt The number of failed attempts so far, starting at 1.
 * @param options The resolved retry options (`baseDelay`, `maxDelay`, `multiplier`).
 * @returns The cap of the next delay, in ms: an integer from 0 to `maxDelay`.
 * @throws {RangeError} If `attempt` is not a positive integer.
 *
 * @example
 * ```ts
 * import { ceilingDelay } from "./retry.ts";
 *
 * const options = { maxRetries: 5, baseDelay: 1_000, maxDelay: 60_000, multiplier: 2 };
 * console.log(ceilingDelay(1, options)); // 1000
 * console.log(ceilingDelay(3, options)); // 4000
 * console.log(ceilingDelay(100, options)); // 60000
 * ```
 */
export function ceilingDelay(
  attempt: number,
  options: Pick<Required<RetryConfig>, "baseDelay" | "maxDelay" | "multiplier">,
): number {
  if (!Number.isSafeInteger(attempt) || attempt < 1) {
    throw new RangeError(`'attempt' must be a positive integer: got ${attempt}`);
  }
  const { baseDelay, maxDelay, multiplier } = options;
  // 0 * Infinity is NaN, so a zero base must not meet an overflowed growth.
  if (baseDelay <= 0 || maxDelay <= 0) return 0;
  // Past maxDelay the exact value no longer matters; Infinity compares fine.
  const uncapped = baseDelay * multiplier ** (attempt - 1);
  return Math.floor(Math.min(maxDelay, uncapped));
}

/**
 * The delay before the next attempt of a failed send: exponential backoff
 * with full jitter, `random() * min(maxDelay, baseDelay * multiplier **
 * (attempt - 1))`, in whole milliseconds. Full jitter spreads the retries of
 * many events that failed together (one broker outage) over the whole window,
 * instead of sending them back in one burst.
 *
 * @param attempt The number of failed attempts so far, starting at 1.
 * @param options The resolved retry options (`baseDelay`, `maxDelay`, `multiplier`).
 * @param random A source of numbers in `[0, 1)`; inject a fixed one in tests.
 * @returns The delay in ms: an integer from 0 up to {@linkcode ceilingDelay}, never more.
 * @throws {RangeError} If `attempt` is not a positive integer.
 *
 * @example
 * ```ts
 * import { backoffDelay } from "./retry.ts";
 *
 * const options = { maxRetries: 5, baseDelay: 1_000, maxDelay: 60_000, multiplier: 2 };
 * console.log(backoffDelay(3, options, () => 0.5)); // 2000: half of the 4000 ms ceiling
 * const delay = backoffDelay(3, options);
 * console.log(delay >= 0 && delay <= 4_000); // true
 * ```
 */
export function backoffDelay(
  attempt: number,
  options: Pick<Required<RetryConfig>, "baseDelay" | "maxDelay" | "multiplier">,
  random: () => number = Math.random,
): number {
  const ceiling = ceilingDelay(attempt, options);
  // A misbehaving random source (NaN, 1, negative) must not push the delay
  // outside [0, ceiling].
  const fraction = Math.min(1, Math.max(0, random()));
  return Math.floor(fraction * ceiling) || 0;
}
