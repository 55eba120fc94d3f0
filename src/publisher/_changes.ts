// What flush() waits on while it cannot send: the next change of the
// connection or the circuit (or the start of close()), with a deadline and
// an abort signal, and every timer and listener released.

import { withResolvers } from "../_async.ts";
import type { FlushOptions } from "./types.ts";

/**
 * `flush()`'s argument as options: a number is the timeout, as before.
 *
 * @throws {RangeError} When `timeoutMs` is not a positive number.
 */
export function flushOptions(
  options: number | FlushOptions,
  defaultTimeoutMs: number,
): { timeoutMs: number; signal?: AbortSignal } {
  const { timeoutMs = defaultTimeoutMs, signal } = typeof options === "number"
    ? { timeoutMs: options }
    : options;
  if (typeof timeoutMs !== "number" || !(timeoutMs > 0)) {
    throw new RangeError(`'timeoutMs' must be a positive number: got ${timeoutMs}`);
  }
  return { timeoutMs, signal };
}

/** Resolves the waiters of the next change, once. */
export class ChangeSignal {
  readonly #waiting = new Set<() => void>();

  /** A promise of the next change, and a way to stop waiting for it. */
  next(): { promise: Promise<void>; cancel: () => void } {
    const { promise, resolve } = withResolvers<void>();
    this.#waiting.add(resolve);
    return { promise, cancel: () => this.#waiting.delete(resolve) };
  }

  /** Something changed: wakes everyone waiting. */
  notify(): void {
    for (const resolve of this.#waiting) resolve();
    this.#waiting.clear();
  }
}

/**
 * Resolves when `promise` settles or `ms` passes, whichever comes first;
 * rejects with the signal's reason when `signal` aborts first.
 */
export function waitAtMost(
  promise: Promise<unknown>,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const release = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const done = () => {
      release();
      resolve();
    };
    const onAbort = () => {
      release();
      reject(signal?.reason);
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(done, done);
  });
}
