/**
 * The circuit breaker in front of the broker: after `failureThreshold`
 * consecutive failed sends (or at once, on connection loss) it stops sends for
 * `resetTimeout` ms, then lets one probe through; the probe's outcome closes
 * or re-opens it.
 *
 * The breaker uses no timers. It reads an injected clock and changes state
 * when asked; {@linkcode CircuitBreaker.prototype.reopensAt} tells the
 * publisher when to wake up and ask.
 *
 * @module
 */

import type { CircuitBreakerConfig } from "../config/types.ts";

/**
 * The state of a circuit: `closed` lets sends through, `open` stops them, and
 * `half_open` lets one probe through to test the broker.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, type CircuitState } from "@simplycaster/rabbitmq-publisher";
 *
 * const state: CircuitState = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 1_000 }).state;
 * console.log(state); // "closed"
 * ```
 */
export type CircuitState = "closed" | "open" | "half_open";

/**
 * A change of a circuit's state, as reported to `onStateChange`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, type CircuitStateChange } from "@simplycaster/rabbitmq-publisher";
 *
 * const changes: CircuitStateChange[] = [];
 * const breaker = new CircuitBreaker({
 *   failureThreshold: 5,
 *   resetTimeout: 1_000,
 *   now: () => 42,
 *   onStateChange: (change) => changes.push(change),
 * });
 * breaker.trip("connection lost");
 * console.log(changes); // [{ from: "closed", to: "open", reason: "connection lost", at: 42 }]
 * ```
 */
export interface CircuitStateChange {
  /** The state before. */
  readonly from: CircuitState;
  /** The state after. */
  readonly to: CircuitState;
  /** Why, for example `"5 consecutive failures: TransportError: ..."`. */
  readonly reason: string;
  /** When, in ms since the epoch (by the breaker's clock). */
  readonly at: number;
}

/**
 * Options of {@linkcode CircuitBreaker}.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, type CircuitBreakerOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * let time = 0;
 * const options: CircuitBreakerOptions = {
 *   failureThreshold: 3,
 *   resetTimeout: 10_000,
 *   now: () => time, // a fake clock: no waiting in tests
 *   onStateChange: ({ from, to }) => console.log(`${from} -> ${to}`),
 * };
 * const breaker = new CircuitBreaker(options);
 * breaker.trip("connection lost"); // closed -> open
 * time = 10_000;
 * console.log(breaker.state); // open -> half_open, then "half_open"
 * ```
 */
export interface CircuitBreakerOptions extends Required<CircuitBreakerConfig> {
  /**
   * The clock, in ms since the epoch.
   * @default {Date.now}
   */
  now?: () => number;
  /**
   * Called once for every change of state, after the change. What it throws
   * is ignored: a faulty listener must not break the breaker.
   */
  onStateChange?: (change: CircuitStateChange) => void;
}

/**
 * What {@linkcode CircuitBreaker.prototype.snapshot} returns.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, type CircuitBreakerSnapshot } from "@simplycaster/rabbitmq-publisher";
 *
 * const breaker = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 1_000, now: () => 7 });
 * breaker.recordFailure("nack");
 * const snapshot: CircuitBreakerSnapshot = breaker.snapshot();
 * console.log(snapshot); // { state: "closed", consecutiveFailures: 1, transitions: 0 }
 * ```
 */
export interface CircuitBreakerSnapshot {
  /** The current state. */
  readonly state: CircuitState;
  /** Failed sends since the last success. */
  readonly consecutiveFailures: number;
  /** When the circuit last opened; present while it is open or half open. */
  readonly openedAt?: number;
  /** The most recent change of state, if there was one. */
  readonly lastTransition?: CircuitStateChange;
  /** How many changes of state there have been. */
  readonly transitions: number;
}

// Internals are replaced whole, so a state never carries another state's data.
type Internal =
  | { readonly state: "closed"; readonly consecutiveFailures: number }
  | {
    readonly state: "open";
    readonly consecutiveFailures: number;
    readonly openedAt: number;
  }
  | {
    readonly state: "half_open";
    readonly consecutiveFailures: number;
    readonly openedAt: number;
    readonly probeInFlight: boolean;
  };

/**
 * A circuit breaker with consecutive-failure counting, an open period, and a
 * single probe in the half-open state. It uses no timers: time is read from
 * the injected clock whenever the state is asked for.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
 *
 * let time = 0;
 * const breaker = new CircuitBreaker({
 *   failureThreshold: 2,
 *   resetTimeout: 1_000,
 *   now: () => time,
 *   onStateChange: ({ from, to, reason }) => console.log(`${from} -> ${to}: ${reason}`),
 * });
 *
 * breaker.recordFailure("nack");
 * breaker.recordFailure("nack"); // closed -> open
 * console.log(breaker.allowsSend()); // false
 * console.log(breaker.reopensAt()); // 1000
 *
 * time = 1_000;
 * console.log(breaker.allowsSend()); // true: open -> half_open, this caller is the probe
 * console.log(breaker.allowsSend()); // false: the probe is still out
 * breaker.recordSuccess(); // half_open -> closed
 * console.log(breaker.state); // "closed"
 * ```
 */
