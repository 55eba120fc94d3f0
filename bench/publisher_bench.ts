/**
 * Benchmarks of the publisher against the local RabbitMQ, beside the
 * references a user could pick instead (a plain loop on the raw
 * `@cloudamqp/amqp-client`, amqp-connection-manager + amqplib in Deno and in
 * Node), all measured in one run, interleaved by round, each row with its
 * ratio to the best reference of that run and its CPU time per event.
 *
 * ```sh
 * deno task bench                        # 50,000 events, 3 rounds after a warm-up round
 * deno task bench --events 10000 --runs 5
 * deno task bench --smoke                # a few hundred events, 1 round, nothing written
 * deno task bench --only memory,kv       # a subset (the references and the rows compared with run too)
 * deno task bench --backlog 10000,100000,1000000
 * deno task bench --save                 # also write bench/results/<date>.json and bench/chart.svg
 * ```
 *
 * Figures go to `bench/results/local/` (ignored by git); `--save` writes
 * them to the tracked `bench/results/<date>.json`, `bench/results/latest.json`
 * and `bench/chart.svg`, which the README shows.
 *
 * @module
 */

import { isDisturbance, settle } from "./_broker.ts";
import type { Context, Figures } from "./_context.ts";
import { median } from "./_measure.ts";
import { formatTable } from "./_report.ts";
import { type Group, GROUPS, type Row, rows } from "./_rows.ts";
import { renderChart } from "./chart.ts";
import type { Metric, Results } from "./_results.ts";

export { formatTable };

/** Options of {@linkcode runBenchmarks}. */
export interface BenchOptions {
  /** Events per headline row. @default {50000, or 300 with `smoke`} */
  events?: number;
  /** Measured rounds. @default {3, or 1 with `smoke`} */
  runs?: number;
  /** A quick run: few events, one round, no warm-up, nothing written unless `out` is given. */
  smoke?: boolean;
  /** Write the figures to the tracked `bench/results/` and `bench/chart.svg`. */
  save?: boolean;
  /** Where to write the JSON and the chart instead (a directory). */
  out?: string;
  /** Row groups to run (with the references and the rows they are compared with); all when absent. */
  only?: readonly Group[];
  /** Backlog sizes. @default {[10000, 100000], or [events] with `smoke`} */
  backlogs?: readonly number[];
  /** The broker. @default {"amqp://guest:guest@127.0.0.1:5672" or $BENCH_RABBITMQ_URL} */
  url?: string;
  /** Progress lines. @default {console.error, silent with `smoke`} */
  log?: (line: string) => void;
}

const DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672";
const UNITS: Record<string, string> = {
  throughput: "events/s",
  bufferRate: "events/s",
  cpu: "µs/event",
  p50: "ms",
  p99: "ms",
  max: "ms",
  heap: "B/event",
  rss: "B/event",
  heapMB: "MB",
  rssMB: "MB",
  drainSeconds: "s",
};

/** A seeded shuffle, so that no row always follows the same one. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed * 2654435761 >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Runs the benchmark against the broker and returns every figure; writes
 * the JSON and the chart unless `smoke` is set without `out`.
 *
 * @param options Event counts, rounds, output and the groups to run.
 * @returns The figures, with ratios to the best reference and targets met or missed.
 *
 * @example
 * ```ts ignore
 * import { runBenchmarks } from "./publisher_bench.ts";
 *
 * const results = await runBenchmarks({ smoke: true });
 * console.log(results.metrics.length);
 * ```
 */
export async function runBenchmarks(options: BenchOptions = {}): Promise<Results> {
  const smoke = options.smoke ?? false;
  const events = options.events ?? (smoke ? 300 : 50_000);
  const runs = options.runs ?? (smoke ? 1 : 3);
  const backlogs = options.backlogs ?? (smoke ? [events] : [10_000, 100_000]);
  const warmUp = !smoke;
  const log = options.log ?? (smoke ? () => {} : (line: string) => console.error(line));
  const url = options.url ?? Deno.env.get("BENCH_RABBITMQ_URL") ?? DEFAULT_URL;
  const only = new Set<string>(options.only ?? GROUPS);
  const started = performance.now();
  const date = new Date().toISOString();

  let tags = 0;
  const ctx: Context = { url, tag: () => `run${String(tags++).padStart(5, "0")}` };
  const all = rows({
    events,
    slowEvents: Math.min(events, 20_000),
    ceilingEvents: smoke ? events : Math.max(events, 100_000),
    backlogs,
    backlogInProcess: smoke,
  });
  // The rows asked for, the references, and the rows they are compared with.
  const asked = all.filter((row) => only.has(row.group) || row.group === "references");
  const compared = new Set(asked.flatMap((row) => row.compareTo ?? []));
  const chosen = all.filter((row) => asked.includes(row) || compared.has(row.id));
  const attempt = async (row: Row, count: number, what: string): Promise<Figures> => {
    for (let tries = 1;; tries++) {
      try {
        return await row.run(ctx, count);
      } catch (error) {
        if (!isDisturbance(error) || tries >= 5) throw error;
        log(`${row.id}: ${what} disturbed (${(error as Error).message}); repeating it`);
        await new Promise((resolve) => setTimeout(resolve, 2_000 * tries));
      }
    }
  };
  if (warmUp) {
    for (const row of chosen) {
      if (row.group === "backlog") continue;
      log(`${row.id}: warm-up`);
      await attempt(row, Math.min(row.count, 2_000), "warm-up");
    }
  }
  const figures = new Map<string, Figures[]>(chosen.map((row) => [row.id, []]));
  for (let round = 0; round < runs; round++) {
    for (const row of shuffled(chosen, round + 1)) {
      await settle(smoke ? 0 : 250);
      const t0 = performance.now();
      const result = await attempt(row, row.count, `round ${round + 1}`);
      figures.get(row.id)!.push(result);
      const shown = Object.entries(result)
        .map(([key, v]) => `${key} ${v.toFixed(Math.abs(v) < 10 ? 3 : 0)}`)
        .join(", ");
      log(`${row.id}: round ${round + 1}/${runs}: ${shown} (${(performance.now() - t0) | 0} ms)`);
    }
  }
  const { metrics, skipped } = summarise(chosen, figures);
  const results: Results = {
    date,
    environment: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      node: await nodeVersion(),
      os: `${Deno.build.os} ${Deno.build.arch}`,
      cpus: navigator.hardwareConcurrency,
      load: Deno.loadavg(),
    },
    options: { events, runs, warmUp, backlogs },
    metrics,
    skipped,
    totalMs: performance.now() - started,
  };
  const out = options.out ??
    (smoke ? undefined : new URL("./results/local", import.meta.url).pathname);
  if (out !== undefined) await writeResults(results, out, "chart.svg");
  if (options.save) {
    await writeResults(results, new URL("./results", import.meta.url).pathname, "../chart.svg");
  }
  return results;
}

