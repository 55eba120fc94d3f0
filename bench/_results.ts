// What a run of the benchmark measures and writes as JSON: one figure of one
// row over the rounds, and the run as a whole. Shared by the run, its report
// and its chart.

import type { Group } from "./_rows.ts";

/** One figure of one row over the rounds. */
export interface Metric {
  /** Stable id: `<row>.<figure>`, e.g. `memory.throughput`. */
  id: string;
  /** The row's id. */
  row: string;
  /** The row's group. */
  group: Group;
  /** What the row measures. */
  label: string;
  /** The figure: `throughput`, `cpu`, `p50`, `p99`, `max`, `heap`, `rss`, `drainSeconds`, ... */
  key: string;
  /** `events/s`, `µs/event`, `ms`, `B/event`, `MB` or `s`. */
  unit: string;
  /** Whether the row is a reference. */
  reference: boolean;
  /** The queue type. */
  queueType: string;
  /** Events per run, and their encoded size. */
  events: number;
  bytes: number;
  /** In-flight bound, where the row has one. */
  inFlight?: number;
  /** One figure per round. */
  runs: number[];
  median: number;
  min: number;
  max: number;
  /** Median over the reference's median: the best reference for throughput, the raw loop for CPU. */
  ratio?: number;
  /** The row it is compared to. */
  comparedTo?: string;
  /** The target on this figure, if any, and whether the median meets it. */
  target?: { text: string; met: boolean };
}

/** What `runBenchmarks()` in `publisher_bench.ts` returns (and writes as JSON). */
export interface Results {
  /** When the run started (ISO 8601). */
  date: string;
  /** Runtime versions and machine. */
  environment: {
    deno: string;
    v8: string;
    node?: string;
    os: string;
    cpus: number;
    load?: number[];
  };
  /** The options the run used. */
  options: { events: number; runs: number; warmUp: boolean; backlogs: readonly number[] };
  /** Every figure. */
  metrics: Metric[];
  /** Rows that could not run, and why. */
  skipped: { row: string; reason: string }[];
  /** Wall time of the whole run, in ms. */
  totalMs: number;
}