export class CircuitBreaker {
  readonly #failureThreshold: number;
  readonly #resetTimeout: number;
  readonly #now: () => number;
  readonly #onStateChange?: (change: CircuitStateChange) => void;
  #internal: Internal = { state: "closed", consecutiveFailures: 0 };
  #lastTransition?: CircuitStateChange;
  #transitions = 0;

  /**
   * Creates a breaker in the `closed` state.
   *
   * @param options The threshold, the open period, and optionally the clock
   * and a listener for changes of state.
   * @throws {RangeError} If `failureThreshold` is not a positive integer, or
   * `resetTimeout` is not a finite number of ms ≥ 0.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
   *
   * try {
   *   new CircuitBreaker({ failureThreshold: 0, resetTimeout: 1_000 });
   * } catch (error) {
   *   console.log((error as RangeError).message); // 'failureThreshold' must be a positive integer: got 0
   * }
   * ```
   */
  constructor(options: CircuitBreakerOptions) {
    const { failureThreshold, resetTimeout, now = Date.now, onStateChange } = options;
    if (!Number.isSafeInteger(failureThreshold) || failureThreshold < 1) {
      throw new RangeError(
        `'failureThreshold' must be a positive integer: got ${failureThreshold}`,
      );
    }
    if (!Number.isFinite(resetTimeout) || resetTimeout < 0) {
      throw new RangeError(
        `'resetTimeout' must be a finite number of ms >= 0: got ${resetTimeout}`,
      );
    }
    this.#failureThreshold = failureThreshold;
    this.#resetTimeout = resetTimeout;
    this.#now = now;
    this.#onStateChange = onStateChange;
  }

  /**
   * The current state. Reading it moves an open circuit whose `resetTimeout`
   * has elapsed to `half_open`.
   *
   * @returns `"closed"`, `"open"` or `"half_open"`.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 30_000 });
   * console.log(breaker.state); // "closed"
   * ```
   */
  get state(): CircuitState {
    return this.#refresh().state;
  }

  /**
   * Asks whether a send may go to the broker now. In `closed`, always. In
   * `open`, never, until `resetTimeout` has elapsed: then the circuit moves
   * to `half_open`. In `half_open`, only the first caller gets `true`: it
   * sends the probe, and everyone else gets `false` until the probe's outcome
   * is recorded with {@linkcode CircuitBreaker.prototype.recordSuccess} or
   * {@linkcode CircuitBreaker.prototype.recordFailure}, or the probe is given
   * back with {@linkcode CircuitBreaker.prototype.releaseProbe}.
   *
   * @returns Whether the caller may send.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 30_000 });
   * console.log(breaker.allowsSend()); // true
   * breaker.trip("connection lost");
   * console.log(breaker.allowsSend()); // false
   * ```
   */
  allowsSend(): boolean {
    const current = this.#refresh();
    switch (current.state) {
      case "closed":
        return true;
      case "open":
        return false;
      case "half_open":
        if (current.probeInFlight) return false;
        this.#internal = { ...current, probeInFlight: true };
        return true;
    }
  }

  /**
   * Records a confirmed send. It resets the count of consecutive failures,
   * and in `half_open` closes the circuit: the broker works again. In `open`
   * it is ignored: it is the late outcome of a send that started before the
   * circuit opened, and says nothing about the broker now.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 3, resetTimeout: 30_000 });
   * breaker.recordFailure("timeout");
   * breaker.recordSuccess();
   * console.log(breaker.snapshot().consecutiveFailures); // 0
   * ```
   */
  recordSuccess(): void {
    const current = this.#refresh();
    switch (current.state) {
      case "closed":
        this.#internal = { state: "closed", consecutiveFailures: 0 };
        return;
      case "open":
        return;
      case "half_open":
        this.#moveTo({ state: "closed", consecutiveFailures: 0 }, "probe succeeded");
        return;
    }
  }

  /**
   * Records a failed send. In `closed`, the circuit opens when the
   * consecutive failures reach `failureThreshold`. In `half_open` the probe
   * failed: the circuit opens again and the `resetTimeout` starts over. In
   * `open` only the count grows: late failures of sends that started before
   * the circuit opened do not prolong it.
   *
   * @param reason What failed, for the change-of-state report.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 30_000 });
   * breaker.recordFailure("nack");
   * console.log(breaker.state); // "closed"
   * breaker.recordFailure("nack");
   * console.log(breaker.state); // "open"
   * ```
   */
  recordFailure(reason: string): void {
    const current = this.#refresh();
    const consecutiveFailures = current.consecutiveFailures + 1;
    switch (current.state) {
      case "closed":
        if (consecutiveFailures < this.#failureThreshold) {
          this.#internal = { state: "closed", consecutiveFailures };
        } else {
          this.#open(consecutiveFailures, `${consecutiveFailures} consecutive failures: ${reason}`);
        }
        return;
      case "open":
        this.#internal = { ...current, consecutiveFailures };
        return;
      case "half_open":
        this.#open(consecutiveFailures, `probe failed: ${reason}`);
        return;
    }
  }

