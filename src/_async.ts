// Small async helpers in the shape of @std/async (which cannot be installed
// here: the JSR registry is out of reach). Every timer they start is cleared.

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Settles like `promise`, or rejects with `onTimeout()` after `ms`, whichever
 * comes first. The timer is cleared either way.
 */
export function deadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Settles with `promise`'s outcome, or with `undefined` after `ms`; never rejects. */
export function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return deadline(promise, ms, () => new Error("timeout")).catch(() => undefined);
}

/**
 * Runs async jobs one at a time, in the order they were queued: each starts
 * once the one before it has settled, whatever its outcome.
 */
export class Exclusive {
  #tail: Promise<unknown> = Promise.resolve();

  /** Queues `job`; settles like it. */
  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(job);
    this.#tail = result.catch(() => {});
    return result;
  }

  /** Resolves once every job queued so far has settled; never rejects. */
  settled(): Promise<void> {
    return this.#tail.then(() => {});
  }
}

/** A promise with its resolve and reject functions. */
export interface Resolvers<T> {
  /** The promise. */
  promise: Promise<T>;
  /** Fulfils it. */
  resolve: (value: T | PromiseLike<T>) => void;
  /** Rejects it. */
  reject: (reason?: unknown) => void;
}

/** `Promise.withResolvers()`, which Node 20 lacks. */
export function withResolvers<T>(): Resolvers<T> {
  let resolve!: (value: T | PromiseLike<T>) => void;
  let reject!: (reason?: unknown) => void;
  const promise = new Promise<T>((fulfil, fail) => {
    resolve = fulfil;
    reject = fail;
  });
  return { promise, resolve, reject };
}