async function nodeVersion(): Promise<string | undefined> {
  try {
    const output = await new Deno.Command("node", { args: ["--version"], stdout: "piped" })
      .output();
    return output.success ? new TextDecoder().decode(output.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Medians per figure, ratios to the best reference, and the targets. */
function summarise(
  chosen: readonly Row[],
  figures: ReadonlyMap<string, Figures[]>,
): { metrics: Metric[]; skipped: Results["skipped"] } {
  const medianOf = (row: string, key: string) =>
    median((figures.get(row) ?? []).map((f) => f[key] ?? NaN));
  const skipped: Results["skipped"] = [];
  const metrics: Metric[] = [];
  for (const row of chosen) {
    const runs = figures.get(row.id) ?? [];
    if (runs.every((f) => Object.values(f).every(Number.isNaN))) {
      skipped.push({ row: row.id, reason: "not available here (see the log)" });
      continue;
    }
    const references = row.compareTo ?? chosen
      .filter((r) => r.reference && r.queueType === row.queueType && r.bytes === row.bytes)
      .map((r) => r.id);
    const best = references
      .filter((id) => !Number.isNaN(medianOf(id, "throughput")))
      .sort((a, b) => medianOf(b, "throughput") - medianOf(a, "throughput"))[0];
    // CPU is compared with the raw loop of the same shape: the client we build on.
    const raw = row.compareTo?.[0] ?? references.find((id) => id.startsWith("ref.raw.500"));
    for (const key of Object.keys(runs[0] ?? {})) {
      const values = runs.map((f) => f[key]);
      const metric: Metric = {
        id: `${row.id}.${key}`,
        row: row.id,
        group: row.group,
        label: row.label,
        key,
        unit: UNITS[key] ?? "",
        reference: row.reference ?? false,
        queueType: row.queueType,
        events: row.count,
        bytes: row.bytes,
        ...(row.inFlight !== undefined ? { inFlight: row.inFlight } : {}),
        runs: values,
        median: median(values),
        min: Math.min(...values),
        max: Math.max(...values),
      };
      const against = key === "throughput" ? best : key === "cpu" ? raw : undefined;
      if (!row.absolute && against !== undefined && against !== row.id) {
        metric.ratio = metric.median / medianOf(against, key);
        metric.comparedTo = against;
      } else if (!row.absolute && against === row.id) {
        metric.ratio = 1;
        metric.comparedTo = against;
      }
      const target = row.targets?.find((t) => t.key === key);
      if (target) {
        metric.target = { text: target.text, met: target.met(metric.median, metric.ratio ?? NaN) };
      }
      metrics.push(metric);
    }
  }
  return { metrics, skipped };
}

async function writeResults(results: Results, dir: string, chart: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const json = JSON.stringify(results, null, 2) + "\n";
  const stamp = results.date.replace(/[:.]/g, "-");
  await Deno.writeTextFile(`${dir}/${stamp}.json`, json);
  await Deno.writeTextFile(`${dir}/latest.json`, json);
  await Deno.writeTextFile(`${dir}/${chart}`, renderChart(results));
}

function parseArgs(args: readonly string[]): BenchOptions {
  const options: BenchOptions = {};
  const number = (flag: string, value: string | undefined) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) {
      throw new RangeError(`'${flag}' must be a positive integer: got ${value}`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = args[i + 1];
    switch (flag) {
      case "--events":
        options.events = number(flag, value);
        i++;
        break;
      case "--runs":
        options.runs = number(flag, value);
        i++;
        break;
      case "--backlog":
        options.backlogs = (value ?? "").split(",").map((v) => number(flag, v));
        i++;
        break;
      case "--smoke":
        options.smoke = true;
        break;
      case "--save":
        options.save = true;
        break;
      case "--out":
        options.out = value;
        i++;
        break;
      case "--url":
        options.url = value;
        i++;
        break;
      case "--only": {
        const groups = (value ?? "").split(",");
        for (const g of groups) {
          if (!GROUPS.includes(g as Group)) {
            throw new RangeError(`'--only' takes ${GROUPS.join(", ")}: got ${JSON.stringify(g)}`);
          }
        }
        options.only = groups as Group[];
        i++;
        break;
      }
      default:
        throw new RangeError(`unknown flag ${JSON.stringify(flag)}`);
    }
  }
  return options;
}

if (import.meta.main) {
  const results = await runBenchmarks(parseArgs(Deno.args));
  console.log(formatTable(results));
  console.log(`\ntotal ${(results.totalMs / 1000).toFixed(1)} s`);
}