  /**
   * Opens the circuit at once, whatever the count of failures, for example
   * when the connection is lost. An already open circuit stays as it is, and
   * its `resetTimeout` does not start over.
   *
   * @param reason Why, for the change-of-state report.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 30_000 });
   * breaker.trip("connection lost");
   * console.log(breaker.state); // "open"
   * ```
   */
  trip(reason: string): void {
    const current = this.#refresh();
    if (current.state !== "open") this.#open(current.consecutiveFailures, reason);
  }

  /**
   * Closes the circuit at once and clears the count of failures, for example
   * when a new connection to the broker is established: the failures it
   * counted belonged to the connection that is gone, and waiting out
   * `resetTimeout` would only delay the backlog. A closed circuit stays as it
   * is, apart from the count.
   *
   * @param reason Why, for the change-of-state report.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 30_000 });
   * breaker.trip("connection lost");
   * breaker.reset("connection re-established");
   * console.log(breaker.state); // "closed"
   * ```
   */
  reset(reason: string): void {
    this.#moveTo({ state: "closed", consecutiveFailures: 0 }, reason);
  }

  /**
   * Gives back the probe that {@linkcode CircuitBreaker.prototype.allowsSend}
   * granted in `half_open` when the caller ended up sending nothing (for
   * example, nothing was ready), so that the next caller may probe. Outside
   * `half_open`, or with no probe out, it does nothing.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 0 });
   * breaker.trip("connection lost");
   * console.log(breaker.allowsSend()); // true: the probe
   * breaker.releaseProbe();
   * console.log(breaker.allowsSend()); // true: the probe again
   * ```
   */
  releaseProbe(): void {
    const current = this.#refresh();
    if (current.state === "half_open" && current.probeInFlight) {
      this.#internal = { ...current, probeInFlight: false };
    }
  }

  /**
   * When an open circuit will let a probe through: the time to schedule a
   * wake-up for, since the breaker has no timers of its own.
   *
   * @returns The time in ms since the epoch (by the breaker's clock), or
   * `undefined` when the circuit is not open (including when the timeout has
   * already elapsed: the circuit is then half open).
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 30_000, now: () => 0 });
   * console.log(breaker.reopensAt()); // undefined
   * breaker.trip("connection lost");
   * console.log(breaker.reopensAt()); // 30000
   * ```
   */
  reopensAt(): number | undefined {
    const current = this.#refresh();
    return current.state === "open" ? current.openedAt + this.#resetTimeout : undefined;
  }

  /**
   * The breaker's state and counters, for health checks and metrics.
   *
   * @returns A copy that later changes do not affect.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "@simplycaster/rabbitmq-publisher";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 30_000 });
   * breaker.trip("connection lost");
   * const { state, transitions, lastTransition } = breaker.snapshot();
   * console.log(state, transitions, lastTransition?.reason); // "open" 1 "connection lost"
   * ```
   */
  snapshot(): CircuitBreakerSnapshot {
    const current = this.#refresh();
    return {
      state: current.state,
      consecutiveFailures: current.consecutiveFailures,
      ...(current.state === "closed" ? {} : { openedAt: current.openedAt }),
      ...(this.#lastTransition ? { lastTransition: this.#lastTransition } : {}),
      transitions: this.#transitions,
    };
  }

  #open(consecutiveFailures: number, reason: string): void {
    const at = this.#now();
    this.#moveTo({ state: "open", consecutiveFailures, openedAt: at }, reason, at);
  }

  // Open circuits turn half open when asked, not by a timer.
  #refresh(): Internal {
    const current = this.#internal;
    if (current.state !== "open") return current;
    const at = this.#now();
    if (at >= current.openedAt + this.#resetTimeout) {
      this.#moveTo(
        { ...current, state: "half_open", probeInFlight: false },
        `resetTimeout of ${this.#resetTimeout} ms elapsed`,
        at,
      );
    }
    return this.#internal;
  }

  // The one place a state changes, so every change is reported exactly once.
  #moveTo(next: Internal, reason: string, at: number = this.#now()): void {
    const from = this.#internal.state;
    this.#internal = next;
    if (from === next.state) return;
    const change: CircuitStateChange = Object.freeze({
      from,
      to: next.state,
      reason,
      at,
    });
    this.#lastTransition = change;
    this.#transitions++;
    try {
      this.#onStateChange?.(change);
    } catch {
      // A faulty listener must not leave the breaker half-changed or throw
      // into the send path; the change itself is already complete.
    }
  }
}
