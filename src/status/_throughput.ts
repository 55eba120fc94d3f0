// Throughput over the last minutes: a small ring of counter samples, taken
// whenever the status handler answers (no timer), and the rates between them.

/** The publisher's counters at one moment. */
export interface CounterSample {
  /** When (ms since the epoch). */
  at: number;
  published: number;
  failed: number;
  deadLettered: number;
}

/** One interval of the series: its end and its rates per second. */
export interface RatePoint {
  at: number;
  published: number;
  failed: number;
  deadLettered: number;
}

/** Rates over the whole window and per interval. */
export interface Throughput {
  /** The window the rates cover, in ms; 0 before a second sample. */
  windowMs: number;
  /** Events confirmed per second over the window. */
  publishedPerSecond: number;
  /** Failed attempts per second over the window. */
  failedPerSecond: number;
  /** Dead letters per second over the window. */
  deadLetteredPerSecond: number;
  /** The rates between consecutive samples, oldest first. */
  series: RatePoint[];
}

/**
 * Keeps at most `capacity` samples at least `intervalMs` apart; a sample
 * offered sooner than that after the last kept one is not kept.
 */
export class ThroughputRing {
  readonly #capacity: number;
  readonly #intervalMs: number;
  readonly #samples: CounterSample[] = [];

  constructor(capacity: number, intervalMs: number) {
    this.#capacity = capacity;
    this.#intervalMs = intervalMs;
  }

  /** Keeps `sample` if the last kept one is at least `intervalMs` older. */
  offer(sample: CounterSample): void {
    const last = this.#samples.at(-1);
    if (last !== undefined && sample.at - last.at < this.#intervalMs) return;
    this.#samples.push(sample);
    if (this.#samples.length > this.#capacity) this.#samples.shift();
  }

  /** The kept samples, oldest first. */
  samples(): readonly CounterSample[] {
    return this.#samples;
  }

  /** The rates from the oldest kept sample to `current`, the present. */
  rates(current: CounterSample): Throughput {
    const points = [...this.#samples];
    if (points.length === 0 || points.at(-1)!.at < current.at) points.push(current);
    const series: RatePoint[] = [];
    for (let i = 1; i < points.length; i++) series.push(rate(points[i - 1], points[i]));
    const first = points[0];
    const last = points.at(-1)!;
    const whole = rate(first, last);
    return {
      windowMs: last.at - first.at,
      publishedPerSecond: whole.published,
      failedPerSecond: whole.failed,
      deadLetteredPerSecond: whole.deadLettered,
      series,
    };
  }
}

function rate(from: CounterSample, to: CounterSample): RatePoint {
  const seconds = (to.at - from.at) / 1000;
  const per = (a: number, b: number) => seconds > 0 ? Math.max(0, b - a) / seconds : 0;
  return {
    at: to.at,
    published: per(from.published, to.published),
    failed: per(from.failed, to.failed),
    deadLettered: per(from.deadLettered, to.deadLettered),
  };
}
