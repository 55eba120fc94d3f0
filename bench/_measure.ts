// Timing and statistics of the benchmark: wall time with the CPU time of
// this process over the same span, medians and percentiles.

import process from "node:process";

/** Wall and CPU time of one measured span. */
export interface Span {
  /** Wall time, in seconds. */
  seconds: number;
  /** CPU time of this process (user + system, every thread), in µs. */
  cpuMicros: number;
}

/** Starts a span; the returned function ends it. */
export function startSpan(): () => Span {
  const cpu = process.cpuUsage();
  const started = performance.now();
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return { seconds, cpuMicros: used.user + used.system };
  };
}

/** The median of some numbers (NaN for none). */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The `p` quantile (0..1) of ascending values, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Throughput and CPU per event of a span over `count` events. */
export function rate(span: Span, count: number): { throughput: number; cpu: number } {
  return { throughput: count / span.seconds, cpu: span.cpuMicros / count };
}
